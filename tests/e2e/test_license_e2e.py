"""End to end: the real license-server image, a license issued here for THIS machine, the
face-server stand-in getting grants; an expired license swapped in stops it within the lease
TTL; ``license install`` of a valid one brings it back without reinstalling.

Own bundle (tmp), own state dir, own image tag with a test vendor key pinned, non-default
ports: runs beside other e2e tests on the same engine. Everything is removed in finalizers.
"""

from __future__ import annotations

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
from installer.bundle.manifest import load_manifest
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.hosts.local import LocalHost
from installer.license.gate import license_gate
from installer.license.issue import issue
from installer.license.shipped import fileformat
from installer.license.shipped.model import DAY, ModuleGrant

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEST_IMAGE = f"sealbox-e2e/license-server:lic-{os.getpid()}"
TEST_FACE = f"sealbox-e2e/face-server-standin:lic-{os.getpid()}"
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
    try:
        yield _prepare(tmp, bundle, state)
    finally:
        if (bundle / "manifest.yaml").exists():
            store = StateStore(LocalHost(), str(state))
            Deployment(str(bundle), LocalHost(), store=store).remove_all(purge=True)
        subprocess.run(["docker", "rmi", "-f", TEST_IMAGE, TEST_FACE], capture_output=True)
        os.environ.pop("SEALBOX_TRUST", None)


def run_cli(*argv: str, ok: bool = True) -> subprocess.CompletedProcess:
    """The installed entry points (sealbox, fingerprint) of this checkout's venv."""
    exe = os.path.join(os.path.dirname(sys.executable), argv[0])
    res = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=600)
    if ok:
        assert res.returncode == 0, f"{' '.join(argv)}: {res.stderr[-2000:]}"
    return res


def pin_into(base: str, tag: str, pub: Path, ctx: Path) -> None:
    """What SEALBOX_VENDOR_PUB=vendor.pub demo/build_images.py does for the vendor, as a
    derived test tag (the shared demo tags keep the demo key)."""
    ctx.mkdir()
    shutil.copyfile(pub, ctx / "vendor.pub")
    (ctx / "Dockerfile").write_text(
        f"FROM {base}\nUSER root\nRUN rm -f /app/pinned/*.pub\nCOPY vendor.pub /app/pinned/vendor.pub\n"
    )
    res = subprocess.run(
        ["docker", "build", "--network=none", "-q", "-t", tag, str(ctx)],
        capture_output=True,
        text=True,
        env=dict(os.environ, DOCKER_BUILDKIT="0"),
    )
    assert res.returncode == 0, res.stderr


