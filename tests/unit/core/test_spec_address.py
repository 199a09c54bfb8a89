"""The variable that carries a provider's address is derived from `wired_to`: one answer for
the SSH fleet and the cluster, and a new provider is wired with no engine change."""

from __future__ import annotations

from pathlib import Path

from installer.fleet.inventory import parse_inventory
from installer.fleet.wiring import plan_fleet
from installer.k8s.values import cluster_defaults
from installer.spec import load_modules
from installer.spec.address import address_variables, wires

ROOT = Path(__file__).resolve().parents[3]
DEMO = load_modules(str(ROOT / "modules"))
REDIS = load_modules(str(ROOT / "tests" / "fixtures" / "specs" / "redis-product" / "modules"))


def test_demo_answer_is_what_the_old_constant_said() -> None:
    assert address_variables(DEMO) == {
        "license-server": ("license_server_host",),
        "mysql": ("mysql_host",),
    }


def test_a_new_provider_is_found_through_its_port_variable() -> None:
    assert [(w.consumer, w.provider, w.host_var) for w in wires(REDIS)] == [
        ("app", "redis", "cache_addr")
    ]
    assert address_variables(REDIS) == {"redis": ("cache_addr",)}


def test_ssh_fleet_wires_a_new_provider_by_its_spec_alone() -> None:
    inv = parse_inventory(
        {
            "hosts": {
                "cache": {
                    "address": "10.0.0.1",
                    "lan_address": "192.168.7.1",
                    "modules": ["redis"],
                    "vars": {"redis_port": 6380},
                },
                "web": {"address": "10.0.0.2", "modules": ["app"]},
            }
        },
        "inv.yaml",
    )
    web = plan_fleet(inv, REDIS).hosts["web"]
    assert web.overrides["cache_addr"] == "192.168.7.1"
    assert web.overrides["redis_port"] == 6380
    assert web.after == ["cache"]


def test_ssh_fleet_names_the_derived_variable_when_the_provider_is_missing() -> None:
    import pytest

    from installer.errors import SpecError

    inv = parse_inventory({"hosts": {"web": {"address": "10.0.0.2", "modules": ["app"]}}}, "i")
    with pytest.raises(SpecError, match="no host in the inventory runs redis; set cache_addr"):
        plan_fleet(inv, REDIS)
    external = parse_inventory(
        {
            "hosts": {
                "web": {"address": "10.0.0.2", "modules": ["app"], "vars": {"cache_addr": "x"}}
            }
        },
        "i",
    )
    assert plan_fleet(external, REDIS).hosts["web"].elsewhere == frozenset({"redis"})


def test_cluster_points_the_same_variable_at_the_provider_service() -> None:
    assert cluster_defaults(REDIS, "ns") == {"cache_addr": "redis"}
    assert cluster_defaults(DEMO, "ns") == {
        "license_server_host": "license-server",
        "mysql_host": "mysql",
    }
