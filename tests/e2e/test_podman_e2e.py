"""The demo on Podman, end to end on this machine (issue 22): install, `li`, re-run no-op, a
killed container restarted, `rm`, and everything it made removed again -- beside the Docker
engine the other tests use, which must not see any of it.

These build machines lack CAP_SYS_RESOURCE: Podman's default rlimits cannot be set here, so
the run passes the ulimit setting (``--ulimit``), as a site with the same limits would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import http_json, port_sets, run_cli

pytestmark = pytest.mark.e2e

ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
PODMAN = ["--runtime", "podman", *ULIMITS]
MODULES = {"license-server", "mysql", "face-server"}


def podman(*args: str, check: bool = True) -> str:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=check, timeout=120
    ).stdout


def ours(engine: str, deployment: str) -> dict[str, dict]:
    """name -> inspect data of this deployment's containers on ``engine``."""
    ids = subprocess.run(
        [engine, "ps", "-aq", "--filter", f"label=io.sealbox.deployment={deployment}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not ids:
        return {}
    raw = subprocess.run(
        [engine, "inspect", *ids], capture_output=True, text=True, check=True
    ).stdout
    return {c["Name"].lstrip("/"): c for c in json.loads(raw)}


@pytest.fixture(scope="module")
def on_podman(demo_bundle, tmp_path_factory, ports, skip_args):
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run 'bash scripts/setup.sh' (installs podman)")
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    state = tmp_path_factory.mktemp("podman-state")
    dep = StateStore(LocalHost(), str(state)).deployment_id
    images_before = set(podman("images", "-aq", "--no-trunc").split())
    sets = port_sets(ports) + skip_args
    yield demo_bundle, state, dep, sets, ports
    res = run_cli(*PODMAN, "rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)
    leftover = ours("podman", dep)
    for name in leftover:
        podman("rm", "-f", name, check=False)
    for image in set(podman("images", "-aq", "--no-trunc").split()) - images_before:
        podman("rmi", "-f", image, check=False)  # the test's loads, not anyone else's
    assert res.rc == 0, res.stderr
    assert not leftover, f"rmall left {sorted(leftover)} on podman"


def network_traces() -> set[str]:
    """iptables rules and links a Podman network would add (CNI / netavark / podman bridge)."""
    text = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    text += subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {
        line.split("@")[0] if " link/" in line else line
        for line in text.splitlines()
        if any(w in line.lower() for w in ("cni", "podman", "netavark"))
    }


def wait_for(what: str, cond, timeout: float = 90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def test_demo_on_podman(on_podman):
    bundle, state, dep, sets, ports = on_podman
    docker_before = ours("docker", dep)
    traces_before = network_traces()

    # --- install on podman: every container is podman's, none is docker's
    res = run_cli(*PODMAN, "inall", "-y", "--json", *sets, bundle=bundle, state_dir=state)
    assert res.rc == 0, res.stderr[-3000:]
    out = res.json()
    assert set(out["changed"]) == MODULES and out["images_loaded"] >= 1
    conts = ours("podman", dep)
    assert {c["Config"]["Labels"]["io.sealbox.module"] for c in conts.values()} == MODULES
    assert ours("docker", dep) == docker_before == {}
    for c in conts.values():  # host network, restart at boot, the ulimit setting
        assert c["HostConfig"]["NetworkMode"] == "host"
        assert c["HostConfig"]["RestartPolicy"]["Name"] == "always"
        limits = {u["Name"]: (u["Soft"], u["Hard"]) for u in c["HostConfig"]["Ulimits"]}
        assert limits.get("RLIMIT_NOFILE") == (1024, 1024), limits

    # host networking, no Podman network: nothing added beside dockerd's iptables rules
    assert network_traces() == traces_before

    status, health = http_json("GET", ports["http_port"], "/health")
    assert status == 200 and health["licensed"] is True and health["db"] == "ok"

    # --- li: all three running and healthy, read from podman
    li = run_cli(*PODMAN, "li", "--json", bundle=bundle, state_dir=state)
    assert li.rc == 0, li.stderr
    rows = {r["module"]: r for r in li.json()["instances"]}
    assert set(rows) == MODULES
    assert all(r["state"] == "running" and r["health"] == "healthy" for r in rows.values()), rows
    for r in rows.values():  # podman runs the signed image ID (it reports it without sha256:)
        assert r["image_id"].startswith("sha256:") and r["image_id"] == r["signed_id"], r

    # --- a second install: nothing loaded, nothing recreated
    again = run_cli(*PODMAN, "inall", "-y", "--json", *sets, bundle=bundle, state_dir=state)
    assert again.rc == 0, again.stderr[-3000:]
    out2 = again.json()
    assert out2["images_loaded"] == 0 and out2["changed"] == []
    assert {a["kind"] for a in out2["actions"]} == {"noop"}
    assert {n: c["Id"] for n, c in ours("podman", dep).items()} == {
        n: c["Id"] for n, c in conts.items()
    }

    # --- the face-server's process killed: podman (conmon, no daemon, no systemd) restarts it
    face = next(
        n for n, c in conts.items() if c["Config"]["Labels"]["io.sealbox.module"] == "face-server"
    )
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", face).strip())
    subprocess.run(["kill", "-9", str(pid)], check=True)
    wait_for(
        "the killed face-server to run again",
        lambda: (
            (c := ours("podman", dep).get(face)) is not None
            and c["State"]["Running"]
            and c["State"]["Pid"] != pid
        ),
    )
    wait_for(
        "li to show it healthy again",
        lambda: all(
            r["health"] == "healthy"
            for r in run_cli(*PODMAN, "li", "--json", bundle=bundle, state_dir=state).json()[
                "instances"
            ]
        ),
    )

    # --- rm one module: its container goes, the others stay
    rm = run_cli(*PODMAN, "rm", "face-server", "--yes", bundle=bundle, state_dir=state)
    assert rm.rc == 0, rm.stderr
    left = {c["Config"]["Labels"]["io.sealbox.module"] for c in ours("podman", dep).values()}
    assert left == MODULES - {"face-server"}


def test_podman_without_the_ulimit_setting_says_what_to_set(on_podman):
    """Where the engine may not raise rlimits (this machine), the failure names the setting."""
    bundle, state, dep, sets, ports = on_podman
    other = state.parent / "podman-nolimit"
    moved = {name: port + 1000 for name, port in ports.items()}  # beside the running demo
    args = port_sets(moved) + sets[len(port_sets(ports)) :]
    res = run_cli(
        "--runtime", "podman", "in", "license-server", "-y", *args, bundle=bundle, state_dir=other
    )
    try:
        assert res.rc != 0
        assert "--ulimit nofile=1024:1024" in res.stderr, res.stderr[-2000:]
    finally:
        run_cli("--runtime", "podman", "rmall", "--purge", "--yes", bundle=bundle, state_dir=other)


def test_bad_runtime_is_refused_before_anything(on_podman, tmp_path: Path):
    bundle, _state, _dep, _sets, _ports = on_podman
    res = run_cli("--runtime", "lxc", "li", bundle=bundle, state_dir=tmp_path)
    assert res.rc == 2
    assert "--runtime lxc: expected one of docker, podman, auto" in res.stderr
