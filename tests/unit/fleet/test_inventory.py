"""Inventory validation (path-qualified errors), cross-host wiring and host order."""

from __future__ import annotations

import os

import pytest
import yaml

from installer.errors import SpecError, UsageError
from installer.fleet.inventory import from_targets, load_inventory, parse_inventory
from installer.fleet.wiring import plan_fleet
from installer.spec.load import load_modules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
SPECS = load_modules(os.path.join(ROOT, "modules"))

GOOD = {
    "defaults": {"user": "deploy", "key": "~/.ssh/k", "sudo": True},
    "vars": {"license_check_interval": 5},
    "hosts": {
        "a": {"address": "10.0.0.1", "modules": ["license-server"]},
        "b": {"address": "10.0.0.2", "port": 2222, "modules": {"mysql": None}},
        "c": {
            "address": "10.0.0.3",
            "lan_address": "192.168.0.3",
            "password_env": "PW_C",
            "modules": {"face-server": {"instances": 2, "gpus": [0, 1]}},
        },
        "d": {"address": "10.0.0.4", "modules": {"face-server": {"gpus": ["1"]}}},
    },
}


def errors_of(data) -> list[str]:
    with pytest.raises(SpecError) as exc:
        parse_inventory(data, "inv.yaml")
    return str(exc.value).splitlines()


def test_good_inventory_parses_with_defaults_and_placements() -> None:
    inv = parse_inventory(GOOD, "inv.yaml")
    a, b, c = inv.hosts["a"], inv.hosts["b"], inv.hosts["c"]
    assert (a.user, a.port, a.sudo, a.key) == ("deploy", 22, True, "~/.ssh/k")
    assert b.port == 2222 and list(b.modules) == ["mysql"]
    assert c.modules["face-server"].instances == 2 and c.modules["face-server"].gpus == ["0", "1"]
    assert c.lan_address == "192.168.0.3" and a.lan_address == "10.0.0.1"
    assert inv.placements() == {"license-server": ["a"], "mysql": ["b"], "face-server": ["c", "d"]}


def test_errors_are_path_qualified_and_all_reported() -> None:
    bad = {
        "hosts": {
            "a": {"address": "10.0.0.1", "port": "x", "colour": "red"},
            "b": {"modules": {"mysql": {"instances": 0}}},
            "c": {"address": "10.0.0.3", "password_env": "not a name"},
        }
    }
    errs = errors_of(bad)
    joined = "\n".join(errs)
    assert "inv.yaml: hosts.a.port: expected an integer" in joined
    assert "inv.yaml: hosts.a.colour: unknown field" in joined
    assert "inv.yaml: hosts.b.address: is required" in joined
    assert "inv.yaml: hosts.b.modules.mysql.instances: must be >= 1" in joined
    assert "inv.yaml: hosts.c.password_env: 'not a name' is not an environment variable" in joined


def test_a_password_in_the_file_is_refused() -> None:
    errs = errors_of({"hosts": {"a": {"address": "h", "password": "hunter2"}}})
    assert any("hosts.a.password: passwords are not kept" in e for e in errs)
    assert not any("hunter2" in e for e in errs)
    errs = errors_of({"defaults": {"sudo_password": "x"}, "hosts": {"a": {"address": "h"}}})
    assert any("defaults.sudo_password" in e for e in errs)


def test_duplicate_machine_and_empty_hosts() -> None:
    errs = errors_of({"hosts": {"a": {"address": "h"}, "b": {"address": "h"}}})
    assert any("hosts.b.address: h:22 is also host a" in e for e in errs)
    assert any("hosts: names no host" in e for e in errors_of({"hosts": {}}))


def test_password_env_is_read_at_connect_time(monkeypatch) -> None:
    inv = parse_inventory(GOOD, "inv.yaml")
    with pytest.raises(UsageError, match="PW_C is not set"):
        inv.hosts["c"].host_spec({})
    spec = inv.hosts["c"].host_spec({"PW_C": "s3cret"})
    assert spec.password == "s3cret" and "s3cret" not in repr(spec)


