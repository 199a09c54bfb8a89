"""A bundle-shaped folder for render tests: the repo's modules and templates, a manifest with
made-up image IDs and a stand-in license. Render opens the bundle like every command (files
listed with their sha256); it is an unsigned development bundle, and render never reads the
(empty) image archive."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "fixtures" / "k8s" / "golden"
FAKE_LICENSE = "# stand-in license for render tests\n-----BEGIN SEALBOX LICENSE-----\n{}\n"
# Fixed values so golden files are stable; they are test data, not real credentials.
FIXED_SECRETS = {
    "mysql_password": "GoldenPw0000000000000000000000001",
    "mysql_root_password": "GoldenRootPw00000000000000000002",
    "license_seat_key": "GoldenSeatKey" + "0" * 34 + "3",
}


def make_bundle(dest: Path, edit=None, source: Path = ROOT) -> Path:
    """Copy modules/ and templates/ of `source` (the repository's, or a product folder such as
    demo/products/ops); `edit(name, doc)` may change a module spec first."""
    shutil.copytree(source / "templates", dest / "templates")
    (dest / "modules").mkdir(parents=True)
    images = []
    for i, path in enumerate(sorted((source / "modules").glob("*.yaml"))):
        doc = yaml.safe_load(path.read_text())
        if edit is not None:
            edit(doc["name"], doc)
        (dest / "modules" / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        images.append(
            {
                "ref": doc["image"]["ref"],
                "id": f"sha256:{i:064x}",
                "file": "images/images.tar.zst",
                "sha256": "0" * 64,
                "name": doc["image"]["archive"],
            }
        )
    (dest / "license").mkdir()
    (dest / "license" / "license.cfg").write_text(FAKE_LICENSE)
    (dest / "images").mkdir()
    (dest / "images" / "images.tar.zst").write_bytes(b"")
    files = {
        str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest()
        for sub in ("modules", "templates", "license")
        for p in sorted((dest / sub).rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": 1,
        "product": "sealbox-demo",
        "version": "2026.11.0",
        "images": images,
        "files": files,
    }
    (dest / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return dest


@pytest.fixture(autouse=True)
def unsigned_bundles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALBOX_ALLOW_UNSIGNED", "1")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return make_bundle(tmp_path / "bundle")
