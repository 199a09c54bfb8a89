"""What crosses hosts: only the provider variables the dependent's templates really use."""

from __future__ import annotations

import os

from installer.fleet.inherit import referenced_variables
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


def test_every_hosts_environment_is_checked_before_any_change(monkeypatch):
    """Issue 19, item 4: the face-server host needs the license-server host; both fail their
    checks. Both failures show in one run, and no host starts its install."""
    from installer.deploy.engine import InstallOptions
    from installer.deploy.preflight import EnvironmentCheckFailed
    from installer.fleet.fleet import Fleet
    from installer.fleet.inventory import parse_inventory
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
    checked: dict[str, list[str]] = {}
    started: list[str] = []

    class FakeDeployment:
        def __init__(self, name: str) -> None:
            self.name = name

        def check_environment(self, names, options):
            checked[self.name] = list(names)
            if self.name in ("a", "c"):
                raise EnvironmentCheckFailed(f"environment check failed on {self.name}: cores")

    def fake_job(self, hp, names, options):
        def run(report):
            started.append(hp.host.name)
            return Outcome(True)

        return run

    monkeypatch.setattr(Fleet, "deployment", lambda self, name, report: FakeDeployment(name))
    monkeypatch.setattr(Fleet, "_install_job", fake_job)
    monkeypatch.setattr(Fleet, "_unreachable_now", lambda self, *a: {})
    monkeypatch.setattr(Fleet, "inherited", lambda self, hp, dry_run=False: {})
    results = {r.host: r for r in Fleet(source_bundle(), inv).install(InstallOptions())}
    assert checked == {"a": ["license-server"], "b": ["mysql"], "c": ["face-server"]}
    assert started == [], "a host changed something although another failed its checks"
    assert results["a"].status == "failed" and "failed on a: cores" in results["a"].message
    assert results["c"].status == "failed" and "failed on c: cores" in results["c"].message
    assert results["b"].status == "skipped" and "nothing changed" in results["b"].message
    assert results["a"].exit_code == 3

    # all pass: the installs run, in order
    checked.clear()
    monkeypatch.setattr(
        FakeDeployment,
        "check_environment",
        lambda self, names, options: checked.setdefault(self.name, list(names)),
    )
    results = {r.host: r for r in Fleet(source_bundle(), inv).install(InstallOptions())}
    assert sorted(started) == ["a", "b", "c"] and len(checked) == 3
    assert all(r.status == "changed" for r in results.values())
