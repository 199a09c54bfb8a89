"""`sealbox k8s render` through the CLI: exit codes, files, and no secret on any output."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from installer.cli.k8s import app

from .conftest import make_bundle

runner = CliRunner()


def test_render_cli_writes_files_and_prints_no_secret(tmp_path):
    b = make_bundle(tmp_path / "b")
    out = tmp_path / "out"
    args = ["render", "-o", str(out), "--bundle", str(b), "--license-node", "n1", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = yaml.safe_load(res.stdout)
    assert doc["validated_against"] == ["1.25", "1.30", "1.37"]
    assert "Secret/mysql-secret" in doc["objects"]
    secrets = yaml.safe_load((out / ".sealbox" / "secrets.yaml").read_text())
    again = runner.invoke(app, args[:-1])
    assert again.exit_code == 0
    for value in secrets.values():
        assert value not in res.output and value not in again.output


def test_render_cli_refuses_invalid_with_exit_code_2_and_writes_nothing(tmp_path):
    def edit(name, doc):
        if name == "mysql":
            doc["data"][0]["name"] = "Bad_Name"

    b = make_bundle(tmp_path / "b", edit)
    out = tmp_path / "out"
    res = runner.invoke(app, ["render", "mysql", "-o", str(out), "--bundle", str(b)])
    assert res.exit_code != 0
    assert "StatefulSet mysql: spec.volumeClaimTemplates[0].metadata.name" in str(res.exception)
    assert not out.exists()
