#!/usr/bin/env python3
"""Build the arm64 demo images HERE, on an x86_64 machine, under qemu user emulation (issue 22).

Usage (as root): python3 demo/build_arm64.py [--force]
Progress goes to stderr; the last thing on stdout is one JSON object {image reference: image ID}.

What CI needs on arm64 is kept small: the base image and the license server, tagged
``sealbox-demo/base:bookworm-arm64`` and ``sealbox-demo/license-server:0.1-arm64`` (the
``REF-ARCH`` tags `bundle create --platform linux/arm64` looks for).

1. qemu: ``qemu-user-static`` and ``binfmt-support`` (scripts/setup.sh), binfmt_misc mounted,
   ``qemu-aarch64`` registered with the fix-binary flag (F: the kernel opens the interpreter at
   registration, so it works inside a chroot and inside a container without a copy of qemu).
2. ``debootstrap --foreign --arch arm64`` (downloads and unpacks on this machine), then
   ``/debootstrap/debootstrap --second-stage`` in a chroot (arm64 code, emulated), then
   ``apt-get install`` of the base packages in the chroot, from the machine's configured apt
   source (read at run time, removed before the image is written, as in demo/build_images.py).
3. The image is written by hand as a ``docker load`` archive (manifest.json, config, layer
   tars) whose config says ``"architecture": "arm64"``: Docker 20.10's ``docker import
   --platform linux/arm64`` still records amd64. The license server is the base layer plus one
   layer with /app, its config taken from demo/images/license-server/Dockerfile's values.

Each stage is skipped when an image with the same build key (label ``io.sealbox.build-key``)
exists; the finished rootfs is kept under $SEALBOX_IMAGE_CACHE/rootfs-arm64/ (default
/var/cache/sealbox-demo). Time on 2 shared cores: see README ("arm64 demo images").
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_images as B  # noqa: E402 - the one recipe: packages, apt source, chroot helpers

ARCH = "arm64"
QEMU = "/usr/bin/qemu-aarch64-static"
BINFMT = "/proc/sys/fs/binfmt_misc"
# The ELF header of an aarch64 executable, as binfmt-support's own qemu-aarch64 entry has it.
AARCH64_MAGIC = r"\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
AARCH64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
BASE_TAG = f"{B.BASE_TAG}-{ARCH}"
LICENSE_TAG = f"sealbox-demo/license-server:0.1-{ARCH}"
LICENSE_DIR = B.IMAGES_DIR / "license-server"
CREATED = "2026-01-01T00:00:00Z"  # fixed: the same rootfs gives the same image ID
BASE_CONFIG = {"Env": [f"PATH={B.CHROOT_PATH}", "LANG=C.UTF-8"], "Cmd": ["/bin/bash"]}
LICENSE_CONFIG = {
    "Env": BASE_CONFIG["Env"]
    + ["PYTHONUNBUFFERED=1", "PYTHONPATH=/app", "PYTHONDONTWRITEBYTECODE=1"],
    "Cmd": ["python3", "-m", "installer.license.shipped.server", "--port", "8887"],
    "WorkingDir": "/app",
    "ExposedPorts": {"8887/tcp": {}},
    "Labels": {
        "org.opencontainers.image.title": "sealbox-demo/license-server",
        "io.sealbox.demo-image": "true",
    },
}
LICENSE_CHECKS = [
    ["python3", "-m", "compileall", "-q", "/app"],
    [
        "python3",
        "-c",
        "import importlib, pkgutil, installer.license.shipped as p; "
        "[importlib.import_module(p.__name__ + '.' + m.name) for m in pkgutil.iter_modules(p.__path__)]",
    ],
    ["python3", "-c", "import installer.license.shipped.keys as k; k.keyring_from_dir()"],
]
log = B.log


def ensure_binfmt() -> str:
    """Mount binfmt_misc and register qemu-aarch64 with the fix-binary flag (idempotent);
    returns the entry's flags line."""
    if not os.path.exists(QEMU):
        raise B.BuildError(f"{QEMU} missing: apt-get install qemu-user-static binfmt-support")
    if not os.path.exists(f"{BINFMT}/register"):
        B.run(["mount", "-t", "binfmt_misc", "binfmt_misc", BINFMT], capture_output=True)
    entry = Path(f"{BINFMT}/qemu-aarch64")
    if not entry.exists():
        rule = f":qemu-aarch64:M::{AARCH64_MAGIC}:{AARCH64_MASK}:{QEMU}:FP"
        Path(f"{BINFMT}/register").write_text(rule)
    text = entry.read_text()
    if "enabled" not in text.splitlines()[0]:
        entry.write_text("1")
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags:")), "flags:")
    if "F" not in flags.partition(":")[2]:
        raise B.BuildError(
            f"{entry}: {flags.strip()} lacks F (fix-binary), so containers without qemu inside "
            f"cannot run arm64 code: echo -1 > {entry}, then run this again"
        )
    return flags


