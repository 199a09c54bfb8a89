"""This machine is a fleet of one: the same Fleet, jobs and records as for remote hosts."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from installer.deploy.engine import InstallOptions
from installer.errors import UsageError
from installer.fleet.fleet import Fleet, OnHost
from installer.fleet.inventory import LOCAL, from_targets, local_inventory, parse_inventory
from installer.fleet.run import Outcome
from installer.hosts.local import LocalHost
from tests.unit.core.test_plan import MANIFEST
from tests.unit.deploy.fakedocker import FakeDocker, docker_host
from tests.unit.source_bundle import source_bundle


def test_this_machine_is_an_inventory_of_one_local_host() -> None:
    inv = local_inventory()
    assert list(inv.hosts) == ["localhost"] and inv.hosts["localhost"].address == LOCAL
    f = Fleet(None, inv)
    assert isinstance(f.host("localhost"), LocalHost)
    # the same host as -H @local, or an inventory entry with address "@local"
    assert isinstance(Fleet(None, from_targets([LOCAL])).host("localhost"), LocalHost)
    parsed = parse_inventory({"hosts": {"here": {"address": LOCAL}}})
    assert isinstance(Fleet(None, parsed).host("here"), LocalHost)
    with pytest.raises(UsageError, match="given twice"):
        from_targets([LOCAL, LOCAL])


def test_a_tool_job_runs_on_any_host_and_one_host_runs_in_the_callers_thread() -> None:
    seen: list[tuple[str, str, str]] = []

    def job(on: OnHost, report) -> Outcome:  # type: ignore[no-untyped-def]
        seen.append((on.name, type(on.host).__name__, threading.current_thread().name))
        return Outcome(False, "ok", {"host": on.host.name})

    (res,) = Fleet(None, local_inventory()).each_host(job)
    assert res.status == "ok" and res.data == {"host": "localhost"} and res.error is None
    assert seen == [("localhost", "LocalHost", threading.current_thread().name)]


def test_a_failed_job_keeps_its_error_for_this_machine() -> None:
    def job(on: OnHost, report) -> Outcome:  # type: ignore[no-untyped-def]
        raise UsageError("bad input, with the fix")

    (res,) = Fleet(None, local_inventory()).each_host(job)
    assert res.status == "failed" and res.exit_code == 2
    assert isinstance(res.error, UsageError) and str(res.error) == "bad input, with the fix"


def _install(inventory, name: str) -> dict:
    docker = FakeDocker({e.id: e.id for e in MANIFEST.images})
    f = Fleet(
        replace(source_bundle(), manifest=MANIFEST),
        inventory,
        state_dir="/var/lib/sealbox",
        gates=[],
        given={name: docker_host(docker, name)},
    )
    (res,) = f.install(InstallOptions(), ["mysql"])
    assert res.status == "changed", res.message
    return res.data


def test_one_json_record_for_this_machine_and_a_remote_host() -> None:
    """Before, ``in --json`` printed endpoints with ``port`` here and ``address`` with -H."""
    here = _install(local_inventory(), "localhost")
    there = _install(from_targets(["root@10.0.0.5"]), "root@10.0.0.5")
    assert set(here) == set(there)
    assert here["endpoints"] == [
        {
            "module": "mysql",
            "container": "sealbox-mysql-0",
            "port": 5535,
            "address": "127.0.0.1:5535",
        }
    ]
    assert there["endpoints"] == [
        {
            "module": "mysql",
            "container": "sealbox-mysql-0",
            "port": 5535,
            "address": "10.0.0.5:5535",
        }
    ]
