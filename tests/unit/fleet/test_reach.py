"""Cross-host reachability: which addresses a host must reach, and the message when it cannot
(recorded connect answers; the real check runs between sandbox hosts in the e2e suite)."""

from __future__ import annotations

import os

import pytest

from installer.fleet.inventory import parse_inventory
from installer.fleet.reach import (
    DependencyUnreachable,
    links_of,
    port_defaults,
    require_reachable,
)
from installer.fleet.wiring import plan_fleet
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.spec.load import load_modules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
SPECS = load_modules(os.path.join(ROOT, "modules"))
INV = {
    "defaults": {"user": "root"},
    "hosts": {
        "lic": {"address": "10.0.0.1", "modules": ["license-server"]},
        "db": {"address": "10.0.0.2", "modules": ["mysql"], "vars": {"mysql_port": 6000}},
        "gpu1": {"address": "10.0.0.3", "modules": ["face-server"]},
        "all": {"address": "10.0.0.9", "modules": []},
    },
}


def plan():
    inv = parse_inventory(INV, "inv.yaml")
    return inv, plan_fleet(inv, SPECS)


def test_links_name_provider_hosts_and_wired_values():
    inv, fp = plan()
    hp = fp.hosts["gpu1"]
    values = {**port_defaults(SPECS), **hp.overrides}
    links = links_of(hp, ["face-server"], SPECS, inv.placements(), values)
    got = [(lk.provider_host, lk.endpoint.address, lk.endpoint.port) for lk in links]
    assert got == [("lic", "10.0.0.1", 8887), ("db", "10.0.0.2", 6000)]
    assert links_of(fp.hosts["db"], ["mysql"], SPECS, inv.placements(), values) == []


def test_same_host_dependencies_are_left_to_the_health_wait():
    doc = {"hosts": {"one": {"address": "10.0.0.5", "modules": ["face-server", "mysql"]}}}
    doc["hosts"]["lic"] = {"address": "10.0.0.1", "modules": ["license-server"]}
    inv = parse_inventory(doc, "inv.yaml")
    hp = plan_fleet(inv, SPECS).hosts["one"]
    values = {**port_defaults(SPECS), **hp.overrides}
    links = links_of(hp, ["face-server", "mysql"], SPECS, inv.placements(), values)
    assert [lk.provider_host for lk in links] == ["lic"]  # mysql is local


def test_blocked_port_message_names_both_hosts_address_port_and_what_to_open():
    inv, fp = plan()
    hp = fp.hosts["gpu1"]
    values = {**port_defaults(SPECS), **hp.overrides}
    links = links_of(hp, ["face-server"], SPECS, inv.placements(), values)
    host = RecordedHost(
        {
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.1/8887'": "",
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/6000'": Result("", 124, "", ""),
        },
        name="gpu1",
    )
    with pytest.raises(DependencyUnreachable) as exc:
        require_reachable(host, links)
    assert exc.value.exit_code == 3
    assert str(exc.value) == (
        "gpu1 (10.0.0.3) cannot reach mysql on db at 10.0.0.2:6000 (mysql_host, mysql_port) "
        "for face-server: no answer within 3s (packets dropped: a firewall filters it); "
        "open TCP port 6000 from gpu1 (10.0.0.3) to db (10.0.0.2) in the firewall, "
        "or check that mysql runs there"
    )
    ok = RecordedHost({"timeout 3 bash -c": ""})
    require_reachable(ok, links)  # every address answers: no error


def test_preflight_blocks_only_when_the_provider_serves():
    """gpu1 cannot connect to db:6000. If db itself connects there, MySQL runs and the path is
    closed: gpu1 is blocked before any change. If db cannot either, MySQL is not running yet
    (this run installs it): gpu1 is checked again when db is healthy."""
    from installer.fleet.reach import blocked_hosts

    inv, fp = plan()
    hp = fp.hosts["gpu1"]
    values = {**port_defaults(SPECS), **hp.overrides}
    links = links_of(hp, ["face-server"], SPECS, inv.placements(), values)
    gpu1 = RecordedHost(
        {
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.1/8887'": "",
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/6000'": Result("", 124, "", ""),
        },
        name="gpu1",
    )
    for db_answer, want in ((Result("", 0), {"gpu1"}), (Result("", 1, "", "refused"), set())):
        db = RecordedHost({"timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/6000'": db_answer})
        hosts = {"gpu1": gpu1, "db": db, "lic": RecordedHost({})}
        got = blocked_hosts(
            ["lic", "db", "gpu1"],
            lambda n: links if n == "gpu1" else [],
            hosts.__getitem__,
        )
        assert set(got) == want
        if want:
            assert got["gpu1"].startswith("gpu1 (10.0.0.3) cannot reach mysql on db at 10.0.0.2")


def test_a_blocked_host_shows_the_time_its_probe_took(monkeypatch):
    """Issue 19, item 8: a host refused by the reachability pre-check showed 'time 0.0s'
    although its 3 s probe ran."""
    import time

    from installer.deploy.engine import InstallOptions
    from installer.fleet.fleet import Fleet
    from installer.fleet.reach import blocked_hosts
    from tests.unit.source_bundle import source_bundle

    inv, fp = plan()
    hp = fp.hosts["gpu1"]
    values = {**port_defaults(SPECS), **hp.overrides}
    links = links_of(hp, ["face-server"], SPECS, inv.placements(), values)

    def slow_drop(text: str) -> Result:
        time.sleep(0.3)
        return Result(text, 124, "", "")

    gpu1 = RecordedHost(
        {
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.1/8887'": "",
            "timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/6000'": slow_drop,
        },
        name="gpu1",
    )
    db = RecordedHost({"timeout 3 bash -c 'exec 3<>/dev/tcp/10.0.0.2/6000'": ""})
    hosts = {"gpu1": gpu1, "db": db, "lic": RecordedHost({})}
    took: dict[str, float] = {}
    got = blocked_hosts(
        ["lic", "db", "gpu1"],
        lambda n: links if n == "gpu1" else [],
        hosts.__getitem__,
        timings=took,
    )
    assert set(got) == {"gpu1"} and took["gpu1"] >= 0.3

    def fake_unreachable(self, fplan, jobs, options, took=None):
        took["gpu1"] = 3.2
        return {"gpu1": got["gpu1"]}

    from installer.fleet.run import Outcome

    monkeypatch.setattr(Fleet, "_unreachable_now", fake_unreachable)
    monkeypatch.setattr(Fleet, "_environments", lambda self, fplan, options: None)
    monkeypatch.setattr(
        Fleet, "_install_job", lambda self, hp, names, options: lambda report: Outcome()
    )
    results = {r.host: r for r in Fleet(source_bundle(), inv).install(InstallOptions())}
    assert results["gpu1"].status == "failed" and results["gpu1"].seconds >= 3.2
