#!/usr/bin/env python3
"""Build the demo bundle: images built here, a license issued for this machine, all signed.

1. `demo/build_images.py` builds the images (debootstrap base, MariaDB, the license server with
   the demo vendor key pinned, the face-server STAND-IN);
2. `scripts/demo_license.py` fingerprints this machine and issues a demo license for it;
3. the bundle is created and signed with the demo vendor key (build/demo-vendor/vendor.key,
   0600, never committed). Installs trust it through SEALBOX_TRUST=build/demo-vendor/vendor.pub.

Usage: python scripts/build_demo_bundle.py [-o build/demo-bundle] [--skip-images] [--carry]
Second runs are fast: images are cached by build key, the archive kept while image IDs match.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from installer import signing  # noqa: E402
from installer.bundle.create import create_bundle, load_definition  # noqa: E402

DEMO_KEY = os.path.join(ROOT, "build", "demo-vendor", "vendor.key")
DEMO_PUB = os.path.join(ROOT, "build", "demo-vendor", "vendor.pub")
LICENSE_DIR = os.path.join(ROOT, "build", "demo-license")


def step(argv: list[str], what: str) -> None:
    if subprocess.run(argv, stdout=subprocess.DEVNULL).returncode != 0:
        raise SystemExit(f"error: {what} failed (see above)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", default=os.path.join(ROOT, "build", "demo-bundle"))
    parser.add_argument("--skip-images", action="store_true", help="do not (re)build images")
    parser.add_argument(
        "--carry", action="store_true", help="also carry Sealbox + wheels (pip download)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    if not args.skip_images:
        step(
            [sys.executable, os.path.join(ROOT, "demo", "build_images.py")],
            "building the demo images",
        )
    step(
        [sys.executable, os.path.join(ROOT, "scripts", "demo_license.py"), "--out", LICENSE_DIR],
        "issuing the demo license",
    )
    definition = load_definition(os.path.join(ROOT, "demo", "bundle.yaml"))
    manifest = create_bundle(
        definition,
        args.out,
        key=signing.load_private(DEMO_KEY),
        carry=args.carry,
        license_dir=LICENSE_DIR,
        progress=lambda m: print(f"[bundle] {m}", file=sys.stderr),
    )
    print(
        f"[bundle] {manifest.product} {manifest.version} in {args.out}: {len(manifest.images)} images, "
        f"signed by {DEMO_PUB}, {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
