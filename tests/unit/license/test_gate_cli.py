"""The install gate on a fake gate input, and the CLI's vendor/customer round trip."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest
import yaml
from typer.testing import CliRunner

from fingerprint.archive import pack_files
from fingerprint.secfile import dump_secfile
from installer.bundle.opened import VerifiedBundle, open_bundle
from installer.bundle.trust import BundleRefused
from installer.deploy.options import InstallOptions
from installer.deploy.state import StateStore
from installer.errors import LicenseError
from installer.hosts.local import LocalHost
from installer.license import gate as G
from installer.license.shipped.keys import BUNDLE_LICENSE, BUNDLE_PUBKEY
from installer.spec.model import LicenseRole

from .helpers import KEY, expired_bytes, machine, signed

COLLECT = importlib.import_module("fingerprint.collect")  # the module, not the function


@dataclass
class FakeDeployment:
    """The fields of ``GateInput`` the license gate reads (the plan's module names given)."""

    bundle: Any
    store: StateStore
    host: Any = field(default_factory=LocalHost)
    specs: Dict[str, Any] = field(default_factory=dict)
    events: List[Any] = field(default_factory=list)
    names: List[str] = field(default_factory=list)
    options: Any = field(default_factory=InstallOptions)
    facts: Any = None  # the run's snapshot; the gate hands it to fingerprint.collect.from_facts

    @property
    def manifest(self) -> Any:
        return self.bundle.manifest

    def report(self, event: Any) -> None:
        self.events.append(event)


def bundle(tmp_path, license_bytes, list_pub: bool = True) -> str:
    """An unsigned development bundle holding the vendor key and (maybe) a license."""
    b = tmp_path / "bundle"
    (b / "license").mkdir(parents=True, exist_ok=True)
    content = {BUNDLE_PUBKEY: KEY.public.pem()}
    if license_bytes is not None:
        content[BUNDLE_LICENSE] = license_bytes
    for rel, data in content.items():
        (b / rel).write_bytes(data)
    files = {
        rel: hashlib.sha256(data).hexdigest()
        for rel, data in content.items()
        if list_pub or rel != BUNDLE_PUBKEY
    }
    (b / "manifest.yaml").write_text(
        yaml.safe_dump({"product": "t", "version": "1", "files": files})
    )
    return str(b)


def opened(path: str) -> VerifiedBundle:
    os.environ["SEALBOX_ALLOW_UNSIGNED"] = "1"
    try:
        return open_bundle(path)
    finally:
        del os.environ["SEALBOX_ALLOW_UNSIGNED"]


@pytest.fixture
def live(monkeypatch):
    box = {"fp": machine()}
    monkeypatch.setattr(COLLECT, "collect", lambda host: box["fp"])
    monkeypatch.setattr(COLLECT, "from_facts", lambda facts: box["fp"])
    return box


def deployment(tmp_path, data) -> FakeDeployment:
    specs = {
        "license-server": SimpleNamespace(licensed=False, license=LicenseRole()),  # role: server
        "face-server": SimpleNamespace(licensed=True),
        "body-server": SimpleNamespace(licensed=True),
    }
    return FakeDeployment(
        opened(bundle(tmp_path, data)), StateStore(LocalHost(), str(tmp_path / "st")), specs=specs
    )


def test_gate_passes_and_puts_the_bundle_license_in_place(tmp_path, live) -> None:
    data = signed(now=__import__("time").time() - 100)
    d = deployment(tmp_path, data)
    G.license_gate(replace(d, names=["license-server", "face-server"]))
    installed = tmp_path / "st/data/license-server/license/license.cfg"
    assert installed.read_bytes() == data
    assert "license LIC-TEST-1 (ACME Bank): valid" in d.events[-1].message


@pytest.mark.parametrize(
    "case, message",
    [
        ("expired", "expired on "),
        ("machine", "not for this machine (components board serial, physical NIC MACs"),
        ("module", "module body-server not licensed"),
        ("signature", "signature invalid (file altered or wrong vendor key"),
    ],
)
def test_gate_refuses_with_the_reason(tmp_path, live, case: str, message: str) -> None:
    import time

    data = signed(now=time.time() - 100)
    names = ["license-server", "face-server"]
    if case == "expired":
        data = signed(now=time.time() - 200 * 86400, days=30)
    elif case == "machine":
        live["fp"] = machine(changed=("board_serial", "macs"))
    elif case == "module":
        names.append("body-server")
    else:
        data = data.replace(b"ACME Bank", b"ACME Bink")
    d = deployment(tmp_path, data)
    with pytest.raises(LicenseError, match="license check failed") as exc:
        G.license_gate(replace(d, names=names))
    assert message in str(exc.value) and exc.value.exit_code == 4
    assert not (tmp_path / "st/data/license-server/license/license.cfg").exists()


def test_gate_refuses_a_vendor_key_added_by_hand(tmp_path, live) -> None:
    path = bundle(tmp_path, signed(), list_pub=False)
    with pytest.raises(BundleRefused, match="license/vendor.pub: not listed in the manifest"):
        opened(path)  # the bundle is refused before any gate runs
    without_key = replace(opened(bundle(tmp_path, signed())), files={})
    d = FakeDeployment(without_key, StateStore(LocalHost(), str(tmp_path / "st")))
    d.specs = {"face-server": SimpleNamespace(licensed=True)}
    with pytest.raises(LicenseError, match="not listed in the bundle manifest"):
        G.license_gate(replace(d, names=["face-server"]))


def test_gate_lets_the_license_server_deploy_with_a_bad_license(tmp_path, live) -> None:
    d = deployment(tmp_path, expired_bytes())
    G.license_gate(replace(d, names=["license-server"]))
    assert d.events[-1].kind == "warn" and "expired on" in d.events[-1].message


def test_gate_ignores_unlicensed_plans(tmp_path) -> None:
    d = FakeDeployment("/nonexistent", StateStore(LocalHost(), str(tmp_path / "st")))
    d.specs = {"mysql": SimpleNamespace(licensed=False)}
    G.license_gate(replace(d, names=["mysql"]))
    assert d.events == []


def test_cli_keygen_issue_show_verify(tmp_path, monkeypatch) -> None:
    from installer.cli.license import app
    from installer.deploy.gates import ENGINE_GATES

    assert G.license_gate in ENGINE_GATES
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(COLLECT, "collect", lambda host: machine())
    runner = CliRunner()
    res = runner.invoke(app, ["keygen", "-o", "v.key"])
    assert res.exit_code == 0, res.output
    assert (os.stat("v.key").st_mode & 0o777) == 0o600 and os.path.exists("v.pub")
    record = machine(vm="kvm").to_record()
    (tmp_path / "finger.tar.gz").write_bytes(pack_files({record.name: dump_secfile(record)}))
    res = runner.invoke(
        app,
        ["issue", "--request", "finger.tar.gz", "--modules", "face-server=4", "--days", "90"]
        + ["--key", "v.key", "-o", "license.cfg", "--customer", "ACME"],
    )
    assert res.exit_code == 0 and "license LIC-" in res.output, res.output
    assert "show VM evidence" in res.output  # warned on stderr (mixed by CliRunner)
    res = runner.invoke(app, ["show", "license.cfg", "--vendor-pub", "v.pub", "--json"])
    shown = json.loads(res.output)
    assert shown["modules"] == {"face-server": {"instances": 4, "gpus": None}}
    assert shown["signature"].startswith("valid (key ")
    res = runner.invoke(app, ["verify", "license.cfg", "--vendor-pub", "v.pub", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["ok"] is True
    res = runner.invoke(
        app, ["verify", "license.cfg", "--vendor-pub", "v.pub", "--module", "x-server"]
    )
    assert res.exit_code == 4 and "module x-server not licensed" in res.output
    assert "BEGIN PRIVATE KEY" not in res.output


def _elsewhere(served):  # type: ignore[no-untyped-def]
    return SimpleNamespace(elsewhere=frozenset({"license-server"}), served_license=served)


def test_gate_judges_the_license_served_on_another_host(tmp_path, live) -> None:
    """Issue 19, item 2: with the license server on host "lic", the gate on "gpu" judges the
    license that server serves, and writes no second copy on "gpu" (it used to install the
    bundle's there and then pick the newest valid file it found)."""
    import time

    bundled = signed(now=time.time() - 100)
    d = deployment(tmp_path, bundled)
    local = tmp_path / "st/data/license-server/license/license.cfg"
    with pytest.raises(LicenseError, match="expired on ") as exc:
        G.license_gate(
            replace(
                d,
                names=["face-server"],
                options=_elsewhere(("lic:/srv/license.cfg", expired_bytes())),
            )
        )
    assert "lic:/srv/license.cfg" in str(exc.value) and "license install" in str(exc.value)
    assert not local.exists(), "the gate wrote a license on a host that runs no license server"

    served = signed(now=time.time() - 50, license_id="LIC-SERVED")
    G.license_gate(
        replace(d, names=["face-server"], options=_elsewhere(("lic:/srv/license.cfg", served)))
    )
    assert "LIC-SERVED" in d.events[-1].message and "lic:/srv/license.cfg" in d.events[-1].message
    assert not local.exists()
