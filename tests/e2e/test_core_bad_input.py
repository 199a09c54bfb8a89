"""Bad input to the core commands: one-line error, documented exit code, state unchanged,
nothing started."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DEMO_VENDOR_PUB, copy_bundle, port_sets, resign, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture()
def state(tmp_path, demo_bundle):
    state = tmp_path / "state"
    yield state
    if state.exists():  # whatever a failing test left behind
        run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)


def our_containers(state: Path) -> list[str]:
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    dep = StateStore(LocalHost(), str(state)).deployment_id
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=io.sealbox.deployment={dep}"],
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def snapshot(state: Path) -> dict[str, bytes]:
    if not state.exists():
        return {}
    return {
        str(p.relative_to(state)): p.read_bytes()
        for p in state.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


def assert_refused(res, rc: int, *needles: str) -> None:
    assert res.rc == rc, (res.rc, res.stderr)
    errors = res.error_lines()
    assert len(errors) == 1, res.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_unknown_module_lists_known(demo_bundle, state):
    res = run_cli("in", "face-serve", "-y", bundle=demo_bundle, state_dir=state)
    assert_refused(res, 2, "unknown module face-serve", "face-server", "license-server", "mysql")
    assert snapshot(state) == {} and our_containers(state) == []


def test_malformed_module_yaml(demo_bundle, tmp_path, state):
    """An edited spec is refused as altered (exit 5) before it is parsed; a vendor-signed
    malformed one is a spec error (exit 2) naming the file."""
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    spec = bundle / "modules" / "face-server.yaml"
    spec.write_text(spec.read_text().replace("port: 8300", "port: eighty"))
    res = run_cli("inall", "-y", bundle=bundle, state_dir=state)
    assert_refused(res, 5, "modules/face-server.yaml: sha256", "does not match the manifest")
    resign(bundle)
    res = run_cli("inall", "-y", bundle=bundle, state_dir=state)
    assert_refused(res, 2, "modules/face-server.yaml: ports[0].port: expected an integer")
    spec.write_text("name: face-server\n  bad: [indent\n")
    resign(bundle)
    res = run_cli("se", bundle=bundle, state_dir=state)
    assert_refused(res, 2, "modules/face-server.yaml", "malformed YAML")
    assert snapshot(state) == {} and our_containers(state) == []


ARCHIVE = "images/images.tar.zst"  # the demo bundle's shared multi-image archive


def _force_load(bundle: Path) -> None:
    """Make the manifest name image IDs the engine does not have, so `in` must load them.

    This edits the manifest, so the copy is installed with SEALBOX_ALLOW_UNSIGNED=1: these
    tests reach the engine's own archive checks behind the signature gate.
    """
    manifest = yaml.safe_load((bundle / "manifest.yaml").read_text())
    for img in manifest["images"]:
        img["id"] = "sha256:" + "0" * 64
    (bundle / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    (bundle / "manifest.sig").unlink()


UNSIGNED = {"SEALBOX_ALLOW_UNSIGNED": "1"}


def _images() -> set[str]:
    out = subprocess.run(["docker", "images", "-q"], capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("signed", [True, False], ids=["signed-bundle", "engine-check"])
def test_missing_image_archive(demo_bundle, tmp_path, state, ports, signed):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    if not signed:
        _force_load(bundle)
    (bundle / ARCHIVE).unlink()
    res = run_cli(
        "in",
        "mysql",
        "-y",
        *port_sets(ports),
        bundle=bundle,
        state_dir=state,
        env=None if signed else UNSIGNED,
    )
    assert res.rc in (2, 5), res.stderr
    assert_refused(res, res.rc, ARCHIVE)
    assert "missing" in res.error_lines()[0]
    assert our_containers(state) == [] and not (state / "state.json").exists()


@pytest.mark.parametrize("damage", ["truncated", "flipped-byte"])
def test_damaged_archive_starts_nothing(demo_bundle, tmp_path, state, ports, damage):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    _force_load(bundle)
    target = bundle / ARCHIVE
    data = bytearray((demo_bundle / ARCHIVE).read_bytes())
    target.unlink()  # it was a hard link to the real bundle: replace, never modify in place
    if damage == "truncated":
        data = data[: len(data) // 3]
    else:
        data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    images_before = _images()
    res = run_cli(
        "in", "mysql", "-y", *port_sets(ports), bundle=bundle, state_dir=state, env=UNSIGNED
    )
    # a short file is caught by the bundle gate (exit 5) from its size alone; a flipped byte
    # only while streaming into docker load (exit 1), where the last piece is withheld
    assert_refused(res, 5 if damage == "truncated" else 1, ARCHIVE)
    assert "truncated" in res.error_lines()[0]
    assert our_containers(state) == []
    assert _images() == images_before
    assert not (state / "state.json").exists()


def test_signed_bundle_with_a_damaged_archive_is_refused_before_anything(
    demo_bundle, tmp_path, state, ports
):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    target = bundle / ARCHIVE
    data = (demo_bundle / ARCHIVE).read_bytes()
    target.unlink()
    target.write_bytes(data[: len(data) - 1000])
    res = run_cli("in", "mysql", "-y", *port_sets(ports), bundle=bundle, state_dir=state)
    assert res.rc == 5, res.stderr
    assert_refused(res, 5, ARCHIVE)
    assert our_containers(state) == [] and not (state / "state.json").exists()


def test_port_taken_by_another_process(demo_bundle, state, ports):
    port = str(ports["mysql_port"])
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", port, "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            if (
                subprocess.run(
                    ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True
                ).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        before = snapshot(state)
        res = run_cli(
            "in", "mysql", "-y", "--set", f"mysql_port={port}", bundle=demo_bundle, state_dir=state
        )
        assert_refused(res, 3, "mysql/ports", port, str(server.pid))
        assert "python" in res.error_lines()[0]
        # with the envcheck item skipped, the engine's own port test still refuses
        res = run_cli(
            "in",
            "mysql",
            "-y",
            "--set",
            f"mysql_port={port}",
            "--skip-check",
            "mysql/ports",
            bundle=demo_bundle,
            state_dir=state,
        )
        assert_refused(res, 3, f"port {port}", f"(pid {server.pid})", "--set mysql_port=PORT")
        assert "python" in res.error_lines()[0]
        assert our_containers(state) == []
        assert snapshot(state) == before
    finally:
        server.kill()
        server.wait()


def test_two_modules_on_one_port(demo_bundle, state, ports):
    """Regression (issue 13 item 4): `--set http_port=<the license port>` exited 0 and reported
    "Installed" with two host-network services on one port. Now: exit 2 before any change,
    naming both (a dry run too)."""
    lic = str(ports["license_port"])
    sets = port_sets({**ports, "http_port": ports["license_port"]})
    before = snapshot(state)
    for extra in ([], ["--dry-run"]):
        res = run_cli("inall", "-y", *sets, *extra, bundle=demo_bundle, state_dir=state)
        assert_refused(
            res, 2, f"port {lic}", "license-server", "face-server", "--set http_port=PORT"
        )
    assert our_containers(state) == []
    assert snapshot(state) == before


def test_docker_missing_or_down(demo_bundle, state, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("setpriv", "ip", "sh"):
        path = shutil.which(tool)
        if path:
            os.symlink(path, bindir / tool)
    res = run_cli(
        "in", "mysql", "-y", bundle=demo_bundle, state_dir=state, env={"PATH": str(bindir)}
    )
    assert_refused(res, 3, "Docker is not installed", "apt-get install -y docker.io")
    res = run_cli(
        "in",
        "mysql",
        "-y",
        bundle=demo_bundle,
        state_dir=state,
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-such-docker.sock"},
    )
    assert_refused(res, 3, "Docker daemon is not running", "systemctl start docker")
    assert snapshot(state) == {}


def test_not_root(demo_bundle, tmp_path):
    state = tmp_path / "state"
    os.chmod(tmp_path, 0o755)
    # every command verifies the bundle first: the user needs to read the pinned key, as with a
    # host pin (/etc/sealbox/trusted-keys is world-readable); build/demo-vendor is 0700
    with tempfile.NamedTemporaryFile(dir="/tmp", suffix=".pub", delete=False) as fh:
        fh.write(DEMO_VENDOR_PUB.read_bytes())  # /tmp/pytest-of-root is 0700 too
    os.chmod(fh.name, 0o644)
    trust = {"SEALBOX_TRUST": fh.name}
    res = run_cli(
        "in", "mysql", "-y", bundle=demo_bundle, state_dir=state, preexec_user=65534, env=trust
    )
    assert_refused(res, 3, "needs root", "sudo")
    assert not state.exists()
    # read-only commands work without root
    se = run_cli("se", "--json", bundle=demo_bundle, state_dir=state, preexec_user=65534, env=trust)
    assert se.rc == 0, se.stderr
    assert {m["name"] for m in se.json()["modules"]} == {"license-server", "mysql", "face-server"}


def test_failed_required_check_refuses_and_a_named_skip_is_recorded(
    demo_bundle, tmp_path, state, ports
):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    spec = bundle / "modules" / "mysql.yaml"
    doc = yaml.safe_load(spec.read_text())
    doc["envcheck"] = [{"id": "memory", "min_gb": 100000}]  # no machine has 100 TB of RAM
    spec.write_text(yaml.safe_dump(doc))
    resign(bundle)
    res = run_cli("in", "mysql", "-y", *port_sets(ports), bundle=bundle, state_dir=state)
    assert_refused(res, 3, "environment check failed", "mysql/memory", "--skip-check mysql/memory")
    assert our_containers(state) == [] and not (state / "state.json").exists()
    ok = run_cli(
        "in",
        "mysql",
        "-y",
        "--json",
        *port_sets(ports),
        "--skip-check",
        "mysql/memory",
        bundle=bundle,
        state_dir=state,
    )
    assert ok.rc == 0, ok.stderr
    assert "check mysql/memory skipped by request" in ok.stderr
    recorded = json.loads((state / "state.json").read_text())["modules"]["mysql"]["skipped_checks"]
    assert recorded == ["mysql/memory"]
    assert run_cli("rmall", "--purge", "--yes", bundle=bundle, state_dir=state).rc == 0


def test_unhealthy_service_shows_its_logs_and_the_old_container_comes_back(
    demo_bundle, tmp_path, state, ports, skip_args
):
    """A face-server that dies on start: the error carries its last log lines, the new container
    is removed, and the one it was to replace is put back and serves again."""
    sets = [*port_sets(ports), *skip_args]
    good = run_cli("inall", "-y", "--json", *sets, bundle=demo_bundle, state_dir=state)
    assert good.rc == 0, good.stderr
    before = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", "label=io.sealbox.module=face-server"],
        capture_output=True,
        text=True,
    ).stdout.split()
    bundle = copy_bundle(demo_bundle, tmp_path / "broken")
    spec_file = bundle / "modules" / "face-server.yaml"
    doc = yaml.safe_load(spec_file.read_text())
    doc["command"] = [
        "python3",
        "-c",
        "import sys; print('model failed to load: CUDA error 100', file=sys.stderr); sys.exit(3)",
    ]
    spec_file.write_text(yaml.safe_dump(doc))
    resign(bundle)
    bad = run_cli("in", "face-server", "-y", *sets, bundle=bundle, state_dir=state)
    assert bad.rc == 1, bad.stderr
    assert re.search(r"(exited|restarting) \(exit code 3\)", bad.error_lines()[0])
    assert "model failed to load: CUDA error 100" in bad.stderr  # the container's own log line
    names = our_containers(state)
    assert len(names) == 3  # no half-created container, nothing of the old one lost
    after = subprocess.run(
        ["docker", "ps", "-q", "--no-trunc", "--filter", "label=io.sealbox.module=face-server"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert set(before) & set(after)  # the old face-server container itself is running again
    li = run_cli("li", "--json", bundle=demo_bundle, state_dir=state)
    rows = {r["module"]: r for r in li.json()["instances"]}
    assert rows["face-server"]["state"] == "running"
    deadline = time.monotonic() + 60
    while rows["face-server"]["health"] != "healthy" and time.monotonic() < deadline:
        time.sleep(1)
        li = run_cli("li", "--json", bundle=demo_bundle, state_dir=state)
        rows = {r["module"]: r for r in li.json()["instances"]}
    assert rows["face-server"]["health"] == "healthy"
