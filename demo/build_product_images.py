#!/usr/bin/env python3
"""Build the images of a second demo product (demo/products/<name>/images.yaml) with the stages
of demo/build_images.py: the same debootstrapped base, then ONE extra rootfs stage with every
Debian package the product needs (chroot apt-get, installed once), then one small
`docker build` layer per module FROM it (distinct image IDs sharing the rootfs layer).

Usage (as root): python3 demo/build_product_images.py demo/products/ops [--force]
Progress goes to stderr; the last thing on stdout is one JSON object {image reference: image ID}.

images.yaml:
    reuse: [license-server]            # demo images shipped as they are (demo/images/<name>)
    rootfs: {tag: ..., packages: [...], empty: [dirs the packages initialise],
             remove: [files no module uses]}
    images: [{tag: ..., dir: <name under the product's images/>}, ...]
Every stage is skipped when an image carrying the same build key exists (as in the demo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_images as B  # noqa: E402


class Product:
    """The build recipe of one product, read from its images.yaml."""

    def __init__(self, folder: Path) -> None:
        path = folder / "images.yaml"
        try:
            doc: Dict[str, Any] = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise B.BuildError(f"{path}: cannot read ({exc.strerror})") from None
        rootfs = doc.get("rootfs") or {}
        if not rootfs.get("tag") or not rootfs.get("packages") or not doc.get("images"):
            raise B.BuildError(f"{path}: needs rootfs.tag, rootfs.packages and images")
        self.folder = folder
        self.name = folder.name
        self.rootfs_tag = str(rootfs["tag"])
        self.packages = [str(p) for p in rootfs["packages"]]
        self.empty = [str(p) for p in rootfs.get("empty") or []]
        self.remove = [str(p) for p in rootfs.get("remove") or []]
        known = {d.build_dir: d for d in B.DERIVED}
        unknown = [r for r in doc.get("reuse") or [] if r not in known]
        if unknown:
            raise B.BuildError(f"{path}: reuse: no demo image {unknown}; known: {sorted(known)}")
        self.reused = [known[r] for r in doc.get("reuse") or []]
        self.images = [
            B.Derived(str(i["tag"]), str(folder / "images" / i["dir"]), self.rootfs_tag)
            for i in doc["images"]
        ]


def build_product_rootfs(base: Path, target: Path, sources: List[B.AptSource], p: Product) -> None:
    """The base rootfs plus all of the product's packages, installed in one apt-get."""
    B.build_packages_rootfs(base, target, sources, p.packages, p.name)
    B.empty_dirs(target, p.empty)
    for rel in p.remove:  # files no module uses (images.yaml says why), globs allowed
        for path in target.glob(rel):
            B.remove_tree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def product_key(bkey: str, p: Product) -> str:
    """Changes with the base, the package list, the emptied dirs and the stage's code."""
    parts = [bkey, ",".join(p.packages), ",".join(p.empty), ",".join(p.remove)]
    parts.append(B._src(build_product_rootfs, B.build_packages_rootfs, B.empty_dirs))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def main(argv: Optional[List[str]] = None) -> int:
    """Build (or reuse) the product's images and print {reference: image ID} as JSON."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("product", help="the product folder, e.g. demo/products/ops")
    ap.add_argument("--force", action="store_true", help="rebuild everything, ignoring caches")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("build_product_images.py: run as root (debootstrap, chroot)", file=sys.stderr)
        return 2
    if shutil.which("docker") is None or shutil.which("debootstrap") is None:
        print("build_product_images.py: needs docker and debootstrap installed", file=sys.stderr)
        return 2
    cache = Path(os.environ.get("SEALBOX_IMAGE_CACHE", "/var/cache/sealbox-demo")).resolve()
    (cache / "rootfs").mkdir(parents=True, exist_ok=True)
    (cache / "products").mkdir(parents=True, exist_ok=True)
    B.lock_cache(cache)
    try:
        product = Product(Path(args.product).resolve())
        bkey = B.base_key(B.dpkg_arch())
        pkey = product_key(bkey, product)
        base_dir = cache / "rootfs" / f"base-{bkey[:16]}"
        prod_dir = cache / "products" / f"{product.name}-{pkey[:16]}"
        # the demo's own build prunes rootfs/ (not products/): old keys of this product only
        B.prune_cache(cache / "products", [prod_dir] + [
            d for d in (cache / "products").glob("*") if not d.name.startswith(product.name + "-")
        ])  # fmt: skip
        need_prod = args.force or B.image_label(product.rootfs_tag, B.KEY_LABEL) != pkey
        need_base = args.force or B.image_label(B.BASE_TAG, B.KEY_LABEL) != bkey
        sources: List[B.AptSource] = []
        if need_base or need_prod:
            sources = B.pick_sources(B.read_apt_sources(), B.SUITE)
        B.ensure_rootfs_image(
            B.BASE_TAG,
            bkey,
            base_dir,
            lambda t: B.build_base_rootfs(t, sources, cache / "debs"),
            args.force,
            need_dir=need_prod,
        )
        B.ensure_rootfs_image(
            product.rootfs_tag,
            pkey,
            prod_dir,
            lambda t: build_product_rootfs(base_dir, t, sources, product),
            args.force,
        )
        for d in product.reused + product.images:
            B.ensure_derived(d, args.force)
        tags = [B.BASE_TAG, product.rootfs_tag] + [d.tag for d in product.reused + product.images]
        result = {tag: B.image_id(tag) for tag in tags}
    except B.BuildError as exc:
        B.log(f"FAILED: {exc}")
        return 1
    B.log("done")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
