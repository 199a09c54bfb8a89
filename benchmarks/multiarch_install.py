#!/usr/bin/env python3
"""Install from a two-architecture bundle vs the same install from a one-architecture bundle.

Target (issue 22): <= 1.05x: the other architecture's archive costs nothing -- it is never
read, hashed, uploaded or loaded; only the manifest grows by a few lines.

Both bundles carry the same amd64 image (a stand-in service + a random payload layer, so the
load is real work); the two-architecture one also carries an arm64 image of about the same
size (the arm64 license server + the same payload, built by demo/build_arm64.py). Each timed
run is the field engineer's command (`install.py in`, Python start-up included) into a fresh
state dir with the amd64 image removed first, so every run loads it; the two bundles alternate
so drift on a shared machine hits both. The ratio is of the medians, in one run.

Usage (root, under the e2e lock): python benchmarks/multiarch_install.py [--runs 3] [--mb 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import yaml
from _common import ROOT, median, print_table, sh

from installer import signing
from installer.bundle.create import BundleDefinition, create_bundle

IMAGE = "sealbox-bench/multiarch:1"
ARM_IMAGE = IMAGE + "-arm64"
ARM_PARENT = "sealbox-demo/license-server:0.1-arm64"
PORT = 48911


def build_images(work: str, mb: int) -> None:
    """The amd64 image (new each run of the script: its ID must not be on the engine when a
    timed install starts) and the arm64 one, both with the same payload layer."""
    ctx = os.path.join(work, "ctx")
    os.makedirs(ctx, exist_ok=True)
    with open(os.path.join(ctx, "payload.bin"), "wb") as fh:
        fh.write(os.urandom(mb << 20))
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    for ref, parent in ((IMAGE, "sealbox-demo/face-server-standin:1.0"), (ARM_IMAGE, ARM_PARENT)):
        with open(os.path.join(ctx, "Dockerfile"), "w") as fh:
            fh.write(f"FROM {parent}\nCOPY payload.bin /payload.bin\n")
        subprocess.run(["docker", "build", "-q", "-t", ref, ctx], env=env, check=True,
                       capture_output=True)  # fmt: skip
    arch = sh("docker", "image", "inspect", "-f", "{{.Architecture}}", ARM_IMAGE).stdout
    if arch.decode().strip() != "arm64":
        raise SystemExit(f"{ARM_IMAGE} is {arch.decode().strip()}, not arm64")


def make_bundles(work: str) -> tuple[dict[str, str], str]:
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "modules"))
    spec = {
        "name": "bench-service",
        "version": "1",
        "description": "benchmark module: stand-in service with a payload layer",
        "image": {"ref": IMAGE, "archive": "images/bench-service.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": PORT, "per_instance": False}],
        "command": ["python3", "-m", "http.server", str(PORT)],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.1},
    }
    with open(os.path.join(src, "modules", "bench-service.yaml"), "w") as fh:
        yaml.safe_dump(spec, fh)
    key = signing.generate()
    pub = os.path.join(work, "vendor.pub")
    with open(pub, "wb") as fh:
        fh.write(key.public.pem())
    out = {}
    for label, plats in (("one", ["amd64"]), ("two", ["amd64", "arm64"])):
        definition = BundleDefinition("bench", "1", ["bench-service"], src)
        out[label] = os.path.join(work, label)
        create_bundle(definition, out[label], carry=False, key=key, platforms=plats)
    return out, pub


def install(bundle: str, state: str, env: dict) -> float:
    cmd = [sys.executable, os.path.join(ROOT, "install.py"), "--bundle", bundle]
    cmd += ["--state-dir", state, "in", "bench-service"]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"install from {bundle} failed:\n{res.stderr[-2000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=200, help="payload layer size")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sealbox-bench-multiarch-")
    try:
        build_images(work, args.mb)
        bundles, pub = make_bundles(work)
        sizes = {k: sum(os.path.getsize(os.path.join(b, "images", f))
                        for f in os.listdir(os.path.join(b, "images"))) for k, b in bundles.items()}  # fmt: skip
        env = dict(os.environ, SEALBOX_TRUST=pub)
        env.pop("SEALBOX_TEST_HOST_ARCH", None)
        times: dict[str, list[float]] = {"one": [], "two": []}
        for i in range(args.runs):
            for label in ("one", "two") if i % 2 == 0 else ("two", "one"):
                sh("docker", "rmi", "-f", IMAGE, check=False)  # every run loads the image
                state = os.path.join(work, f"state-{label}-{i}")
                times[label].append(install(bundles[label], state, env))
                cmd = [sys.executable, os.path.join(ROOT, "install.py"), "--bundle",
                       bundles[label], "--state-dir", state, "rmall", "--purge", "--yes"]  # fmt: skip
                subprocess.run(cmd, capture_output=True, env=env, stdin=subprocess.DEVNULL)
        one, two = median(times["one"]), median(times["two"])
        print_table(
            f"install.py in from a 1- vs 2-architecture bundle ({args.runs} runs each, "
            f"{args.mb} MB payload)",
            ["bundle", "archives on disk MB", "runs s", "median s"],
            [
                (label, f"{sizes[label] / 1e6:.0f}", " ".join(f"{t:.2f}" for t in times[label]),
                 f"{median(times[label]):.2f}")
                for label in ("one", "two")
            ],
        )  # fmt: skip
        ratio = two / one
        print(f"\nratio two-arch / one-arch: {ratio:.3f}x (target <= 1.05x)")
        return 0 if ratio <= 1.05 else 1
    finally:
        sh("docker", "rmi", "-f", IMAGE, ARM_IMAGE, check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", work])


if __name__ == "__main__":
    sys.exit(main())
