"""The fields a module declares about itself (data, backup, accelerator, license role, check
profile): validated with path-qualified errors, defaults derived from the older fields."""

from __future__ import annotations

import pytest
import yaml

from installer.errors import SpecError
from installer.spec import load_modules, parse_module
from installer.spec.model import MODULE_SCHEMA, Accelerator, Backup, ModuleSpec
from installer.spec.schema import schema_of

SRC = "modules/redis.yaml"


def doc(**extra):  # type: ignore[no-untyped-def]
    base = {
        "name": "redis",
        "version": "7.0",
        "description": "cache",
        "image": {"ref": "r:7", "archive": "images/r.tar.zst"},
        "ports": [{"name": "redis", "port": 6379, "variable": "redis_port"}],
        "data": [{"name": "data", "container": "/data"}],
        "variables": {"redis_password": {"secret": True, "generate": 16}},
    }
    base.update(extra)
    return base


def errors(**extra) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as exc:
        parse_module(doc(**extra), SRC, "redis")
    return str(exc.value)


def test_the_schema_is_derived_from_the_model_fields() -> None:
    assert list(MODULE_SCHEMA)[:4] == ["name", "version", "description", "image"]
    assert "source" not in MODULE_SCHEMA  # set by the loader, never read from YAML
    assert MODULE_SCHEMA["wired_to"].items == {
        "host": MODULE_SCHEMA["wired_to"].items["host"],  # type: ignore[index]
        "port": MODULE_SCHEMA["wired_to"].items["port"],  # type: ignore[index]
    }
    assert schema_of(Backup)["method"].choices == (
        "none",
        "archive",
        "mysqldump",
        "pg_dump",
        "command",
    )
    assert set(schema_of(ModuleSpec)) == set(MODULE_SCHEMA)


def test_defaults_and_declared_fields_are_read() -> None:
    spec = parse_module(
        doc(
            backup={"method": "archive", "data": ["data"], "stop": True},
            migrates_data=True,
            accelerator={"kind": "ascend", "count": 2},
        ),
        SRC,
        "redis",
    )
    assert spec.backup == Backup(method="archive", data=("data",), stop=True)
    assert spec.migrates_data is True
    assert spec.accelerator == Accelerator(kind="ascend", count=2, required=True)
    assert spec.gpu == "none"  # the Docker engine drives NVIDIA only; Ascend is declared
    plain = parse_module(doc(), SRC, "redis")
    assert plain.backup.method == "none" and plain.license is None and not plain.migrates_data
    assert plain.accelerator.kind == "none" and plain.check_profile is None


@pytest.mark.parametrize(
    "gpu,acc",
    [
        ("required", {"kind": "nvidia", "count": 1, "required": True}),
        ("optional", {"kind": "nvidia", "count": 1, "required": False}),
        ("none", {"kind": "none", "count": 0, "required": False}),
    ],
)
def test_gpu_and_accelerator_mean_the_same(gpu, acc) -> None:  # type: ignore[no-untyped-def]
    from_gpu = parse_module(doc(gpu=gpu), SRC, "redis")
    from_acc = parse_module(doc(accelerator=acc), SRC, "redis")
    assert from_gpu.gpu == from_acc.gpu == gpu
    assert from_gpu.accelerator == from_acc.accelerator
    assert parse_module(doc(gpu=gpu, accelerator=acc), SRC, "redis").gpu == gpu


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            {"gpu": "required", "accelerator": {"kind": "nvidia", "required": False}},
            "modules/redis.yaml: accelerator: says gpu 'optional' but gpu: is 'required'",
        ),
        ({"accelerator": {"kind": "tpu"}}, "accelerator.kind: must be one of none, nvidia, ascend"),
        ({"accelerator": {"count": -1}}, "accelerator.kind: is required"),
        ({"accelerator": {"kind": "nvidia", "count": -1}}, "accelerator.count: must be >= 0"),
        ({"backup": {"method": "rsync"}}, "backup.method: must be one of none, archive,"),
        (
            {"backup": {"method": "archive", "data": ["db"]}},
            "backup.data[0]: must name one of the module's data ['data']",
        ),
        (
            {"backup": {"method": "archive"}, "data": []},
            "backup.method: archive needs a data directory",
        ),
        (
            {"backup": {"method": "command", "command": ["dump"]}},
            "backup.restore: is required for a command backup",
        ),
        (
            {"backup": {"method": "archive", "when": "daily"}},
            "backup.when: unknown field (known: command, data, database, method, password, restore, stop, user)",
        ),
        ({"migrates_data": "yes"}, "migrates_data: expected true or false, got 'yes'"),
        ({"license": {"role": "client"}}, "license.role: must be one of server, got 'client'"),
        (
            {"license": {"role": "server"}, "licensed": True},
            "licensed: the license server is not licensed itself",
        ),
        (
            {"license": {"role": "server"}},
            "license.license_data: must name one of the module's data ['data'] (default 'license')",
        ),
        ({"check_profile": {"about": "x"}}, "check_profile.items: is required"),
        (
            {"check_profile": {"items": [{"min_gb": 2}]}},
            "check_profile.items[0].id: is required: the envcheck item",
        ),
        (
            {"check_profile": {"items": [{"id": "os", "required": "no"}]}},
            "check_profile.items[0].required: expected true or false, got 'no'",
        ),
        (
            {"envcheck": [{"id": "memory"}, "memory"]},
            "envcheck[1]: expected a mapping, got 'memory'",
        ),
    ],
)
def test_bad_declarations_name_the_file_and_path(extra, message) -> None:  # type: ignore[no-untyped-def]
    msg = errors(**extra)
    assert message in msg and msg.startswith(SRC)


def test_a_license_server_is_not_licensed_by_default() -> None:
    spec = parse_module(
        doc(license={"role": "server", "license_data": "data", "state_data": "data"}), SRC, "redis"
    )
    assert spec.is_license_server and spec.licensed is False


def write(tmp_path, docs) -> str:  # type: ignore[no-untyped-def]
    d = tmp_path / "modules"
    d.mkdir()
    for body in docs:
        (d / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    return str(d)


def test_bundle_rules_for_the_new_fields(tmp_path) -> None:
    role = {"role": "server", "license_data": "data", "state_data": "data"}
    two = write(
        tmp_path,
        [
            doc(name="a", license=role, variables={}, ports=[]),
            doc(name="b", license=role, variables={}, ports=[]),
        ],
    )
    with pytest.raises(
        SpecError,
        match="modules/b.yaml: license.role: modules/a.yaml is already the license server",
    ):
        load_modules(two)
    (tmp_path / "x").mkdir()
    bad_var = write(tmp_path / "x", [doc(backup={"method": "mysqldump", "password": "nope"})])
    with pytest.raises(
        SpecError, match="modules/redis.yaml: backup.password: unknown variable 'nope'"
    ):
        load_modules(bad_var)
    (tmp_path / "y").mkdir()
    good = write(
        tmp_path / "y", [doc(backup={"method": "mysqldump", "password": "redis_password"})]
    )
    assert load_modules(good)["redis"].backup.password == "redis_password"
