"""Ports unique per host (issue 13 item 4): two of our services on one port is refused before
any change, naming both and the variable to change."""

from __future__ import annotations

import pytest

from installer.deploy.desired import desired_module
from installer.deploy.plan import Plan, module_plan
from installer.deploy.portclash import check_unique_ports
from installer.deploy.render import Renderer
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.errors import UsageError
from installer.hosts.recorded import RecordedHost
from tests.unit.core.test_plan import MANIFEST, SPECS, VALUES
from tests.unit.source_bundle import source_bundle


def _plan(values: dict, modules=("license-server", "mysql", "face-server"), count=1) -> Plan:
    plan = Plan()
    defaults = {
        v.name: v.default
        for spec in SPECS.values()
        for v in spec.variables
        if v.default is not None and "{" not in str(v.default)
    }
    values = {**defaults, **values}
    for name in modules:
        d = desired_module(
            SPECS[name],
            SPECS,
            values=values,
            manifest=MANIFEST,
            renderer=Renderer(source_bundle().templates),
            store=StateStore(RecordedHost(), "/var/lib/sealbox"),
            count=count if name == "face-server" else 1,
            gpus=[],
        )
        plan.modules.append(module_plan(d, {}, True))
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
