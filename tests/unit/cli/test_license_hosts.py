"""`license install|show|verify -i` act only where the inventory places the license server
(issue 19, item 2): a copy written on a service host was a second license in play."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from installer.cli.license import _license_server_hosts
from installer.errors import UsageError
from installer.fleet.inventory import from_targets, parse_inventory
from installer.spec.load import load_modules

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]
BUNDLE = SimpleNamespace(specs=load_modules(str(ROOT / "modules")))  # the demo's specs


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
    f = SimpleNamespace(inventory=_inv(), bundle=BUNDLE)
    _license_server_hosts(f)
    assert list(f.inventory.hosts) == ["lic"]


def test_an_inventory_without_a_license_server_is_refused() -> None:
    with pytest.raises(UsageError, match="no host runs license-server"):
        _license_server_hosts(SimpleNamespace(inventory=_inv(placed_server=False), bundle=BUNDLE))


def test_named_hosts_are_all_acted_on() -> None:
    f = SimpleNamespace(inventory=from_targets(["root@10.0.0.1", "root@10.0.0.2"]), bundle=BUNDLE)
    _license_server_hosts(f)
    assert len(f.inventory.hosts) == 2


def test_verify_outside_a_bundle_without_a_key_is_bad_usage(tmp_path, monkeypatch) -> None:
    """Issue 19, item 6: it exited 4 ("the license does not allow it") for bad usage."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    (tmp_path / "license.cfg").write_text("not a license\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SEALBOX_")}
    res = subprocess.run(
        [sys.executable, str(root / "install.py"), "license", "verify", "license.cfg"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert res.returncode == 2, res.stderr
    assert "--vendor-pub" in res.stderr
