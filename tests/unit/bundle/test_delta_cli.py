"""`bundle create --since` refuses a base it cannot build on before any work (no Docker)."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from installer import signing
from installer.bundle.manifest import ImageEntry, Manifest, write_manifest
from installer.bundle.trust import sign_manifest
from installer.cli.bundle import app
from installer.errors import UsageError

runner = CliRunner()


def definition(tmp_path) -> str:
    src = tmp_path / "src"
    (src / "modules").mkdir(parents=True)
    spec = {
        "name": "app",
        "version": "1.1",
        "description": "test module",
        "image": {"ref": "r/app:1.1", "archive": "images/app.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": 38001, "per_instance": False}],
        "command": ["python3", "-m", "http.server", "38001"],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.2},
    }
    (src / "modules" / "app.yaml").write_text(yaml.safe_dump(spec))
    (src / "bundle.yaml").write_text(
        yaml.safe_dump({"product": "face", "version": "1.1", "modules": ["app"]})
    )
    return str(src / "bundle.yaml")


def old_bundle(tmp_path, product: str, key=None):
    old = tmp_path / f"old-{product}"
    old.mkdir()
    write_manifest(
        str(old), Manifest(product, "1.0", [ImageEntry("r/app:1.0", "sha256:0", "f", "s")])
    )
    if key is not None:
        sign_manifest(str(old), key)
    return old


@pytest.fixture()
def no_docker(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"docker called: {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_an_unsigned_base_is_refused_and_nothing_is_written(tmp_path, no_docker):
    out = tmp_path / "out"
    old = old_bundle(tmp_path, "face")
    res = runner.invoke(app, ["create", definition(tmp_path), "-o", str(out), "--no-wheels",
                              "--since", str(old / "manifest.yaml")])  # fmt: skip
    assert isinstance(res.exception, UsageError) and res.exception.exit_code == 2
    assert "no manifest.sig" in str(res.exception) and not out.exists()


def test_another_products_base_is_refused_and_nothing_is_written(tmp_path, no_docker):
    key = signing.generate()
    keyfile, _pub = signing.write_keypair(key, str(tmp_path / "vendor.key"))
    out = tmp_path / "out"
    old = old_bundle(tmp_path, "ops", key)
    res = runner.invoke(app, ["create", definition(tmp_path), "-o", str(out), "--no-wheels",
                              "--key", keyfile, "--since", str(old)])  # fmt: skip
    assert isinstance(res.exception, UsageError), res.output
    assert "a bundle of ops, not face" in str(res.exception)
    assert not (out / "images").exists() and not (out / "manifest.yaml").exists()
