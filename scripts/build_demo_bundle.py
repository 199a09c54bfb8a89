#!/usr/bin/env python3
"""Build the demo bundle: images built here (demo/build_images.py), then saved into a bundle dir.

Usage: python scripts/build_demo_bundle.py [-o build/demo-bundle]
Second runs are fast: images are cached by build key, archives kept when the image ID is unchanged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from installer.bundle.create import create_bundle, load_definition  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-o", "--out", default=os.path.join(ROOT, "build", "demo-bundle"))
    parser.add_argument("--skip-images", action="store_true", help="do not (re)build images")
    args = parser.parse_args()
    started = time.monotonic()
    if not args.skip_images:
        res = subprocess.run(
            [sys.executable, os.path.join(ROOT, "demo", "build_images.py")],
            stdout=subprocess.DEVNULL,
        )
        if res.returncode != 0:
            print("error: building the demo images failed (see above)", file=sys.stderr)
            return 1
    definition = load_definition(os.path.join(ROOT, "demo", "bundle.yaml"))
    manifest = create_bundle(
        definition, args.out, progress=lambda m: print(f"[bundle] {m}", file=sys.stderr)
    )
    print(
        f"[bundle] {manifest.product} {manifest.version} in {args.out}: "
        f"{len(manifest.images)} images, {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
