"""Shared end-to-end fixtures: a running Docker engine, the demo bundle, the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_BUNDLE = ROOT / "build" / "demo-bundle"
DEMO_VENDOR_PUB = ROOT / "build" / "demo-vendor" / "vendor.pub"


def docker_running() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_engine() -> None:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run as root (they drive the Docker engine)")
    if not docker_running():
        pytest.fail("no Docker engine: run 'bash scripts/setup.sh' (installs and starts dockerd)")


@pytest.fixture(scope="session")
def demo_bundle(docker_engine) -> Path:
    """The demo bundle, built (or refreshed from cache) once per test session."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_demo_bundle.py"), "-o", str(DEMO_BUNDLE)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, f"building the demo bundle failed:\n{res.stderr[-3000:]}"
    return DEMO_BUNDLE


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def error_lines(self) -> list[str]:
        # "错误：" under a Chinese locale (issue 21)
        return [line for line in self.stderr.splitlines() if line.startswith(("error:", "错误："))]


def run_cli(
    *args: str,
    bundle: Optional[Path] = None,
    state_dir: Optional[Path] = None,
    env: Optional[dict] = None,
    timeout: int = 600,
    preexec_user: Optional[int] = None,
) -> CliResult:
    cmd = [sys.executable, str(ROOT / "install.py")]
    if bundle is not None:
        cmd += ["--bundle", str(bundle)]
    if state_dir is not None:
        cmd += ["--state-dir", str(state_dir)]
    cmd += list(args)
    full_env = dict(os.environ)
    # the demo bundle is signed with the demo vendor key: trust it the way a field engineer
    # would be told to (SEALBOX_TRUST), never by allowing unsigned bundles
    full_env.setdefault("SEALBOX_TRUST", str(DEMO_VENDOR_PUB))
    # English unless the test asks for another language (the messages follow the locale)
    for var in ("LC_ALL", "LC_MESSAGES", "LANGUAGE", "SEALBOX_LANG"):
        full_env.pop(var, None)
    full_env["LANG"] = "C.UTF-8"
    full_env.update(env or {})
    if preexec_user is not None:
        cmd = [
            "setpriv",
            f"--reuid={preexec_user}",
            f"--regid={preexec_user}",
            "--clear-groups",
            *cmd,
        ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def copy_bundle(src: Path, dst: Path, with_images: bool = True) -> Path:
    """A throwaway copy of a bundle to damage; image archives are hard-linked, not copied."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("images"))
    (dst / "images").mkdir()
    if with_images:
        for f in (src / "images").iterdir():
            os.link(f, dst / "images" / f.name)
    return dst


DEFAULT_PORTS = {"license_port": 8887, "http_port": 8300, "mysql_port": 5535}
ALTERNATE_PORTS = {"license_port": 38887, "http_port": 38300, "mysql_port": 35535}


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="session")
def ports() -> dict[str, int]:
    """The field guide's ports when free; others when a demo deployment already holds them."""
    for candidate in (DEFAULT_PORTS, ALTERNATE_PORTS):
        if all(_port_free(p) and _port_free(p + 1) for p in candidate.values()):
            return dict(candidate)
    pytest.fail("ports 8887/8300/5535 and 38887/38300/35535 are all in use: stop what holds them")


def port_sets(ports: dict[str, int]) -> list[str]:
    return [arg for name, port in ports.items() for arg in ("--set", f"{name}={port}")]


@pytest.fixture(scope="session")
def skip_args(docker_engine) -> list[str]:
    """`--skip-check` for the required checks this build machine fails (GPU, cores, VM...).

    Port checks are never skipped: the engine's own port test is exercised for real.
    """
    sys.path.insert(0, str(ROOT / "scripts"))
    from below_requirements import failing_items

    return [arg for item in failing_items() for arg in ("--skip-check", item)]


def resign(bundle: Path) -> None:
    """After editing a bundle copy's files, list their new sha256 and sign it again with the
    demo vendor key: a consistent vendor bundle whose *content* is what a test wants."""
    import hashlib

    import yaml

    from installer import signing
    from installer.bundle.manifest import MANIFEST
    from installer.bundle.trust import sign_manifest

    path = bundle / MANIFEST
    doc = yaml.safe_load(path.read_text())
    for rel in list(doc.get("files") or {}):
        doc["files"][rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    sign_manifest(str(bundle), signing.load_private(str(DEMO_VENDOR_PUB.with_suffix(".key"))))


def http_json(method: str, port: int, path: str, body=None, addr: str = "127.0.0.1"):
    """(status, parsed JSON body) of one HTTP call to a service under test."""
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{addr}:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None


DEMO_BUNDLE_V2 = ROOT / "build" / "demo-bundle-v2"


@pytest.fixture(scope="session")
def demo_bundle_v2(demo_bundle) -> Path:
    """The demo product's v2 (face-server STAND-IN 1.1): its images were built with v1's."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_demo_bundle.py"), "--version", "1.1",
         "--skip-images", "-o", str(DEMO_BUNDLE_V2)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert res.returncode == 0, f"building the v2 demo bundle failed:\n{res.stderr[-3000:]}"
    return DEMO_BUNDLE_V2
