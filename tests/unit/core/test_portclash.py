"""Ports unique per host (issue 13 item 4): two of our services on one port is refused before
any change, naming both and the variable to change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.plan import Plan
from installer.deploy.portclash import check_unique_ports
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.errors import UsageError
from tests.unit.core.test_plan import MANIFEST, SPECS, VALUES
from tests.unit.deploy.fakedocker import FakeDocker, docker_host
from tests.unit.source_bundle import source_bundle


def _plan(values: dict, modules=("license-server", "mysql", "face-server"), count=1) -> Plan:
    """The engine's own plan (Deployment.plan) on a recorded host with nothing installed;
    modules left out are provided elsewhere."""
    host = docker_host(FakeDocker({e.id: e.id for e in MANIFEST.images}))
    dep = Deployment(
        replace(source_bundle(), manifest=MANIFEST), host, store=StateStore(host, "/v"), gates=[]
    )
    options = InstallOptions(
        overrides=values, instances=count, elsewhere=frozenset(set(SPECS) - set(modules))
    )
    plan, _ = dep.plan(["face-server"], options, State())
    assert [m.desired.spec.name for m in plan.modules] == [
        n for n in ("license-server", "mysql", "face-server") if n in modules
    ]
    return plan


def test_distinct_ports_pass() -> None:
    check_unique_ports(_plan(VALUES, count=3), State(), "h", SPECS)


def test_two_modules_on_one_port_name_both() -> None:
    with pytest.raises(UsageError) as err:
        check_unique_ports(_plan({**VALUES, "http_port": 8887}), State(), "h", SPECS)
    msg = str(err.value)
    assert "port 8887 on h" in msg
    assert "license-server" in msg and "face-server" in msg
    assert "--set license_port=PORT" in msg and "--set http_port=PORT" in msg
    assert err.value.exit_code == 2


def test_instances_run_into_another_module() -> None:
    """face-server instances take 8300, 8301, ...: a third instance meets MySQL on 8302."""
    with pytest.raises(UsageError, match="port 8302 on h is wanted by both"):
        check_unique_ports(_plan({**VALUES, "mysql_port": 8302}, count=3), State(), "h", SPECS)


def test_installed_module_outside_the_run_keeps_its_port() -> None:
    state = State(
        modules={
            "license-server": ModuleRecord(
                "license-server",
                "1",
                "1",
                "x",
                "sha256:x",
                instances=[InstanceRecord(0, "sealbox-license-server-0", "h", "i", {"http": 8887})],
            )
        }
    )
    plan = _plan({**VALUES, "http_port": 8887}, modules=("face-server",))
    with pytest.raises(UsageError, match="installed sealbox-license-server-0"):
        check_unique_ports(plan, state, "h", SPECS)
