"""What crosses hosts: only the provider variables the dependent's templates really use."""

from __future__ import annotations

import os

from installer.fleet.fleet import referenced_variables
from installer.spec.load import load_modules
from tests.unit.source_bundle import source_bundle

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_face_server_uses_the_mysql_credentials_but_not_the_root_password() -> None:
    specs = load_modules(os.path.join(ROOT, "modules"))
    used = referenced_variables(source_bundle(), specs["face-server"])
    assert {"mysql_host", "mysql_port", "mysql_user", "mysql_password", "license_port"} <= used
    assert "mysql_root_password" not in used
    lic = referenced_variables(source_bundle(), specs["license-server"])
    assert {"license_port", "license_lease_ttl"} <= lic


def test_in_with_an_inventory_touches_only_the_placements_of_the_named_modules(monkeypatch):
    import pytest

    from installer.deploy.engine import InstallOptions
    from installer.errors import UsageError
    from installer.fleet.fleet import Fleet
    from installer.fleet.inventory import from_targets, parse_inventory
    from installer.fleet.run import Outcome

    inv = parse_inventory(
        {
            "hosts": {
                "a": {"address": "1", "modules": ["license-server"]},
                "b": {"address": "2", "modules": ["mysql"]},
                "c": {"address": "3", "modules": ["face-server"]},
            }
        }
    )
    seen: dict[str, list[str]] = {}

    def fake_job(self, hp, names, options):
        def run(report):
            seen[hp.host.name] = names
            return Outcome()

        return run

    monkeypatch.setattr(Fleet, "_install_job", fake_job)
    Fleet(source_bundle(), inv).install(InstallOptions(), ["mysql"])
    assert seen == {"a": [], "b": ["mysql"], "c": []}
    Fleet(source_bundle(), inv).install(InstallOptions(), ["face-server"])
    assert seen == {"a": ["license-server"], "b": ["mysql"], "c": ["face-server"]}
    Fleet(source_bundle(), from_targets(["x", "y"])).install(InstallOptions(), ["mysql"])
    assert seen["root@x"] == ["mysql"] and seen["root@y"] == ["mysql"]
    Fleet(source_bundle(), from_targets(["x"])).install(InstallOptions(), everything=True)
    assert seen["root@x"] == ["face-server", "license-server", "mysql"]
    with pytest.raises(UsageError, match="unknown module nope"):
        Fleet(source_bundle(), inv).install(InstallOptions(), ["nope"])
