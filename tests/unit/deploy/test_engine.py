"""The install engine on a recorded host: what it ran, not only what it returned.

A simulated Docker (tests/unit/deploy/fakedocker.py) answers the docker CLI; each test drives
``Deployment`` and reads back the commands the engine sent, the files it wrote and removed, and
the state it kept.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.gateinput import GateInput
from installer.deploy.plan import CREATE, NOOP, RECREATE
from installer.deploy.state import StateStore
from installer.errors import HostError, RuntimeFailure
from installer.hosts.base import LockHeld
from tests.unit.core.test_plan import MANIFEST
from tests.unit.deploy.fakedocker import FakeDocker, docker_host
from tests.unit.source_bundle import source_bundle

ROOT = "/var/lib/sealbox"
MYSQL = "sealbox-mysql-0"
OLD = MYSQL + "-sealbox-old"


def _changes(host) -> list[str]:
    """The docker commands that change something, in order, as 'verb name'."""
    out = []
    for text in host.commands:
        words = text.split()
        if words[:2] in (["docker", "start"], ["docker", "stop"], ["docker", "rm"]):
            out.append(f"{words[1]} {words[-1]}")
        elif words[:2] == ["docker", "create"]:
            out.append(f"create {words[words.index('--name') + 1]}")
        elif words[:2] == ["docker", "rename"]:
            out.append(f"rename {words[2]} {words[3]}")
    return out


@pytest.fixture
def engine():
    bundle = replace(source_bundle(), manifest=MANIFEST)
    docker = FakeDocker({e.id: e.id for e in MANIFEST.images})
    host = docker_host(docker)
    seen: list[GateInput] = []

    def make(gates=None) -> Deployment:
        return Deployment(
            bundle,
            host,
            store=StateStore(host, ROOT),
            gates=[seen.append] if gates is None else gates,
        )

    return make, host, docker, seen


def _state(host) -> dict:
    return json.loads(host.files[f"{ROOT}/state.json"])


def _secrets(host) -> dict:
    return json.loads(host.files[f"{ROOT}/secrets.json"])["secrets"]


def test_create_runs_the_container_and_records_it(engine) -> None:
    make, host, docker, seen = engine
    res = make().install(["mysql"], InstallOptions())
    assert [a.kind for a in res.plan.actions] == [CREATE]
    assert _changes(host) == [f"create {MYSQL}", f"start {MYSQL}"]
    assert docker.containers[MYSQL]["State"]["Running"]
    # one gathering before the lock: root and Docker read once, in it (installer.facts)
    lock = host.commands.index(f"lock {ROOT}/.lock")
    assert sum(c.startswith("docker version") for c in host.commands) == 1
    assert any(c.startswith("docker version") for c in host.commands[:lock])
    assert f"lock {ROOT}/.lock" in host.commands and host.commands[-1] == f"unlock {ROOT}/.lock"
    assert f"{ROOT}/config/{MYSQL}/my.cnf" in host.files  # the rendered config, written
    rec = _state(host)["modules"]["mysql"]
    assert rec["instances"][0]["container"] == MYSQL and rec["instances"][0]["ports"] == {
        "mysql": 5535
    }
    assert len(_secrets(host)["mysql_password"]) == 32  # generated once, kept
    # the one gate was handed the plan the engine applied, not a way back into the engine
    (inp,) = seen
    assert inp.plan is res.plan and inp.names == ["mysql"] and inp.docker.data_root == "/d"


def test_a_second_install_changes_nothing(engine) -> None:
    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    host.commands.clear()
    res = make().install(["mysql"], InstallOptions())
    assert [a.kind for a in res.plan.actions] == [NOOP]
    assert _changes(host) == [] and res.applied == []


def test_recreate_rolls_back_a_new_container_that_fails(engine) -> None:
    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    old_id = docker.containers[MYSQL]["Id"]
    files_before = {p: b for p, b in host.files.items() if p.startswith(f"{ROOT}/config/")}
    host.commands.clear()
    docker.exits_on_start.add(MYSQL)  # the new container (same name) exits at once
    with pytest.raises(RuntimeFailure, match=f"{MYSQL}.*kept on box in {ROOT}/logs/"):
        make().install(["mysql"], InstallOptions(overrides={"mysql_port": 5536}))
    assert _changes(host) == [
        f"stop {OLD}",  # a leftover of an interrupted run, if any: stopped (its seat freed)
        f"rm {OLD}",
        f"stop {MYSQL}",
        f"rename {MYSQL} {OLD}",
        f"create {MYSQL}",
        f"start {MYSQL}",
        f"stop {MYSQL}",  # the failed new one goes, stopped first (issue 19, item 3)
        f"rm {MYSQL}",
        f"rename {OLD} {MYSQL}",  # the old one comes back
        f"start {MYSQL}",
    ]
    assert docker.containers[MYSQL]["Id"] == old_id and set(docker.containers) == {MYSQL}
    assert docker.containers[MYSQL]["State"]["Running"]  # the old one serves again
    assert _state(host)["modules"]["mysql"]["instances"][0]["ports"] == {"mysql": 5535}
    # ... reading its own rendered files, not the failed version's (its port is 5535 again)
    files_after = {p: b for p, b in host.files.items() if p.startswith(f"{ROOT}/config/")}
    assert files_before and files_after == files_before


def test_recreate_replaces_the_container_when_the_config_changes(engine) -> None:
    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    host.commands.clear()
    res = make().install(["mysql"], InstallOptions(overrides={"mysql_port": 5536}))
    assert [a.kind for a in res.plan.actions] == [RECREATE]
    assert _changes(host)[-4:] == [
        f"create {MYSQL}",
        f"start {MYSQL}",
        f"stop {OLD}",
        f"rm {OLD}",
    ]
    assert _state(host)["modules"]["mysql"]["instances"][0]["ports"] == {"mysql": 5536}


def test_remove_keeps_data_and_values(engine) -> None:
    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    host.files[f"{ROOT}/data/mysql/db/ibdata1"] = b"rows"
    host.commands.clear()
    assert make().remove("mysql") == [MYSQL]
    assert _changes(host) == [
        f"stop {MYSQL}",  # once: the runtime stops before every removal (a seat is given back)
        f"rm {MYSQL}",
        f"stop {OLD}",
        f"rm {OLD}",
    ]
    assert docker.containers == {}
    assert host.removed == [f"{ROOT}/config/{MYSQL}"]
    assert f"{ROOT}/data/mysql/db/ibdata1" in host.files
    state = _state(host)
    assert "mysql" not in state["modules"]
    assert "mysql_password" in _secrets(host)


def test_remove_with_purge_deletes_data_and_generated_secrets(engine) -> None:
    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    host.files[f"{ROOT}/data/mysql/db/ibdata1"] = b"rows"
    make().remove("mysql", purge=True)
    assert f"{ROOT}/data/mysql" in host.removed
    assert f"{ROOT}/data/mysql/db/ibdata1" not in host.files
    assert "mysql_password" not in _secrets(host)


def test_a_refusing_gate_stops_the_install_before_any_change(engine) -> None:
    make, host, docker, _ = engine
    seen: list[GateInput] = []

    def refuse(inp: GateInput) -> None:
        seen.append(inp)
        raise HostError("no: a test gate")

    with pytest.raises(HostError, match="a test gate"):
        make(gates=[refuse]).install(["mysql"], InstallOptions())
    assert _changes(host) == [] and docker.containers == {}
    assert f"{ROOT}/state.json" not in host.files and f"{ROOT}/secrets.json" not in host.files
    assert host.commands[-1] == f"unlock {ROOT}/.lock"  # the lock is let go on the way out
    assert [a.kind for a in seen[0].plan.actions] == [CREATE]


def test_a_dry_run_passes_only_the_plan_gates(engine) -> None:
    from installer.deploy.gates import ENGINE_GATES

    make, host, docker, _ = engine
    res = make(gates=ENGINE_GATES).install(
        ["mysql"], InstallOptions(dry_run=True, overrides={"mysql_port": 22})
    )
    assert [a.kind for a in res.plan.actions] == [CREATE]
    assert _changes(host) == [] and not any(c.startswith("ss ") for c in host.commands)


def test_a_second_run_on_the_host_is_refused(engine) -> None:
    make, host, docker, _ = engine
    host.held.add(f"{ROOT}/.lock")  # another controller's run holds the host
    with pytest.raises(LockHeld, match=f"another Sealbox run holds {ROOT}/.lock on box"):
        make().install(["mysql"], InstallOptions())
    with pytest.raises(LockHeld):
        make().remove("mysql")
    assert _changes(host) == [] and docker.containers == {}


def test_modules_installed_on_docker_are_not_touched_through_podman(engine):
    """A host with both engines: the state records which one runs its modules. Another
    runtime is refused before any change (`rmall --purge` through Podman would have purged
    the state and left Docker's containers running, unmanaged); auto follows the record."""
    from installer.errors import UsageError

    make, host, docker, _ = engine
    make().install(["mysql"], InstallOptions())
    assert _state(host)["runtime"] == "docker"
    host.answers["podman"] = docker  # a podman that answers (here: the same fake engine)
    bundle = replace(source_bundle(), manifest=MANIFEST)
    podman = Deployment(bundle, host, store=StateStore(host, ROOT), gates=[], runtime="podman")
    host.commands.clear()
    with pytest.raises(UsageError, match="run on docker, not podman: run with --runtime docker"):
        podman.remove_all(purge=True)
    assert not [c for c in host.commands if c.split()[:2] in (["podman", "rm"], ["podman", "stop"])]
    assert MYSQL in docker.containers and f"{ROOT}/state.json" in host.files
    auto = Deployment(bundle, host, store=StateStore(host, ROOT), gates=[], runtime="auto")
    assert auto.facts.runtime == "docker"  # the record, though both engines answer
    assert [s.container for s in auto.status()] == [MYSQL]
