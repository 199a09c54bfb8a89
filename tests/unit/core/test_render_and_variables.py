"""Template rendering (StrictUndefined) and variable resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.deploy.render import Renderer
from installer.deploy.variables import generate_secret, parse_set_options, resolve
from installer.errors import SpecError, UsageError
from installer.spec import load_modules
from tests.unit.source_bundle import source_bundle

ROOT = Path(__file__).resolve().parents[3]
SPECS = load_modules(str(ROOT / "modules"))
RENDERER = Renderer(source_bundle().templates)


class Facts:
    lan_ip = "192.0.2.10"


def resolve_all(overrides=None, answers=None, remembered=None, prompter=None, network=None):
    specs = [SPECS[n] for n in ("license-server", "mysql", "face-server")]
    return resolve(
        specs,
        overrides=overrides or {},
        answers=answers or {},
        remembered=remembered or {},
        default_context=lambda spec: {"network": network or spec.network, "facts": Facts()},
        render_default=RENDERER.render_string,
        prompter=prompter,
    )


def test_service_conf_renders_field_guide_keys_exactly():
    values = resolve_all().values
    ctx = {**values, "ports": {"http": 8301}, "instance": 1, "gpu": "1"}
    text = RENDERER.render_file("face-server/service.conf.j2", ctx)
    lines = text.splitlines()
    assert "MYSQL_SVC_SERVICE_HOST=127.0.0.1" in lines
    assert "MYSQL_SVC_SERVICE_PORT=5535" in lines
    assert "LICENSE_SERVER_HOST=127.0.0.1" in lines
    assert "LICENSE_SERVER_PORT=8887" in lines
    assert "HTTP_PORT=8301" in lines and "GPU_ID=1" in lines
    assert all("=" in line and " = " not in line for line in lines)


def test_missing_variable_names_it_and_the_template():
    with pytest.raises(SpecError) as exc:
        RENDERER.render_file("face-server/service.conf.j2", {"mysql_host": "x"})
    msg = str(exc.value)
    assert msg.startswith("templates/face-server/service.conf.j2:2:")
    assert "'mysql_port' is undefined" in msg


def test_license_host_default_depends_on_network():
    assert resolve_all().values["license_server_host"] == "127.0.0.1"  # host networking
    assert resolve_all(network="bridge").values["license_server_host"] == "192.0.2.10"


def test_secrets_generated_kept_apart_and_remembered():
    first = resolve_all()
    assert {"mysql_password", "mysql_root_password"} <= first.secrets
    assert len(first.values["mysql_password"]) == 32 and first.values["mysql_password"].isalnum()
    assert "mysql_password" not in first.public()
    again = resolve_all(remembered=first.values)
    assert again.values["mysql_password"] == first.values["mysql_password"]
    assert generate_secret(32) != generate_secret(32)


def test_precedence_set_over_answers_over_state():
    r = resolve_all(
        overrides={"http_port": "9300"},
        answers={"http_port": 9400, "mysql_host": "10.0.0.7"},
        remembered={"http_port": 9500, "mysql_host": "10.0.0.8"},
    )
    assert r.values["http_port"] == 9300 and r.sources["http_port"] == "--set"
    assert r.values["mysql_host"] == "10.0.0.7" and r.sources["mysql_host"] == "answers"


def test_bad_values_name_the_variable_and_the_fix():
    with pytest.raises(UsageError, match="variable http_port: port must be 1-65535, got 70000"):
        resolve_all(overrides={"http_port": "70000"})
    with pytest.raises(
        UsageError, match="variable mysql_host: expected an IP address or host name"
    ):
        resolve_all(overrides={"mysql_host": "bad host!"})
    with pytest.raises(UsageError, match="--set: unknown variable nope"):
        resolve_all(overrides={"nope": "1"})
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        parse_set_options(["novalue"])
    assert parse_set_options(["face-server.http_port=1"]) == {"http_port": "1"}


def test_prompt_used_only_for_prompted_variables():
    asked = []

    def prompter(var, default):
        asked.append(var.name)
        return "10.1.1.1" if var.name == "mysql_host" else (default or "")

    r = resolve_all(prompter=prompter)
    assert "mysql_host" in asked and "license_server_host" in asked
    assert "mysql_password" not in asked  # generated secret, never prompted
    assert r.values["mysql_host"] == "10.1.1.1"