def _prepare(tmp: Path, bundle: Path, state: Path) -> dict:
    """The README's vendor walk (installer/license/README.md), with the real CLIs: keygen ->
    images pinning that key -> fingerprints -> issue -> bundle create --license."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build_images.py")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    run_cli("sealbox", "license", "keygen", "-o", str(tmp / "vendor.key"))
    pub = tmp / "vendor.pub"
    key = signing.load_private(str(tmp / "vendor.key"))
    pin_into("sealbox-demo/license-server:0.1", TEST_IMAGE, pub, tmp / "ctx-lic")
    pin_into("sealbox-demo/face-server-standin:1.0", TEST_FACE, pub, tmp / "ctx-face")
    run_cli("fingerprint", "collect", "-o", str(tmp / "fp"))
    run_cli("fingerprint", "pack", str(tmp / "fp"), "-o", str(tmp / "finger.tar.gz"))
    (tmp / "lic").mkdir()
    run_cli(
        "sealbox", "license", "issue", "-r", str(tmp / "finger.tar.gz"), "--key",
        str(tmp / "vendor.key"), "-m", "face-server=2", "--days", "30", "--allow-vm",
        "--customer", "e2e", "-o", str(tmp / "lic" / "license.cfg"),
    )  # fmt: skip
    shutil.copyfile(pub, tmp / "lic" / "vendor.pub")
    # With the demo images (they pin the demo key): refused before any work, both ids named.
    demo_src = tmp / "src-demo"
    shutil.copytree(ROOT / "modules", demo_src / "modules")
    shutil.copytree(ROOT / "templates", demo_src / "templates")
    (demo_src / "bundle.yaml").write_text(
        "product: e2e\nversion: '1.0'\nmodules: [license-server, mysql, face-server]\n"
    )
    refused = run_cli(
        "sealbox", "bundle", "create", str(demo_src / "bundle.yaml"), "-o", str(tmp / "b0"),
        "--key", str(tmp / "vendor.key"), "--license", str(tmp / "lic"), "--no-wheels", ok=False,
    )  # fmt: skip
    # The images pinning the vendor's key: the bundle is made.
    src = tmp / "src"
    shutil.copytree(demo_src, src)
    for name, tag in (("license-server", TEST_IMAGE), ("face-server", TEST_FACE)):
        spec = src / "modules" / f"{name}.yaml"
        text = spec.read_text()
        text = text.replace("sealbox-demo/license-server:0.1", tag)
        spec.write_text(text.replace("sealbox-demo/face-server-standin:1.0", tag))
    run_cli(
        "sealbox", "bundle", "create", str(src / "bundle.yaml"), "-o", str(bundle),
        "--key", str(tmp / "vendor.key"), "--license", str(tmp / "lic"), "--no-wheels",
    )  # fmt: skip
    os.environ["SEALBOX_TRUST"] = str(pub)
    deployment = Deployment(
        str(bundle), LocalHost(), store=StateStore(LocalHost(), str(state)), gates=[license_gate]
    )
    ports = {"license_port": free_port(), "http_port": free_port(), "mysql_port": free_port()}
    return {
        "key": key,
        "bundle": bundle,
        "state": state,
        "deployment": deployment,
        "refused": refused,
        **ports,
    }


def test_vendor_walk_refuses_images_pinning_another_key(setup: dict) -> None:
    res = setup["refused"]
    demo_id = signing.load_public(str(ROOT / "build" / "demo-vendor" / "vendor.pub")).id
    assert res.returncode == 4, res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert f"signed with vendor key {setup['key'].public.id}" in line, line
    assert f"pins {demo_id}" in line, line
    manifest = load_manifest(str(setup["bundle"]))
    pins = manifest.extra["license_pins"]
    assert pins == {TEST_IMAGE: [setup["key"].public.id], TEST_FACE: [setup["key"].public.id]}


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
    assert http_json(lic_port, "/v1/status")[1]["grants"]["face-server"]["in_use"] == 1

    # `rm` stops the service cleanly first: its seat is free at once, not after the TTL.
    d.remove("face-server")
    code, status = http_json(lic_port, "/v1/status")
    assert status["grants"]["face-server"]["in_use"] == 0, status


def _gate_input(d: Deployment, names: list) -> Any:
    """The fields of ``GateInput`` the license gate reads, for a plan of ``names``."""
    from types import SimpleNamespace

    return SimpleNamespace(
        names=names,
        specs=d.specs,
        manifest=d.manifest,
        bundle=d.bundle,
        store=d.store,
        host=d.host,
        report=d.report,
        facts=None,  # no run snapshot: the gate reads the host itself
        options=InstallOptions(),
    )


def test_gate_refuses_a_module_the_license_does_not_grant(setup: dict) -> None:
    """Same bundle, a second licensed module the license does not name: refused, exit code 4."""
    from dataclasses import replace

    from installer.errors import LicenseError

    d: Deployment = setup["deployment"]
    d.specs["mood-server"] = replace(d.specs["face-server"], name="mood-server")
    try:
        with pytest.raises(LicenseError, match="module mood-server not licensed") as exc:
            license_gate(_gate_input(d, ["face-server", "mood-server"]))
        assert exc.value.exit_code == 4
    finally:
        d.specs.pop("mood-server")


def test_status_from_the_network_shows_no_customer_data(setup: dict) -> None:
    """A sandbox host (its own netns, 198.18/15) asks /v1/status, / and /health over the LAN
    path: no customer, license id, machines or seats. Loopback still gets the details."""
    from tests.e2e.testhosts import can_run, sandbox_hosts

    why = can_run()
    if why:
        pytest.fail(why)
    port = setup["license_port"]
    if http_json(port, "/")[0] != 200:
        setup["deployment"].install(["license-server"], InstallOptions(overrides=overrides(setup)))
    probe = (
        "import sys, urllib.request as u\n"
        "for p in ('/v1/status', '/', '/health'):\n"
        "    try:\n"
        "        r = u.urlopen('http://%s:%s%s' % (sys.argv[1], sys.argv[2], p), timeout=5)\n"
        "    except Exception as e:\n"
        "        r = e\n"
        "    print(p, r.read().decode())\n"
    )
    with sandbox_hosts(1) as hosts:
        h = hosts[0]
        res = h.exec(["python3", "-c", probe, h.peer_address, str(port)])
    seen = res.stdout.decode()
    assert '"serving": true' in seen and "/v1/status" in seen, seen
    for secret in ("e2e", "LIC-", "grants", "machine", "match", "in_use"):
        assert secret not in seen.replace("/v1/status", ""), (secret, seen)
    code, local = http_json(port, "/v1/status")
    assert local["license"]["customer"] == "e2e" and "grants" in local


def overrides(setup: dict) -> dict:
    return {
        "license_port": setup["license_port"],
        "http_port": setup["http_port"],
        "mysql_port": setup["mysql_port"],
        "license_check_interval": INTERVAL,
        "license_lease_ttl": TTL,
    }


def test_license_for_another_machine_stops_in_at_the_license_server(setup: dict) -> None:
    """The license server alone (the gate does not judge the machine then): a license for
    another machine makes its health answer 503 with the reason, and `in` stops there."""
    from dataclasses import replace

    from installer.errors import SealboxError

    d: Deployment = setup["deployment"]
    d.remove_all(purge=True)
    record = collect(LocalHost()).to_record()
    other = replace(
        record,
        components={k: tuple("0" * 63 + "1" for _ in v) for k, v in record.components.items()},
        labels={**record.labels, "hostname": "elsewhere"},
    )
    lic = issue(
        [other], modules={"face-server": ModuleGrant(2)}, days=30, customer="e2e", allow_vm=True
    )
    lic_dir = setup["state"] / "data" / "license-server" / "license"
    lic_dir.mkdir(parents=True, exist_ok=True)
    (lic_dir / "license.cfg").write_bytes(fileformat.render(lic, setup["key"]))
    t0 = time.monotonic()
    with pytest.raises(SealboxError) as exc:
        d.install(["license-server"], InstallOptions(overrides=overrides(setup)))
    took = time.monotonic() - t0
    assert took < 30, f"`in` took {took:.0f}s to stop"
    text = str(exc.value).splitlines()[0]
    assert "NOT serving: not for this machine" in text, text
    d.remove_all(purge=True)
