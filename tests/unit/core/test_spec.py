"""Module spec validation errors name file and path; dependency order and cycles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from installer.errors import SpecError
from installer.spec import install_order, load_modules, parse_module
from installer.spec.load import load_module_file

ROOT = Path(__file__).resolve().parents[3]


def minimal(**extra):
    doc = {
        "name": "face-server",
        "version": "1.0",
        "description": "d",
        "image": {"ref": "x:1", "archive": "images/x.tar.zst"},
        "ports": [{"name": "http", "port": 8300}],
    }
    doc.update(extra)
    return doc


def test_repository_modules_load_and_order():
    specs = load_modules(str(ROOT / "modules"))
    assert set(specs) == {"license-server", "mysql", "face-server"}
    assert install_order(specs, ["face-server"]) == ["license-server", "mysql", "face-server"]
    assert install_order(specs, ["mysql"]) == ["mysql"]
    face = specs["face-server"]
    assert face.gpu == "optional" and face.health.type == "http" and face.health.path == "/health"
    assert face.variable("http_port").default == 8300  # declared by the port
    assert specs["mysql"].variable("mysql_password").secret


def test_port_must_be_integer_error_names_file_and_path():
    doc = minimal(ports=[{"name": "http", "port": "eighty"}])
    with pytest.raises(SpecError) as exc:
        parse_module(doc, "modules/face-server.yaml", "face-server")
    assert "modules/face-server.yaml: ports[0].port: expected an integer" in str(exc.value)


def test_several_errors_reported_together():
    doc = minimal(network="overlay", gpu="maybe", instances=0, unknown_key=1)
    with pytest.raises(SpecError) as exc:
        parse_module(doc, "modules/face-server.yaml", "face-server")
    msg = str(exc.value)
    assert "network: must be one of host, bridge" in msg
    assert "gpu: must be one of none, optional, required" in msg
    assert "instances: must be >= 1" in msg
    assert "unknown_key: unknown field" in msg


def test_missing_required_and_health_port():
    doc = minimal(health={"type": "http", "port": "nope"})
    del doc["description"]
    with pytest.raises(SpecError) as exc:
        parse_module(doc, "modules/face-server.yaml", "face-server")
    assert "description: is required" in str(exc.value)
    assert "health.port: must name one of the module's ports" in str(exc.value)


def test_name_must_match_file(tmp_path):
    (tmp_path / "modules").mkdir()
    f = tmp_path / "modules" / "other.yaml"
    f.write_text(yaml.safe_dump(minimal()))
    with pytest.raises(
        SpecError,
        match="modules/other.yaml: name: is 'face-server' but the file is named other.yaml",
    ):
        load_module_file(str(f))


def test_malformed_yaml_names_line(tmp_path):
    (tmp_path / "modules").mkdir()
    f = tmp_path / "modules" / "bad.yaml"
    f.write_text("name: bad\nports: [\n  - {name: x\n")
    with pytest.raises(SpecError, match=r"modules/bad.yaml: line \d+ column \d+: malformed YAML"):
        load_module_file(str(f))


def write_specs(tmp_path, deps):
    d = tmp_path / "modules"
    d.mkdir()
    for name, depends in deps.items():
        doc = minimal(name=name, depends_on=depends)
        (d / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    return str(d)


def test_cycle_error_shows_the_cycle(tmp_path):
    d = write_specs(tmp_path, {"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    specs = load_modules(d)
    with pytest.raises(SpecError, match="dependency cycle between modules: a -> b -> c -> a"):
        install_order(specs, ["a"])
    assert install_order(specs, ["d"]) == ["d"]


def test_unknown_dependency(tmp_path):
    d = write_specs(tmp_path, {"a": ["ghost"]})
    with pytest.raises(SpecError, match="depends_on: unknown module 'ghost'"):
        load_modules(d)


def test_diamond_order_is_stable(tmp_path):
    d = write_specs(
        tmp_path, {"top": ["left", "right"], "left": ["base"], "right": ["base"], "base": []}
    )
    specs = load_modules(d)
    assert install_order(specs, ["top"]) == ["base", "left", "right", "top"]
    assert os.path.isdir(d)


def test_variable_declared_twice_is_refused(tmp_path):
    d = tmp_path / "modules"
    d.mkdir()
    for name in ("a", "b"):
        doc = minimal(
            name=name, variables={"shared_host": {"type": "host", "default": "127.0.0.1"}}
        )
        (d / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError, match="variables.shared_host: already declared"):
        load_modules(str(d))
