#!/usr/bin/env python3
"""`in` of a module with a >= 500 MB image from its .tar.zst vs plain `docker load -i` + `docker run`.

Both sides start with the image absent from the engine and end when the service answers on its
port, so both include load, create, start and the wait for health. Target: ours <= 1.10x.

The benchmark image is the face-server stand-in plus a 450 MB layer of random bytes standing in
for model weights (random, so compression cannot flatter either side). Ours goes through the
engine (Deployment.install) with the envcheck/license gates off: the gates are measured by
their own benchmarks (envcheck_local.py, license_grants.py).

The breakdown says where the time of ours goes: the engine before the load (plan, facts,
snapshot of the engine's images), the load (python reads + sha256 + zstd + tar guard, fed to
`docker load`, then the tag check), create + start, and the wait for health; beside it, in
the same run, the archive's sha256 alone and the python stream alone (no docker), so the cost
of the hash is visible next to what it overlaps with. The last table lists the host commands
the engine runs outside the load (before it and after it) with their times, so the engine's
own overhead is named command by command.

The bundle is signed with a key made for the run and opened with that key as --trust, as a
customer's would be: no SEALBOX_ALLOW_UNSIGNED is needed.

Usage (as root, Docker running, the demo images built: scripts/build_demo_bundle.py):
    .venv/bin/python benchmarks/install_from_zst.py [--rounds 3] [--weights-mb 450]
(the project's venv: the engine needs its packages, e.g. zstandard; no SEALBOX_* variable.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import tempfile
import time

import yaml
from _common import median, print_table, sh, timed

from installer import signing
from installer.archive import streams
from installer.archive.streams import sha256_file, stream_decompressed
from installer.bundle.create import create_bundle, load_definition
from installer.bundle.opened import open_bundle
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.events import Event
from installer.hosts.base import Result
from installer.hosts.local import LocalHost

IMAGE = "sealbox-bench/model-server:1"
BASE = "sealbox-demo/face-server-standin:1.0"
PORT = 18571


def build_image(weights_mb: int) -> int:
    dockerfile = (
        f"FROM {BASE}\n"
        f"RUN mkdir -p /models && head -c {weights_mb}M /dev/urandom > /models/weights.bin\n"
        'LABEL io.sealbox.stand-in="benchmark image: face-server stand-in + random model weights"\n'
    )
    if sh("docker", "image", "inspect", IMAGE, check=False).returncode != 0:
        if sh("docker", "image", "inspect", BASE, check=False).returncode != 0:
            raise SystemExit(f"error: no {BASE} image: build it with scripts/build_demo_bundle.py")
        os.environ["DOCKER_BUILDKIT"] = "0"  # engines back to 17.12 have only the legacy builder
        sh("docker", "build", "-q", "-t", IMAGE, "-", input=dockerfile.encode())
    size = int(sh("docker", "image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
    return size


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


class TracingHost(LocalHost):
    """LocalHost that notes each command it runs: (start, seconds, command)."""

    def __init__(self) -> None:
        super().__init__()
        self.trace: list[tuple[float, float, str]] = []

    def run(self, cmd, **kw) -> Result:  # type: ignore[no-untyped-def,override]
        t0 = time.perf_counter()
        try:
            return super().run(cmd, **kw)
        finally:
            text = cmd if isinstance(cmd, str) else " ".join(cmd)
            self.trace.append((t0, time.perf_counter() - t0, " ".join(text.split())[:70]))

    def write(self, path, data, mode=0o600) -> None:  # type: ignore[no-untyped-def,override]
        t0 = time.perf_counter()
        try:
            super().write(path, data, mode)
        finally:
            self.trace.append((t0, time.perf_counter() - t0, f"(write {os.path.basename(path)})"))

    def read(self, path):  # type: ignore[no-untyped-def,override]
        t0 = time.perf_counter()
        try:
            return super().read(path)
        finally:
            self.trace.append((t0, time.perf_counter() - t0, f"(read {os.path.basename(path)})"))


def make_bundle(work: str) -> tuple[str, str]:
    """(bundle dir, the vendor public key file it is signed with)."""
    src = os.path.join(work, "src")
    os.makedirs(os.path.join(src, "modules"))
    os.makedirs(os.path.join(src, "templates"))
    spec = {
        "name": "model-server",
        "version": "1",
        "description": "benchmark module: stand-in service with a 450 MB model layer",
        "image": {"ref": IMAGE, "archive": "images/model-server.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": PORT, "per_instance": False}],
        "command": ["python3", "-m", "http.server", str(PORT)],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.1},
    }
    with open(os.path.join(src, "modules", "model-server.yaml"), "w") as fh:
        yaml.safe_dump(spec, fh)
    with open(os.path.join(src, "bundle.yaml"), "w") as fh:
        yaml.safe_dump({"product": "bench", "version": "1", "modules": ["model-server"]}, fh)
    out = os.path.join(work, "bundle")
    key = signing.generate()
    pub = os.path.join(work, "vendor.pub")
    with open(pub, "wb") as fh:
        fh.write(key.public.pem())
    create_bundle(load_definition(os.path.join(src, "bundle.yaml")), out, carry=False, key=key)
    return out, pub


class Phases:
    """Timestamps of the engine's own events during one install, split into phases."""

    MARKS = (
        ("loading image", "engine before load"),
        ("image loaded in", "load (stream + docker load + checks)"),
        ("creating ", "engine between"),
        ("waiting for ", "create + start"),
        (" healthy (", "health wait"),  # "X healthy (port open)", not "to be healthy"
    )

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.at: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        for needle, _ in self.MARKS:
            if needle in event.message and needle not in self.at and event.kind != "progress":
                self.at[needle] = time.perf_counter()

    def split(self, end: float) -> dict[str, float]:
        out, last = {}, self.start
        for needle, name in self.MARKS:
            t = self.at.get(needle, last)
            out[name] = t - last
            last = t
        out["engine after health"] = end - last
        return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--weights-mb", type=int, default=450)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="drop the page cache before each timed step (a bundle fresh off a USB disk)",
    )
    args = parser.parse_args()
    size = build_image(args.weights_mb)
    work = tempfile.mkdtemp(prefix="sealbox-bench-", dir="/var/tmp")
    try:
        bundle, pub = make_bundle(work)
        tar = os.path.join(work, "model-server.tar")
        sh("docker", "save", "-o", tar, IMAGE)
        from installer.bundle.manifest import load_manifest

        zst = os.path.join(bundle, load_manifest(bundle).images[0].file)
        sha = load_manifest(bundle).images[0].sha256
        state = os.path.join(work, "state")
        ours, ref, pipe, inproc = [], [], [], []
        hashing: list[float] = []
        streaming: list[float] = []
        split: dict[str, list[float]] = {}

        def settle() -> None:
            """Same start for every side: cache dropped (--cold) or left warm."""
            if args.cold:
                sh("sync")
                with open("/proc/sys/vm/drop_caches", "w") as fh:
                    fh.write("3\n")

        for _ in range(args.rounds):
            # reference: docker load -i of the uncompressed tar, docker run, wait for the port
            sh("docker", "rmi", "-f", IMAGE)

            def reference() -> None:
                sh("docker", "load", "-i", tar)
                sh(
                    "docker",
                    "run",
                    "-d",
                    "--name",
                    "bench-ref",
                    "--network",
                    "host",
                    IMAGE,
                    "python3",
                    "-m",
                    "http.server",
                    str(PORT),
                )
                wait_port(PORT)

            settle()
            ref.append(timed(reference))
            sh("docker", "rm", "-f", "bench-ref")
            # breakdown: the decompress-and-load pipe alone (no checksum, no engine), same run
            sh("docker", "rmi", "-f", IMAGE)
            settle()
            pipe.append(
                timed(
                    lambda: sh(
                        "bash", "-c", f"set -o pipefail; zstd -dcq --long=31 {zst} | docker load -q"
                    )
                )
            )
            # ours: Sealbox streams the .tar.zst into docker load, creates, starts, waits for health
            sh("docker", "rmi", "-f", IMAGE)
            phases = Phases()
            host = TracingHost()
            dep = Deployment(
                open_bundle(bundle, trust=(pub,)),
                host,
                store=StateStore(host, state),
                gates=[],
                reporter=phases,
            )
            settle()
            started = phases.start = time.perf_counter()
            result = dep.install(["model-server"], InstallOptions())
            ended = time.perf_counter()
            ours.append(ended - started)
            for name, secs in phases.split(ended).items():
                split.setdefault(name, []).append(secs)
            loading = phases.at.get("loading image", ended)
            loaded = phases.at.get("image loaded in", ended)
            outside = [
                ("before load" if t < loading else "in load" if t < loaded else "after load",
                 secs, text)
                for t, secs, text in host.trace
            ]  # fmt: skip
            assert result.loaded_images == 1
            dep.remove_all(purge=True)
            # ours again with python's zstandard decompressing in-process (the old way)
            sh("docker", "rmi", "-f", IMAGE)
            settle()
            saved = streams.zstd_tool
            streams.zstd_tool = lambda: None  # type: ignore[assignment]
            try:
                dep = Deployment(
                    open_bundle(bundle, trust=(pub,)),
                    LocalHost(),
                    store=StateStore(LocalHost(), state),
                    gates=[],
                )
                t0 = time.perf_counter()
                dep.install(["model-server"], InstallOptions())
                inproc.append(time.perf_counter() - t0)
            finally:
                streams.zstd_tool = saved  # type: ignore[assignment]
            dep.remove_all(purge=True)
            # the archive's sha256 alone, and the python stream alone (read, sha256, zstd,
            # tar guard; no docker): what the load step costs beside docker's own work
            settle()
            hashing.append(timed(lambda: sha256_file(zst)))
            settle()
            streaming.append(
                timed(lambda: [None for _ in stream_decompressed(zst, expected_sha256=sha)])
            )
        ratio = median(ours) / median(ref)
        print_table(
            f"in of a {size / 1e6:.0f} MB image ({'cold' if args.cold else 'warm'} page cache, median of {args.rounds}; archive "
            f"{os.path.getsize(zst) / 1e6:.0f} MB .tar.zst vs {os.path.getsize(tar) / 1e6:.0f} MB .tar)",
            ["method", "median s", "runs s", "ratio", "target"],
            [
                [
                    "docker load -i tar + docker run",
                    f"{median(ref):.2f}",
                    " ".join(f"{x:.2f}" for x in ref),
                    "1.00",
                    "",
                ],
                [
                    "zstd -dc | docker load (load only)",
                    f"{median(pipe):.2f}",
                    " ".join(f"{x:.2f}" for x in pipe),
                    f"{median(pipe) / median(ref):.2f}",
                    "(no run, no sha256)",
                ],
                [
                    "sealbox in, python zstandard in-process",
                    f"{median(inproc):.2f}",
                    " ".join(f"{x:.2f}" for x in inproc),
                    f"{median(inproc) / median(ref):.2f}",
                    "(the old way)",
                ],
                [
                    "sealbox in (from .tar.zst)",
                    f"{median(ours):.2f}",
                    " ".join(f"{x:.2f}" for x in ours),
                    f"{ratio:.2f}",
                    "<= 1.10",
                ],
            ],
        )
        print_table(
            "where the time of `sealbox in` goes (medians; the last two are measured apart)",
            ["phase", "median s", "share of ours"],
            [
                [name, f"{median(v):.2f}", f"{median(v) / median(ours):.0%}"]
                for name, v in split.items()
            ]
            + [
                [
                    "  sha256 of the archive alone",
                    f"{median(hashing):.2f}",
                    f"{median(hashing) / median(ours):.0%}",
                ],
                [
                    "  python stream alone (read+sha256+zstd+guard)",
                    f"{median(streaming):.2f}",
                    f"{median(streaming) / median(ours):.0%}",
                ],
            ],
        )
        print_table(
            "host commands of the engine (last round; the stream into docker load is not one)",
            ["when", "s", "command"],
            [[when, f"{secs:.3f}", text] for when, secs, text in outside],
        )
        return 0
    finally:
        sh("docker", "rm", "-f", "bench-ref", check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
