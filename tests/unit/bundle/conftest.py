"""A small fake bundle (no Docker): a docker-save-shaped tar, zstd-compressed, signed."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from installer import signing
from installer.bundle.manifest import ImageEntry, Manifest, write_manifest
from installer.bundle.trust import sign_manifest


def save_tar(configs: list[bytes], layer: bytes = b"L" * 200_000, oci: bool = False) -> bytes:
    """A tar shaped like `docker save` output: layers, configs, manifest.json at the end."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("abc123/layer.tar", layer)
        manifest = []
        for cfg in configs:
            hexd = hashlib.sha256(cfg).hexdigest()
            name = f"blobs/sha256/{hexd}" if oci else f"{hexd}.json"
            add(name, cfg)
            manifest.append({"Config": name, "RepoTags": [], "Layers": ["abc123/layer.tar"]})
        add("manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


def image_id(cfg: bytes) -> str:
    return "sha256:" + hashlib.sha256(cfg).hexdigest()


CFG_A = b'{"config": "a"}'
CFG_B = b'{"config": "b"}'


def make_bundle(root: Path, key: signing.PrivateKey, ids: tuple[str, ...] = ()) -> Path:
    bundle = root / "bundle"
    (bundle / "modules").mkdir(parents=True)
    (bundle / "images").mkdir()
    (bundle / "modules" / "m.yaml").write_text("name: m\n")
    (bundle / "install.py").write_text("print('hi')\n")
    data = zstandard.ZstdCompressor(write_checksum=True).compress(save_tar([CFG_A, CFG_B]))
    (bundle / "images" / "images.tar.zst").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    ids = ids or (image_id(CFG_A), image_id(CFG_B))
    images = [
        ImageEntry(f"x/{n}:1", i, "images/images.tar.zst", sha, len(data), 1, f"images/{n}.tar.zst")
        for n, i in zip(("a", "b"), ids)
    ]
    files = {
        rel: hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
        for rel in ("modules/m.yaml", "install.py")
    }
    write_manifest(str(bundle), Manifest("p", "1", images, ["m"], files, "0.1.0"))
    sign_manifest(str(bundle), key)
    return bundle


def resign(bundle: Path, key: signing.PrivateKey) -> None:
    """List the files' new sha256 and sign again: a consistent bundle with edited content."""
    import yaml

    doc = yaml.safe_load((bundle / "manifest.yaml").read_text())
    for rel in doc["files"]:
        doc["files"][rel] = hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
    (bundle / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    sign_manifest(str(bundle), key)


@pytest.fixture
def vendor(tmp_path: Path) -> tuple[signing.PrivateKey, str]:
    key = signing.generate()
    path, pub = signing.write_keypair(key, str(tmp_path / "vendor.key"))
    return key, pub


@pytest.fixture(autouse=True)
def no_host_pins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read /etc/sealbox or the environment of the machine running the tests."""
    monkeypatch.setenv("SEALBOX_TRUSTED_KEYS_DIR", str(tmp_path / "no-pins"))
    monkeypatch.delenv("SEALBOX_TRUST", raising=False)
    monkeypatch.delenv("SEALBOX_ALLOW_UNSIGNED", raising=False)
