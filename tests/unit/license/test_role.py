"""Which module is the license server is declared by its spec (`license: {role: server}`),
never a name the engine knows: a vendor may call it anything."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from installer.deploy.state import ModuleRecord, State, StateStore
from installer.hosts.local import LocalHost
from installer.license import gate as G
from installer.license import store as S
from installer.license.pins import licensed_refs
from installer.spec import load_modules
from installer.spec.model import license_server

from .helpers import signed
from .test_gate_cli import FakeDeployment, bundle, live, opened  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[3]


def renamed(tmp_path: Path) -> dict:
    """The demo specs with the license server renamed to `keeper` (and its data dirs too)."""
    src = ROOT / "modules"
    dst = tmp_path / "modules"
    dst.mkdir()
    for f in src.glob("*.yaml"):
        doc = yaml.safe_load(f.read_text())
        if doc["name"] == "license-server":
            doc["name"] = "keeper"
            doc["data"] = [
                {"name": "lic", "container": "/etc/lic"},
                {"name": "st", "container": "/s"},
            ]
            doc["license"] = {"role": "server", "license_data": "lic", "state_data": "st"}
            doc["backup"] = {"method": "archive", "data": ["lic", "st"]}
            (dst / "keeper.yaml").write_text(yaml.safe_dump(doc))
            continue
        doc["depends_on"] = [
            "keeper" if d == "license-server" else d for d in doc.get("depends_on", [])
        ]
        (dst / f.name).write_text(yaml.safe_dump(doc))
    return load_modules(str(dst))


def test_the_demo_declares_its_license_server() -> None:
    specs = load_modules(str(ROOT / "modules"))
    server = license_server(specs)
    assert server is not None and server.name == "license-server" and not server.licensed
    assert S.server_of(specs) == S.ServerRef("license-server", "license", "state")


def test_a_renamed_license_server_is_found_by_its_role(tmp_path) -> None:
    specs = renamed(tmp_path)
    assert S.server_of(specs) == S.ServerRef("keeper", "lic", "st")
    refs = licensed_refs(specs, ["keeper", "mysql", "face-server"])
    assert refs == ["sealbox-demo/license-server:0.1", "sealbox-demo/face-server-standin:1.0"]


def test_the_gate_seeds_the_license_into_the_declared_server_dir(tmp_path, live) -> None:  # noqa: F811
    specs = renamed(tmp_path)
    data = signed(now=time.time() - 100)
    d = FakeDeployment(
        opened(bundle(tmp_path, data)), StateStore(LocalHost(), str(tmp_path / "st")), specs=specs
    )
    G.license_gate(d, ["keeper"], None)  # only the server: its license is put in place
    assert (tmp_path / "st/data/keeper/lic/license.cfg").read_bytes() == data
    assert not (tmp_path / "st/data/license-server").exists()


def test_commands_without_a_bundle_find_the_server_the_state_recorded(tmp_path) -> None:
    store = StateStore(LocalHost(), str(tmp_path / "st"))
    assert S.server_recorded(store) is None
    role = {"role": "server", "license_data": "lic", "state_data": "st"}
    store.save(State(modules={"keeper": ModuleRecord("keeper", "1", "1", "r", "i", license=role)}))
    assert S.server_recorded(StateStore(LocalHost(), store.root)) == S.ServerRef(
        "keeper", "lic", "st"
    )
    assert S.license_dir(store) == f"{store.root}/data/keeper/lic"
    assert S.state_dir(store) == f"{store.root}/data/keeper/st"


def test_no_server_installed_is_a_clear_error(tmp_path) -> None:
    import pytest

    from installer.errors import LicenseError

    store = StateStore(LocalHost(), str(tmp_path / "st"))
    with pytest.raises(LicenseError, match="no license server is installed under .*install the"):
        S.license_dir(store)


def test_a_state_from_before_the_role_was_recorded_still_finds_the_server(tmp_path) -> None:
    store = StateStore(LocalHost(), str(tmp_path / "st"))
    store.save(State(modules={n: ModuleRecord(n, "1", "1", "r", "i") for n in ("db", "lic")}))
    lic = tmp_path / "st/data/lic/license"
    lic.mkdir(parents=True)
    (lic / "license.cfg").write_bytes(b"x")
    assert S.server_recorded(store) == S.ServerRef("lic")


def test_licensed_modules_without_a_declared_server_are_refused(tmp_path, live) -> None:  # noqa: F811
    import pytest

    from installer.errors import LicenseError

    d = FakeDeployment(
        opened(bundle(tmp_path, signed())),
        StateStore(LocalHost(), str(tmp_path / "st")),
        specs={"app": __import__("types").SimpleNamespace(licensed=True)},
    )
    with pytest.raises(LicenseError, match="app need.s. a license, but no module of the bundle"):
        G.license_gate(d, ["app"], None)