def build_base_rootfs(target: Path, sources: List[B.AptSource], debs: Path) -> None:
    """debootstrap --foreign on this machine, the second stage and apt-get under emulation."""
    mirror = sources[0]
    debs.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap --foreign --arch {ARCH} --variant=minbase {B.SUITE}")
    B.run(
        [
            "debootstrap",
            "--foreign",
            f"--arch={ARCH}",
            "--variant=minbase",
            f"--components={','.join(mirror.components)}",
            f"--cache-dir={debs}",
            B.SUITE,
            str(target),
            mirror.uri,
        ],
        capture_output=True,
        text=True,
    )
    log("debootstrap --second-stage (arm64 code under qemu)")
    try:
        B.run(["chroot", str(target), "/debootstrap/debootstrap", "--second-stage"],
              capture_output=True, text=True)  # fmt: skip
    finally:
        B.unmount_all(target)
    (target / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (target / "etc/dpkg/dpkg.cfg.d/sealbox-slim").write_text(B.SLIM_DPKG_CFG)
    log(f"chroot apt-get install {' '.join(B.BASE_PACKAGES)} (under qemu)")
    with B.chroot_env(target, sources):
        B.in_chroot(target, "apt-get", "-q", "update")
        B.in_chroot(target, "apt-get", *B.APT_OPTS, "dist-upgrade")
        B.in_chroot(target, "apt-get", *B.APT_OPTS, "install", *B.BASE_PACKAGES)


def layer_tar(root: Path, dest: Path, only: Optional[str] = None) -> str:
    """tar of the rootfs (or of ./ONLY in it) to dest; returns its sha256 (the diff ID)."""
    what = f"./{only}" if only else "."
    B.run(
        ["tar", "--numeric-owner", "--xattrs", "--exclude=./proc/*", "--exclude=./sys/*",
         "--exclude=./dev/*", "--exclude=./.sealbox-complete", "-C", str(root), "-cf", str(dest),
         what],
        capture_output=True,
    )  # fmt: skip
    h = hashlib.sha256()
    with open(dest, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_archive(tag: str, layers: List[Path], config: Dict[str, object], key: str) -> str:
    """Write a `docker load` archive of these layer tars whose config says arm64, load it,
    and return the image ID (the sha256 of that config)."""
    diff_ids = [f"sha256:{layer_tar_sha(p)}" for p in layers]
    cfg = dict(config)
    labels = dict(cfg.get("Labels") or {})  # type: ignore[call-overload]
    labels[B.KEY_LABEL] = key
    cfg["Labels"] = labels
    doc = {
        "architecture": ARCH,
        "variant": "v8",
        "os": "linux",
        "created": CREATED,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "demo/build_arm64.py"} for _ in layers],
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(raw).hexdigest()
    names = [f"{d[7:]}/layer.tar" for d in diff_ids]
    manifest = [{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": names}]
    log(f"docker load {tag} (config architecture {ARCH}, {len(layers)} layer(s))")
    proc = subprocess.Popen(["docker", "load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None
    with tarfile.open(fileobj=proc.stdin, mode="w|") as out:
        for name, data in (
            (f"{image_id}.json", raw),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        for name, path in zip(names, layers):
            out.add(str(path), arcname=name)
    proc.stdin.close()
    said = proc.stdout.read().decode() if proc.stdout else ""
    if proc.wait() != 0:
        raise B.BuildError(f"docker load of {tag} failed: {said.strip()}")
    got = B.image_id(tag)
    if got != f"sha256:{image_id}":
        raise B.BuildError(f"{tag}: loaded as {got}, expected sha256:{image_id}")
    return got


_SHA: Dict[Path, str] = {}


def layer_tar_sha(path: Path) -> str:
    return _SHA[path]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--force", action="store_true", help="rebuild, ignoring caches")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("build_arm64.py: run as root (binfmt, debootstrap, chroot)", file=sys.stderr)
        return 2
    cache = Path(os.environ.get("SEALBOX_IMAGE_CACHE", "/var/cache/sealbox-demo")).resolve()
    root_dir = cache / "rootfs-arm64"
    root_dir.mkdir(parents=True, exist_ok=True)
    try:
        log(f"binfmt qemu-aarch64: {ensure_binfmt()}")
        bkey = (
            B.base_key(ARCH)
            + "-"
            + hashlib.sha256(
                B._src(build_base_rootfs, layer_tar, load_archive).encode()
            ).hexdigest()[:16]
        )
        base_dir = root_dir / f"base-{bkey[:16]}"
        B.prune_cache(root_dir, [base_dir])
        stage = LICENSE_DIR / "stage.py"
        B.run([sys.executable, str(stage)], capture_output=True, text=True)
        lkey = (
            B.dir_key(bkey, LICENSE_DIR)
            + "-"
            + hashlib.sha256(json.dumps([LICENSE_CONFIG, LICENSE_CHECKS]).encode()).hexdigest()[:16]
        )
        need_base = args.force or B.image_label(BASE_TAG, B.KEY_LABEL) != bkey
        need_lic = args.force or B.image_label(LICENSE_TAG, B.KEY_LABEL) != lkey
        if need_base or need_lic:
            done = base_dir / ".sealbox-complete"
            if args.force or not done.exists():
                sources = B.pick_sources(B.read_apt_sources(), B.SUITE)
                tmp = base_dir.with_name(base_dir.name + ".tmp")
                B.remove_tree(tmp)
                B.remove_tree(base_dir)
                try:
                    build_base_rootfs(tmp, sources, cache / "debs-arm64")
                    B.slim_rootfs(tmp)
                finally:
                    B.unmount_all(tmp)
                tmp.rename(base_dir)
                done.write_text(bkey + "\n")
            with tempfile.TemporaryDirectory(dir=str(cache)) as work:
                base_layer = Path(work) / "base.tar"
                _SHA[base_layer] = layer_tar(base_dir, base_layer)
                if need_base:
                    load_archive(BASE_TAG, [base_layer], BASE_CONFIG, bkey)
                if need_lic:
                    build_license(base_dir, base_layer, Path(work), lkey)
        else:
            log("arm64 images up to date")
        result = {tag: B.image_id(tag) for tag in (BASE_TAG, LICENSE_TAG)}
    except B.BuildError as exc:
        log(f"FAILED: {exc}")
        return 1
    log("done")
    print(json.dumps(result, indent=2))
    return 0


def build_license(base_dir: Path, base_layer: Path, work: Path, key: str) -> None:
    """/app from _staged/, compiled and import-checked by the arm64 python3 in the chroot."""
    app = base_dir / "app"
    B.remove_tree(app)
    try:
        shutil.copytree(LICENSE_DIR / "_staged", app, symlinks=False)
        env = {"PATH": B.CHROOT_PATH, "LANG": "C.UTF-8", "PYTHONPATH": "/app"}
        log("license server: compileall + import checks with the arm64 python3 (under qemu)")
        for cmd in LICENSE_CHECKS:
            B.run(["chroot", str(base_dir), *cmd], env=env, capture_output=True, text=True)
        for pub in (app / "pinned").glob("*.pub"):
            pub.chmod(0o444)
        app_layer = work / "app.tar"
        _SHA[app_layer] = layer_tar(base_dir, app_layer, only="app")
    finally:
        B.remove_tree(app)
    load_archive(LICENSE_TAG, [base_layer, app_layer], LICENSE_CONFIG, key)


if __name__ == "__main__":
    sys.exit(main())
