#!/usr/bin/env python3
"""Build the demo bundle: images built here, a license issued for this machine, all signed.

1. `demo/build_images.py` builds the images (debootstrap base, MariaDB, the license server with
   the demo vendor key pinned, the face-server STAND-IN);
2. `scripts/demo_license.py` fingerprints this machine and issues a demo license for it;
3. the bundle is created and signed with the demo vendor key (build/demo-vendor/vendor.key,
   0600, never committed). Installs trust it through SEALBOX_TRUST=build/demo-vendor/vendor.pub.

Usage: python scripts/build_demo_bundle.py [-o build/demo-bundle] [--skip-images] [--carry]
                                          [--product NAME | --arm64] [--version 1.1]
Second runs are fast: images are cached by build key, the archive kept while image IDs match.

--product NAME builds a second demo product from demo/products/NAME/ instead (its bundle.yaml,
modules/, templates/, images.yaml; images by demo/build_product_images.py) into
build/NAME-bundle, licensed for this machine for every licensed module of its specs.

--version 1.1 builds the demo product's v2 (demo/v2/bundle.yaml: face-server STAND-IN 1.1, one
image layer over 1.0) into build/demo-bundle-v2: the repository's modules/ and templates/ with
demo/v2/modules and demo/v2/templates laid over them, for upgrade / rollback / restore tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from installer import signing  # noqa: E402
from installer.bundle.create import create_bundle, load_definition  # noqa: E402
from installer.spec.load import load_modules  # noqa: E402

DEMO_KEY = os.path.join(ROOT, "build", "demo-vendor", "vendor.key")
DEMO_PUB = os.path.join(ROOT, "build", "demo-vendor", "vendor.pub")
LICENSE_DIR = os.path.join(ROOT, "build", "demo-license")
PRODUCTS = os.path.join(ROOT, "demo", "products")
ARM64_MODULES = ("license-server",)  # what demo/build_arm64.py builds for arm64 (kept small)


V2 = {"1.1": "v2"}  # --version -> the folder under demo/ laid over modules/ and templates/


def overlay(folder: str) -> str:
    """A temporary source folder: the repository's modules/ and templates/, then ``folder``'s."""
    tmp = tempfile.mkdtemp(prefix="sealbox-demo-v2-")
    for part in ("modules", "templates"):
        shutil.copytree(os.path.join(ROOT, part), os.path.join(tmp, part))
        if os.path.isdir(os.path.join(folder, part)):
            shutil.copytree(os.path.join(folder, part), os.path.join(tmp, part), dirs_exist_ok=True)
    return tmp


def step(argv: list[str], what: str) -> None:
    if subprocess.run(argv, stdout=subprocess.DEVNULL).returncode != 0:
        raise SystemExit(f"error: {what} failed (see above)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", help="default: build/demo-bundle (build/NAME-bundle)")
    parser.add_argument("--skip-images", action="store_true", help="do not (re)build images")
    parser.add_argument(
        "--carry", action="store_true", help="also carry Sealbox + wheels (pip download)"
    )
    parser.add_argument("--product", help="a product folder under demo/products/, e.g. ops")
    parser.add_argument("--version", help="1.1: the demo product's v2 (demo/v2/)")
    parser.add_argument(
        "--arm64",
        action="store_true",
        help="also build the arm64 images here under qemu (demo/build_arm64.py, ~13 min the "
        "first time) and make a linux/amd64 + linux/arm64 bundle of the modules that have them "
        f"({', '.join(ARM64_MODULES)}) in build/demo-bundle-multiarch",
    )
    args = parser.parse_args()
    if args.arm64 and args.product:
        raise SystemExit("error: --arm64 builds the demo's own images; drop --product")
    started = time.monotonic()
    if args.product:
        folder = os.path.join(PRODUCTS, args.product)
        if not os.path.isfile(os.path.join(folder, "bundle.yaml")):
            known = sorted(os.listdir(PRODUCTS)) if os.path.isdir(PRODUCTS) else []
            raise SystemExit(
                f"error: --product {args.product}: no {folder}/bundle.yaml; known: {known}"
            )
        build = [os.path.join(ROOT, "demo", "build_product_images.py"), folder]
        definition = load_definition(os.path.join(folder, "bundle.yaml"))
        license_dir = os.path.join(ROOT, "build", f"{args.product}-license")
        out = args.out or os.path.join(ROOT, "build", f"{args.product}-bundle")
    elif args.version:
        if args.version not in V2:
            raise SystemExit(f"error: --version {args.version}: known: {sorted(V2)}")
        build = [os.path.join(ROOT, "demo", "build_images.py")]
        definition = load_definition(os.path.join(ROOT, "demo", V2[args.version], "bundle.yaml"))
        definition.source_dir = overlay(os.path.join(ROOT, "demo", V2[args.version]))
        license_dir = os.path.join(ROOT, "build", f"demo-license-{V2[args.version]}")
        out = args.out or os.path.join(ROOT, "build", f"demo-bundle-{V2[args.version]}")
    else:
        build = [os.path.join(ROOT, "demo", "build_images.py")]
        definition = load_definition(os.path.join(ROOT, "demo", "bundle.yaml"))
        name = "demo-bundle-multiarch" if args.arm64 else "demo-bundle"
        license_dir, out = LICENSE_DIR, args.out or os.path.join(ROOT, "build", name)
    if not args.skip_images:
        step([sys.executable, *build], "building the images")
        if args.arm64:
            step([sys.executable, os.path.join(ROOT, "demo", "build_arm64.py")], "arm64 images")
    # the license grants every licensed module of the bundle (4 instances each)
    specs = load_modules(os.path.join(definition.source_dir, "modules"))
    grants = ",".join(f"{m}=4" for m in definition.modules if specs[m].licensed)
    step(
        [sys.executable, os.path.join(ROOT, "scripts", "demo_license.py"), "--out", license_dir,
         "--modules", grants, "--product", definition.product],
        "issuing the demo license",
    )  # fmt: skip
    if args.arm64:  # the license still grants the demo's licensed modules
        definition = dataclasses.replace(
            definition, modules=list(ARM64_MODULES), platforms=["amd64", "arm64"]
        )
    manifest = create_bundle(
        definition,
        out,
        key=signing.load_private(DEMO_KEY),
        carry=args.carry,
        license_dir=license_dir,
        progress=lambda m: print(f"[bundle] {m}", file=sys.stderr),
    )
    print(
        f"[bundle] {manifest.product} {manifest.version} in {out}: {len(manifest.images)} images, "
        f"signed by {DEMO_PUB}, {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
