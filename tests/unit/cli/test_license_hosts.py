"""`license install|show|verify -i` act only where the inventory places the license server
(issue 19, item 2): a copy written on a service host was a second license in play."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from installer.cli.license import _license_server_hosts
from installer.errors import UsageError
from installer.fleet.inventory import from_targets, parse_inventory


def _inv(placed_server: bool = True):  # type: ignore[no-untyped-def]
    lic = ["license-server", "mysql"] if placed_server else ["mysql"]
    return parse_inventory(
        {
            "hosts": {
                "lic": {"address": "10.0.0.1", "modules": lic},
                "gpu": {"address": "10.0.0.2", "modules": ["face-server"]},
            }
        },
        "inventory.yaml",
    )


def test_only_the_license_server_hosts_are_acted_on() -> None:
    f = SimpleNamespace(inventory=_inv())
    _license_server_hosts(f)
    assert list(f.inventory.hosts) == ["lic"]


def test_an_inventory_without_a_license_server_is_refused() -> None:
    with pytest.raises(UsageError, match="no host runs license-server"):
        _license_server_hosts(SimpleNamespace(inventory=_inv(placed_server=False)))


def test_named_hosts_are_all_acted_on() -> None:
    f = SimpleNamespace(inventory=from_targets(["root@10.0.0.1", "root@10.0.0.2"]))
    _license_server_hosts(f)
    assert len(f.inventory.hosts) == 2
