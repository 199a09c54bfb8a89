#!/usr/bin/env python3
"""Bundle creation and install vs the vendors' reference pipeline, side by side, one run.

  creation: installer.bundle.image_save.save_images (docker save | zstd, all cores, long window,
            sha256 while writing)      vs  docker save IMAGES | pixz > x.tpxz
  install:  DockerRuntime.load_archive (one read, streamed into docker load, sha256 checked)
                                       vs  pixz -d < x.tpxz > x.tar && docker load -i x.tar

Images: sealbox-demo/license-server:0.1 and a BENCHMARK STAND-IN, sealbox-bench/
face-server-weights:1.0 = the face-server stand-in plus a 400 MB incompressible-ish "model
weights" layer (3 random bytes + 1 of 4 exponent-like bytes per float32, so it compresses a
little, as real weights do). Before each install the stand-in is removed (only it: the demo
images are shared with other tests), so both pipelines unpack the same layers.

Usage (root, Docker running, demo images built): python3 benchmarks/bundle_vs_pixz.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from installer.bundle.image_save import save_images  # noqa: E402
from installer.hosts.local import LocalHost  # noqa: E402
from installer.runtime.docker import DockerRuntime  # noqa: E402

BASE = "sealbox-demo/face-server-standin:1.0"
STANDIN = "sealbox-bench/face-server-weights:1.0"
IMAGES = ["sealbox-demo/license-server:0.1", STANDIN]
WEIGHTS_MB = 400


def sh(cmd: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, stdout=subprocess.DEVNULL)


def build_standin(work: str) -> None:
    if subprocess.run(["docker", "image", "inspect", STANDIN], capture_output=True).returncode == 0:
        return
    ctx = os.path.join(work, "ctx")
    os.makedirs(ctx)
    exp = bytes.maketrans(bytes(range(256)), bytes([0x3C, 0x3D, 0xBC, 0xBD] * 64))
    with open(os.path.join(ctx, "weights.bin"), "wb") as fh:
        for _ in range(WEIGHTS_MB):
            buf = bytearray(os.urandom(1 << 20))
            buf[3::4] = bytes(buf[3::4]).translate(exp)
            fh.write(buf)
    with open(os.path.join(ctx, "Dockerfile"), "w") as fh:
        fh.write(
            f"FROM {BASE}\nCOPY weights.bin /app/models/weights.bin\n"
            "LABEL io.sealbox.stand-in=benchmark-model-weights\n"
        )
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(
        ["docker", "build", "-q", "-t", STANDIN, ctx],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(ctx)


def rmi_standin() -> None:
    subprocess.run(["docker", "rmi", "-f", STANDIN], capture_output=True)


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="install rounds (best of)")
    ap.add_argument("--keep", action="store_true", help="keep the stand-in image afterwards")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sealbox-bench-", dir="/var/tmp")
    try:
        build_standin(work)
        ours = os.path.join(work, "images.tar.zst")
        ref = os.path.join(work, "images.tpxz")
        refs = " ".join(IMAGES)
        sha = ""

        def create_ours() -> None:
            nonlocal sha
            sha, _size, raw = save_images(IMAGES, ours)
            sizes["tar"] = raw

        sizes: dict[str, int] = {}
        t_ours = timed(create_ours)
        t_ref = timed(lambda: sh(f"docker save {refs} | pixz > {ref}"))
        s_ours, s_ref = os.path.getsize(ours), os.path.getsize(ref)

        runtime = DockerRuntime(LocalHost())
        plain = os.path.join(work, "images.tar")

        def install_ref() -> None:
            sh(f"pixz -d < {ref} > {plain} && docker load -i {plain}")
            os.unlink(plain)

        i_ours, i_ref = [], []
        for _ in range(args.rounds):
            rmi_standin()
            i_ours.append(timed(lambda: runtime.load_archive(ours, expected_sha256=sha)))
            assert runtime.image_id(STANDIN), "our load did not register the image"
            rmi_standin()
            i_ref.append(timed(install_ref))
            assert runtime.image_id(STANDIN), "the reference load did not register the image"
        MB = 1e6
        print(
            f"images: {', '.join(IMAGES)}; uncompressed docker save tar {sizes['tar'] / MB:.0f} MB"
        )
        print(f"{'':22}{'sealbox':>12}{'pixz ref':>12}{'ratio':>10}")
        print(
            f"{'create time (s)':22}{t_ours:12.1f}{t_ref:12.1f}{t_ref / t_ours:9.1f}x  (target >= 5x faster)"
        )
        print(
            f"{'archive size (MB)':22}{s_ours / MB:12.1f}{s_ref / MB:12.1f}{s_ours / s_ref:9.2f}x  (target <= 1.2x the size)"
        )
        print(
            f"{'install time (s)':22}{min(i_ours):12.1f}{min(i_ref):12.1f}{min(i_ref) / min(i_ours):9.2f}x  (target >= 1.3x faster)"
        )
        ok = t_ref / t_ours >= 5 and s_ours / s_ref <= 1.2 and min(i_ref) / min(i_ours) >= 1.3
        print("targets met" if ok else "TARGETS NOT MET")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            rmi_standin()


if __name__ == "__main__":
    sys.exit(main())
