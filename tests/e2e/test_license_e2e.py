"""End to end: the real license-server image, a license issued here for THIS machine, the
face-server stand-in getting grants; an expired license swapped in stops it within the lease
TTL; ``license install`` of a valid one brings it back without reinstalling.

Own bundle (tmp), own state dir, own image tag with a test vendor key pinned, non-default
ports: runs beside other e2e tests on the same engine. Everything is removed in finalizers.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Tuple

import pytest

from fingerprint.collect import collect
from installer import signing
from installer.bundle.create import BundleDefinition, create_bundle
from installer.bundle.manifest import load_manifest, write_manifest
from installer.deploy import Deployment, InstallOptions
from installer.hosts.local import LocalHost
from installer.license import fileformat
from installer.license.gate import license_gate
from installer.license.issue import issue
from installer.license.model import DAY, ModuleGrant
from installer.state import StateStore

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEST_IMAGE = f"sealbox-e2e/license-server:lic-{os.getpid()}"
TTL = 6
INTERVAL = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(port: int, path: str) -> Tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            body = resp.read().decode()
            code = resp.status
    except urllib.error.HTTPError as exc:
        body, code = exc.read().decode(), exc.code
    except OSError as exc:
        return 0, str(exc)
    try:
        return code, json.loads(body)
    except ValueError:
        return code, body


def wait_for(pred: Callable[[], Any], timeout: float, step: float = 0.5) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return None


def license_for_here(key: signing.PrivateKey, **kw: Any) -> bytes:
    record = collect(LocalHost()).to_record()
    lic = issue(
        [record],
        modules={"face-server": ModuleGrant(2)},
        customer="e2e",
        allow_vm=True,  # CI machines are VMs/containers
        **kw,
    )
    return fileformat.render(lic, key)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[dict]:
    if os.geteuid() != 0:
        pytest.fail("end-to-end tests run as root (they drive the Docker engine)")
    tmp = tmp_path_factory.mktemp("license-e2e")
    state = tmp / "state"
    bundle = tmp / "bundle"
    os.environ["SEALBOX_ALLOW_UNSIGNED"] = "1"  # a test bundle, not vendor-signed
    try:
        yield _prepare(tmp, bundle, state)
    finally:
        if (bundle / "manifest.yaml").exists():
            store = StateStore(LocalHost(), str(state))
            Deployment(str(bundle), LocalHost(), store=store).remove_all(purge=True)
        subprocess.run(["docker", "rmi", "-f", TEST_IMAGE], capture_output=True)
        os.environ.pop("SEALBOX_ALLOW_UNSIGNED", None)


def _prepare(tmp: Path, bundle: Path, state: Path) -> dict:
    """Images, a test vendor key pinned into a test image tag, a bundle with a license."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build_images.py")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    key = signing.generate()
    ctx = tmp / "image"
    ctx.mkdir()
    (ctx / "vendor.pub").write_bytes(key.public.pem())
    (ctx / "Dockerfile").write_text(
        "FROM sealbox-demo/license-server:0.1\n"
        "RUN rm -f /app/pinned/*.pub\nCOPY vendor.pub /app/pinned/vendor.pub\n"
    )
    res = subprocess.run(
        ["docker", "build", "--network=none", "-q", "-t", TEST_IMAGE, str(ctx)],
        capture_output=True,
        text=True,
        env=dict(os.environ, DOCKER_BUILDKIT="0"),
    )
    assert res.returncode == 0, res.stderr
    src = tmp / "src"
    shutil.copytree(ROOT / "modules", src / "modules")
    shutil.copytree(ROOT / "templates", src / "templates")
    spec = src / "modules" / "license-server.yaml"
    spec.write_text(spec.read_text().replace("sealbox-demo/license-server:0.1", TEST_IMAGE))
    extra = {"carry": False} if "carry" in inspect.signature(create_bundle).parameters else {}
    create_bundle(
        BundleDefinition(
            "sealbox-e2e", "1.0", ["license-server", "mysql", "face-server"], str(src)
        ),
        str(bundle),
        **extra,
    )
    # The license files go in after create (it refuses unknown folders) and are listed in the
    # manifest like the bundle build would (the gate refuses an unlisted license/vendor.pub).
    (bundle / "license").mkdir()
    (bundle / "license" / "vendor.pub").write_bytes(key.public.pem())
    (bundle / "license" / "license.cfg").write_bytes(license_for_here(key, days=30))
    manifest = load_manifest(str(bundle))
    for rel in ("license/vendor.pub", "license/license.cfg"):
        manifest.files[rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    write_manifest(str(bundle), manifest)
    deployment = Deployment(
        str(bundle), LocalHost(), store=StateStore(LocalHost(), str(state)), gates=[license_gate]
    )
    ports = {"license_port": free_port(), "http_port": free_port(), "mysql_port": free_port()}
    return {"key": key, "bundle": bundle, "state": state, "deployment": deployment, **ports}


def face_health(setup: dict) -> Tuple[int, Any]:
    return http_json(setup["http_port"], "/health")


def test_deploy_grant_expire_and_recover(setup: dict, tmp_path: Path) -> None:
    d: Deployment = setup["deployment"]
    overrides = {
        "license_port": setup["license_port"],
        "http_port": setup["http_port"],
        "mysql_port": setup["mysql_port"],
        "license_check_interval": INTERVAL,
        "license_lease_ttl": TTL,
    }
    d.install(["face-server"], InstallOptions(overrides=overrides))
    lic_port = setup["license_port"]
    code, banner = http_json(lic_port, "/")
    assert code == 200 and banner.startswith("Sealbox license server 1.0: serving license LIC-")
    ok = wait_for(lambda: face_health(setup)[0] == 200, timeout=120)
    assert ok, face_health(setup)
    assert face_health(setup)[1]["licensed"] is True
    code, status = http_json(lic_port, "/v1/status")
    assert status["serving"] and status["grants"]["face-server"]["in_use"] == 1
    assert status["machine"]["ok"] is True
    face = next(c for c in d.runtime.ours() if c.module == "face-server")

    # An expired license swapped in by hand: refused at the next renewal, within the TTL.
    lic_dir = setup["state"] / "data" / "license-server" / "license"
    key = setup["key"]
    expired = license_for_here(key, days=10, now=time.time() - 60 * DAY, license_id="LIC-OLD")
    (lic_dir / ".swap").write_bytes(expired)
    os.replace(lic_dir / ".swap", lic_dir / "license.cfg")
    t0 = time.monotonic()
    refused = wait_for(lambda: face_health(setup)[0] == 503, timeout=TTL + INTERVAL + 10, step=0.2)
    took = time.monotonic() - t0
    assert refused, face_health(setup)
    assert took <= TTL, f"face-server still granted {took:.1f}s after the swap (TTL {TTL}s)"
    code, status = http_json(lic_port, "/v1/status")
    assert not status["serving"] and "expired on" in status["reason"]
    body = face_health(setup)[1]
    assert body["licensed"] is False

    # A bad file is refused by `license install` and changes nothing.
    cli = [sys.executable, str(ROOT / "install.py"), "--bundle", str(setup["bundle"])]
    cli += ["--state-dir", str(setup["state"]), "license", "install"]
    bad = tmp_path / "bad.cfg"
    bad.write_bytes(expired.replace(b"LIC-OLD", b"LIC-NEW"))
    res = subprocess.run([*cli, str(bad)], capture_output=True, text=True)
    assert res.returncode == 4 and "signature invalid" in res.stderr, res.stderr
    assert (lic_dir / "license.cfg").read_bytes() == expired

    # `license install` of a valid one: the service recovers without a reinstall.
    good = tmp_path / "renewed.cfg"
    good.write_bytes(license_for_here(key, days=365, license_id="LIC-RENEWED"))
    res = subprocess.run([*cli, str(good)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "installed LIC-RENEWED" in res.stdout and "restarted" in res.stdout
    assert (lic_dir / "license.cfg").read_bytes() == good.read_bytes()
    assert (lic_dir / "license.cfg.last-good").exists()
    back = wait_for(lambda: face_health(setup)[0] == 200, timeout=60)
    assert back, face_health(setup)
    code, status = http_json(lic_port, "/v1/status")
    assert status["license"]["license_id"] == "LIC-RENEWED" and status["days_left"] >= 364
    again = next(c for c in d.runtime.ours() if c.module == "face-server")
    assert again.id == face.id  # same container: no reinstall


def test_gate_refuses_a_module_the_license_does_not_grant(setup: dict) -> None:
    """Same bundle, a second licensed module the license does not name: refused, exit code 4."""
    from dataclasses import replace

    from installer.errors import LicenseError

    d: Deployment = setup["deployment"]
    d.specs["mood-server"] = replace(d.specs["face-server"], name="mood-server")
    try:
        with pytest.raises(LicenseError, match="module mood-server not licensed") as exc:
            license_gate(d, ["face-server", "mood-server"], None)
        assert exc.value.exit_code == 4
    finally:
        d.specs.pop("mood-server")
