"""Issue 11 (trust chain) end to end: nothing of a bundle is parsed, rendered or run before its
signature and files check out, and only the verified bytes are used afterwards.

Real engine, real MariaDB, the real signed demo bundle; every command runs with a timeout so a
FIFO regression fails the test instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import DEMO_VENDOR_PUB, ROOT, copy_bundle, port_sets, resign, run_cli
from tests.e2e.test_core_bad_input import ARCHIVE, assert_refused, our_containers, snapshot

pytestmark = pytest.mark.e2e

PAYLOAD = "{{ cycler.__init__.__globals__.os.system('id > %s') and '0.0.0.0' }}"
QUICK = 60  # seconds: a refusal is immediate; anything near this is a hang


@pytest.fixture()
def state(tmp_path, demo_bundle):
    state = tmp_path / "state"
    yield state
    if state.exists():
        run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)


def _inject(bundle: Path, marker: Path) -> None:
    spec = bundle / "modules" / "mysql.yaml"
    text = spec.read_text()
    assert "default: 0.0.0.0" in text
    spec.write_text(text.replace("default: 0.0.0.0", f'default: "{PAYLOAD % marker}"'))


COMMANDS = {
    "in": ["in", "mysql", "-y"],
    "in --dry-run": ["in", "mysql", "-y", "--dry-run"],
    "se": ["se"],
    "li": ["li"],
    "rm": ["rm", "mysql"],
    "rmall": ["rmall"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_spec_default_injection_in_a_copied_bundle_runs_nothing(
    demo_bundle, tmp_path, state, ports, command
):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    marker = tmp_path / "pwned"
    _inject(bundle, marker)
    args = COMMANDS[command] + (port_sets(ports) if command.startswith("in") else [])
    res = run_cli(*args, bundle=bundle, state_dir=state, timeout=QUICK)
    assert_refused(res, 5, "modules/mysql.yaml", "does not match the manifest")
    assert not marker.exists(), "the payload ran"
    assert snapshot(state) == {} and our_containers(state) == []


def test_a_signed_spec_payload_is_stopped_by_the_sandbox(demo_bundle, tmp_path, state, ports):
    """The signature is good (the vendor's own mistake, or a stolen key): the sandbox holds."""
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    marker = tmp_path / "pwned"
    _inject(bundle, marker)
    resign(bundle)
    for dry in ([], ["--dry-run"]):
        res = run_cli(
            "in",
            "mysql",
            "-y",
            *dry,
            *port_sets(ports),
            bundle=bundle,
            state_dir=state,
            timeout=120,
        )
        assert_refused(res, 2, "modules/mysql.yaml", "refused by the template sandbox")
        assert not marker.exists(), "the payload ran"
    assert our_containers(state) == [] and not (state / "state.json").exists()


@pytest.mark.parametrize("rel", ["templates/mysql/my.cnf.j2", ARCHIVE])
def test_a_fifo_in_the_bundle_is_refused_at_once(demo_bundle, tmp_path, state, ports, rel):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    (bundle / rel).unlink()
    os.mkfifo(bundle / rel)
    for args in (
        ["bundle", "verify", str(bundle)],
        ["bundle", "verify", str(bundle), "--quick"],
        ["in", "mysql", "-y", *port_sets(ports)],
        ["in", "mysql", "-y", "--dry-run", *port_sets(ports)],
    ):
        res = run_cli(*args, bundle=bundle, state_dir=state, timeout=QUICK)
        assert_refused(res, 5, rel, "FIFO (named pipe), not a regular file")
    assert our_containers(state) == [] and snapshot(state) == {}


SWAP_AFTER_OPEN = """
import os, sys
sys.path.insert(0, {root!r})
import installer.cli.context as context
real = context.open_bundle

def open_then_swap(*args, **kwargs):
    bundle = real(*args, **kwargs)
    path = os.path.join(bundle.root, "templates/mysql/my.cnf.j2")
    with open(path) as fh:
        text = fh.read()
    tmp = path + ".swap"
    with open(tmp, "w") as fh:
        fh.write(text.replace("skip-name-resolve", "skip-name-resolve\\nskip-grant-tables"))
    os.replace(tmp, path)  # the race, won deterministically: right after verification
    return bundle

context.open_bundle = open_then_swap
from installer.cli.app import main
main(sys.argv[1:])
"""


def _mysql(container: str, port: int, user: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "exec", container, "mysql", f"-u{user}", f"-p{password}", "-h127.0.0.1"]
        + [f"-P{port}", "-e", "select 1"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_template_swapped_after_verification_is_never_deployed(
    demo_bundle, tmp_path, state, ports, skip_args
):
    bundle = copy_bundle(demo_bundle, tmp_path / "b")
    genuine = (bundle / "templates/mysql/my.cnf.j2").read_text()
    cmd = [sys.executable, "-c", SWAP_AFTER_OPEN.format(root=str(ROOT))]
    cmd += ["--bundle", str(bundle), "--state-dir", str(state), "in", "mysql", "-y", "--json"]
    env = {**os.environ, "SEALBOX_TRUST": str(DEMO_VENDOR_PUB)}
    res = subprocess.run(
        cmd + port_sets(ports) + skip_args, capture_output=True, text=True, env=env, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    swapped = (bundle / "templates/mysql/my.cnf.j2").read_text()
    assert "skip-grant-tables" in swapped and "skip-grant-tables" not in genuine  # it did race
    deployed = list(state.glob("config/*/my.cnf"))
    assert len(deployed) == 1
    text = deployed[0].read_text()
    assert "skip-grant-tables" not in text and "skip-name-resolve" in text
    container = deployed[0].parent.name
    secrets = json.loads((state / "secrets.json").read_text())["secrets"]
    port = ports["mysql_port"]
    deadline = time.monotonic() + 60
    while (ok := _mysql(container, port, "face", secrets["mysql_password"])).returncode != 0:
        assert time.monotonic() < deadline, ok.stderr  # the check can pass...
        time.sleep(2)
    wrong = _mysql(container, port, "face", "wrong-password")
    assert wrong.returncode != 0 and "Access denied" in wrong.stderr  # ...grants are enforced


def test_a_library_caller_gets_the_gates_by_default(demo_bundle, tmp_path, ports):
    """Deployment() with no gates argument: the engine's envcheck gate refuses a taken port
    before the engine's own port check or anything else runs."""
    from installer.bundle.opened import open_bundle
    from installer.deploy.engine import Deployment, InstallOptions
    from installer.deploy.state import StateStore
    from installer.errors import HostError
    from installer.hosts.local import LocalHost

    host = LocalHost()
    store = StateStore(host, str(tmp_path / "state"))
    dep = Deployment(open_bundle(str(demo_bundle), [str(DEMO_VENDOR_PUB)]), host, store=store)
    port = ports["mysql_port"]
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("0.0.0.0", port))
        squatter.listen(1)
        with pytest.raises(HostError, match=r"environment check failed .*mysql/ports"):
            dep.install(["mysql"], InstallOptions(overrides={"mysql_port": port}))
    assert dep.runtime.ours() == [] and not (tmp_path / "state" / "state.json").exists()