def test_load_inventory_reports_yaml_line(tmp_path) -> None:
    p = tmp_path / "inv.yaml"
    p.write_text("hosts:\n  a: {address: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_inventory(str(p))
    p.write_text(yaml.safe_dump(GOOD))
    assert set(load_inventory(str(p)).hosts) == {"a", "b", "c", "d"}


def test_from_targets() -> None:
    inv = from_targets(["root@10.0.0.1", "deploy@10.0.0.2:2222"])
    assert [(h.user, h.address, h.port) for h in inv.hosts.values()] == [
        ("root", "10.0.0.1", 22),
        ("deploy", "10.0.0.2", 2222),
    ]
    with pytest.raises(UsageError, match="given twice"):
        from_targets(["a", "root@a"])


# -- wiring and order ------------------------------------------------------------------------


def test_face_servers_are_wired_to_the_license_and_mysql_hosts() -> None:
    plan = plan_fleet(parse_inventory(GOOD, "inv.yaml"), SPECS)
    c = plan.hosts["c"]
    assert c.overrides["license_server_host"] == "10.0.0.1"
    assert c.overrides["mysql_host"] == "10.0.0.2"
    assert c.overrides["license_check_interval"] == 5
    assert c.elsewhere == {"license-server", "mysql"}
    assert sorted(c.after) == ["a", "b"] and plan.hosts["a"].after == []
    assert plan.waves() == [["a", "b"], ["c", "d"]]
    assert "license_server_host" not in plan.hosts["a"].overrides


def test_provider_port_follows_and_explicit_values_win() -> None:
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    data["hosts"]["b"]["vars"] = {"mysql_port": 3306}
    data["hosts"]["d"]["vars"] = {"license_server_host": "10.9.9.9"}
    plan = plan_fleet(parse_inventory(data, "inv.yaml"), SPECS)
    assert plan.hosts["c"].overrides["mysql_port"] == 3306
    assert plan.hosts["d"].overrides["license_server_host"] == "10.9.9.9"
    assert plan.hosts["d"].overrides["mysql_host"] == "10.0.0.2"
    assert "license_server_host" not in plan.hosts["d"].wired


def test_same_host_dependency_is_not_wired() -> None:
    inv = parse_inventory(
        {"hosts": {"one": {"address": "h1", "modules": ["license-server", "mysql", "face-server"]}}}
    )
    hp = plan_fleet(inv, SPECS).hosts["one"]
    assert hp.after == [] and hp.elsewhere == frozenset()
    assert "mysql_host" not in hp.overrides


def test_missing_or_ambiguous_dependency_is_an_error_naming_the_fix() -> None:
    data = {"hosts": {"c": {"address": "h3", "modules": ["face-server"]}}}
    with pytest.raises(SpecError) as exc:
        plan_fleet(parse_inventory(data, "inv.yaml"), SPECS)
    assert "hosts.c.modules: face-server need(s) license-server" in str(exc.value)
    assert "set license_server_host in hosts.c.vars" in str(exc.value)
    # an external service named explicitly is fine
    data["hosts"]["c"]["vars"] = {"license_server_host": "10.1.1.1", "mysql_host": "10.1.1.2"}
    hp = plan_fleet(parse_inventory(data, "inv.yaml"), SPECS).hosts["c"]
    assert hp.elsewhere == {"license-server", "mysql"} and hp.after == []
    two = {
        "hosts": {
            "a1": {"address": "1", "modules": ["license-server"]},
            "a2": {"address": "2", "modules": ["license-server"]},
            "b": {"address": "3", "modules": ["mysql"]},
            "c": {"address": "4", "modules": ["face-server"]},
        }
    }
    with pytest.raises(SpecError, match="license-server runs on several hosts"):
        plan_fleet(parse_inventory(two, "inv.yaml"), SPECS)


def test_unknown_module_and_too_many_instances() -> None:
    data = {"hosts": {"a": {"address": "1", "modules": {"nope": {}, "mysql": {"instances": 17}}}}}
    with pytest.raises(SpecError) as exc:
        plan_fleet(parse_inventory(data, "inv.yaml"), SPECS)
    assert "hosts.a.modules.nope: unknown module" in str(exc.value)
    assert "hosts.a.modules.mysql.instances: mysql allows 1 to 16" in str(exc.value)


def test_hosts_waiting_for_each_other_is_a_clear_error() -> None:
    data = {
        "hosts": {
            "a": {"address": "1", "modules": ["license-server", "face-server"]},
            "b": {"address": "2", "modules": ["mysql", "face-server"]},
        }
    }
    # face-server on a needs mysql on b; face-server on b needs license-server on a
    with pytest.raises(SpecError, match="hosts wait for each other: a -> b -> a"):
        plan_fleet(parse_inventory(data, "inv.yaml"), SPECS)
