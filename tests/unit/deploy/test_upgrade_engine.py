"""The upgrade path of the engine on the simulated Docker: what ran, which files were left.

A failed upgrade must leave the previous version exactly as it was: the engine's own
recreate puts the old container back, but it had already written the new rendered files, so
the old container came back reading the NEW configuration (seen on main: my.cnf kept the new
port). The previous release's files and image now come back with it.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.errors import RuntimeFailure, UsageError
from installer.hosts.base import Result
from tests.unit.core.test_plan import MANIFEST
from tests.unit.deploy.fakedocker import FakeDocker, docker_host
from tests.unit.source_bundle import source_bundle

ROOT = "/var/lib/sealbox"
MYSQL = "sealbox-mysql-0"
CNF = f"{ROOT}/config/{MYSQL}/my.cnf"


def _shell(text: str) -> Result:
    """The few shell steps of a backup and the disk check, answered as a roomy host would."""
    if "du -skc" in text:
        return Result(text, 0, "2048\ttotal\n")
    if "df -Pk" in text:
        return Result(text, 0, "/dev/sda1 100000000 1000 99999000 1% /\n")
    return Result(text, 0, "")


@pytest.fixture
def site():
    docker = FakeDocker({e.id: e.id for e in MANIFEST.images})
    host = docker_host(docker)
    host.answers.update(
        {
            "sh -c": _shell,
            "bash -c": "",
            "sha256sum": "ab" * 32 + "  f\n",
            "stat -c": "10\n",
            "mv -T": "",
        }
    )
    v1 = replace(source_bundle(), manifest=MANIFEST)
    v2 = replace(source_bundle(), manifest=replace(MANIFEST, version="2"))

    def make(bundle) -> Deployment:
        return Deployment(bundle, host, store=StateStore(host, ROOT), gates=[])

    return make, host, docker, v1, v2


def test_a_failed_upgrade_brings_back_the_previous_files_and_image(site) -> None:
    make, host, docker, v1, v2 = site
    make(v1).install(["mysql"], InstallOptions())
    before = host.files[CNF]
    docker.exits_on_start.add(MYSQL)  # the upgraded container exits at once
    with pytest.raises(RuntimeFailure) as err:
        make(v2).install(["mysql"], InstallOptions(overrides={"mysql_port": 5536}))
    line = str(err.value)
    assert "rolled back" in line and "back at 1" in line and "backups in" in line, line
    assert "\n" not in line
    assert host.files[CNF] == before  # the v1 file, not the v2 one (port 5536)
    assert docker.containers[MYSQL]["State"]["Running"]
    hist = [json.loads(x) for x in host.files[f"{ROOT}/history.jsonl"].splitlines()]
    assert [(h["action"], h["result"]) for h in hist][-2:] == [
        ("upgrade", "started"),
        ("upgrade", "rolled back"),
    ]
    # the backup ran before the container was touched
    cmds = host.commands
    dump = next(i for i, c in enumerate(cmds) if "mariadb-dump" in c)
    stop = max(
        i
        for i, c in enumerate(cmds)
        if c.startswith(f"docker stop -t 30 {MYSQL}") or c == f"docker stop {MYSQL}"
    )
    assert dump < stop


def test_another_product_and_an_older_version_change_nothing(site) -> None:
    make, host, docker, v1, v2 = site
    make(v2).install(["mysql"], InstallOptions())
    host.commands.clear()
    other = replace(source_bundle(), manifest=replace(MANIFEST, product="other", version="3"))
    with pytest.raises(UsageError, match="another product"):
        make(other).install(["mysql"], InstallOptions())
    with pytest.raises(UsageError, match="older than the installed 2"):
        make(v1).install(["mysql"], InstallOptions())
    changed = [
        c
        for c in host.commands
        if c.split()[:2] in (["docker", "create"], ["docker", "stop"], ["docker", "rm"])
    ]
    assert changed == [] and not any("mariadb-dump" in c for c in host.commands)
