"""A module's check profile and extra items come from its spec: they reach envcheck, the
standalone command (--bundle) and the install gate, for a module envcheck has never heard of."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from envcheck import build_plan, catalog_from_specs, cli, run_checks
from installer.deploy.preflight import envcheck_gate
from installer.errors import HostError, SpecError
from installer.spec import load_modules

from .conftest import recorded_host

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "specs" / "redis-product"


def product(tmp_path: Path, **redis_changes) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the redis fixture bundle with the redis spec changed."""
    dest = tmp_path / "bundle"
    shutil.copytree(FIXTURE, dest)
    path = dest / "modules" / "redis.yaml"
    doc = yaml.safe_load(path.read_text())
    doc.update(redis_changes)
    path.write_text(yaml.safe_dump(doc))
    return dest


def test_the_demo_profiles_are_read_from_the_specs() -> None:
    specs = load_modules(str(ROOT / "modules"))
    cat = catalog_from_specs(specs)
    assert list(cat.profiles) == ["default", *specs]  # envcheck keeps only the generic one
    assert cat.aliases == {"offline-security-server": "license-server"}
    assert cat.sources["mysql"] == "modules/mysql.yaml"


def test_a_new_module_brings_its_profile_aliases_and_extra_items() -> None:
    cat = catalog_from_specs(load_modules(str(FIXTURE / "modules")))
    assert cat.aliases == {"cache": "redis"}
    plan = {(p, s.id): s.merged() for p, s in build_plan(["cache", "app"], catalog=cat)}
    assert plan[("redis", "memory")]["min_gb"] == 2
    assert plan[("redis", "ports")]["ports"] == [6379]
    assert plan[("redis", "cpu-cores")]["min"] == 2  # its `envcheck:` item, added
    assert ("redis", "gcc") not in plan  # its own profile, not the default one
    # `app` declares only `envcheck:` items: the generic default profile, tightened
    assert plan[("app", "memory")]["min_gb"] == 1 and ("app", "gcc") in plan


@pytest.mark.parametrize(
    "change,message",
    [
        (
            {"check_profile": {"items": [{"id": "nosuch"}]}},
            "modules/redis.yaml: check_profile: profile redis: unknown item 'nosuch'",
        ),
        (
            {"check_profile": {"items": [{"id": "memory", "min_gbs": 2}]}},
            "modules/redis.yaml: check_profile: profile redis: item 'memory' has no threshold",
        ),
        (
            {"check_profile": {"aliases": ["default"], "items": [{"id": "os"}]}},
            "modules/redis.yaml: check_profile.aliases: 'default' is already a profile name",
        ),
        (
            {"envcheck": [{"min_gb": 2}]},
            "modules/redis.yaml: envcheck[0].id: is required",
        ),
    ],
)
def test_a_bad_profile_is_a_spec_error_naming_the_file(tmp_path, change, message) -> None:
    bundle = product(tmp_path, **change)
    with pytest.raises(SpecError) as exc:
        catalog_from_specs(load_modules(str(bundle / "modules")))
    assert message in str(exc.value)


def test_run_checks_uses_the_spec_thresholds(tmp_path) -> None:
    bundle = product(
        tmp_path, check_profile={"items": [{"id": "memory", "min_gb": 4096}, {"id": "arch"}]}
    )
    cat = catalog_from_specs(load_modules(str(bundle / "modules")))
    report = run_checks(recorded_host("ubuntu2004-healthy"), ["redis"], catalog=cat)
    assert [(i.id, i.status) for i in report.items] == [
        ("memory", "fail"),
        ("arch", "pass"),
        ("cpu-cores", "pass"),  # the spec's `envcheck:` item
    ]


def test_standalone_envcheck_reads_the_bundle_specs(monkeypatch, capsys, tmp_path) -> None:
    bundle = product(tmp_path, check_profile={"items": [{"id": "memory", "min_gb": 4096}]})
    monkeypatch.setattr(cli, "_host", lambda: recorded_host("ubuntu2004-healthy"))
    code = cli.main(["--bundle", str(bundle), "redis", "--no-log"])
    out, _ = capsys.readouterr()
    assert code == 3 and "memory" in out and out.splitlines()[-1].endswith("fail")
    assert cli.main(["--bundle", str(bundle), "list", "-f", "json"]) == 0
    listed = [p["profile"] for p in json.loads(capsys.readouterr().out)]
    assert listed == ["default", "redis", "app"]
    assert cli.main(["--bundle", str(bundle), "face-server", "--no-log"]) == 2
    assert "unknown profile 'face-server'" in capsys.readouterr().err


def _gate_input(specs, host, skip_checks=()):  # type: ignore[no-untyped-def]
    """What the envcheck gate reads of its GateInput: the changing plans, host, store, options."""
    host.files["/opt/sealbox/state.json"] = b"{}"
    modules = [
        SimpleNamespace(
            changes=True,
            desired=SimpleNamespace(
                spec=spec,
                instances=[SimpleNamespace(ports={p.name: p.port + 1 for p in spec.ports})],
            ),
        )
        for spec in specs.values()
    ]
    events: list = []
    inp = SimpleNamespace(
        changing=modules,
        host=host,
        store=SimpleNamespace(root="/opt/sealbox"),  # where the recorded df looked
        options=SimpleNamespace(skip_checks=tuple(skip_checks)),
        report=events.append,
        facts=None,  # no snapshot: the gate's envcheck reads the recorded host itself
    )
    return inp, events


def test_the_install_gate_checks_a_module_envcheck_never_named(tmp_path) -> None:
    bundle = product(tmp_path, check_profile={"items": [{"id": "memory", "min_gb": 4096}]})
    specs = load_modules(str(bundle / "modules"))
    inp, _ = _gate_input(specs, recorded_host("ubuntu2004-healthy"))
    with pytest.raises(HostError, match=r"environment check failed .*redis/memory"):
        envcheck_gate(inp)  # type: ignore[arg-type]
    inp, _ = _gate_input(specs, recorded_host("ubuntu2004-healthy"), ("redis/memory",))
    envcheck_gate(inp)  # type: ignore[arg-type]


def test_the_install_gate_keeps_extra_items_and_real_ports(monkeypatch, tmp_path) -> None:
    specs = load_modules(str(FIXTURE / "modules"))
    seen: dict = {}
    import envcheck

    real = envcheck.run_checks

    def spy(host, profiles, **kw):  # type: ignore[no-untyped-def]
        seen["plan"] = {
            (p, s.id): s.merged()
            for p, s in build_plan(profiles, kw["overrides"], catalog=kw["catalog"])
        }
        return real(host, profiles, **kw)

    monkeypatch.setattr(envcheck, "run_checks", spy)
    inp, _ = _gate_input(specs, recorded_host("ubuntu2004-healthy"))
    envcheck_gate(inp)  # type: ignore[arg-type]
    assert seen["plan"][("app", "memory")]["min_gb"] == 1  # app's `envcheck:` item, kept
    assert seen["plan"][("redis", "ports")]["ports"] == [6380]  # the port it will really use
    assert seen["plan"][("app", "ports")]["ports"] == [8081]
