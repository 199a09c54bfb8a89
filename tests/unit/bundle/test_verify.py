"""Bundle verify: each kind of damage refused with a one-line reason; one read per archive."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from installer import signing
from installer.bundle import opened as opened_mod
from installer.bundle import verify as verify_mod
from installer.bundle.manifest import load_manifest, write_manifest
from installer.bundle.trust import (
    BundleRefused,
    check_signature,
    pin_key,
    sign_manifest,
    trusted_keys,
)
from installer.bundle.verify import verify_bundle

from .conftest import make_bundle


def reasons(bundle: Path, pub: str, deep: bool = True) -> list[str]:
    return [p.line() for p in verify_bundle(str(bundle), trusted_keys([pub]), deep=deep).problems]


def test_good_bundle_passes(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    report = verify_bundle(str(bundle), trusted_keys([pub]))
    assert report.ok, report.problems
    assert report.key_id == key.id
    assert (report.files_checked, report.archives_checked) == (2, 1)


def test_flipped_byte_in_archive(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    arc = bundle / "images" / "images.tar.zst"
    data = bytearray(arc.read_bytes())
    data[len(data) // 2] ^= 0x01
    arc.write_bytes(bytes(data))
    got = reasons(bundle, pub)
    assert len(got) == 1 and got[0].startswith("images/images.tar.zst: ")
    assert "sha256 mismatch" in got[0] or "corrupt" in got[0]
    # quick mode (install's up-front check) does not read archives: same size passes there,
    # the streaming load catches it (tests/e2e/test_bundle_e2e.py)
    assert reasons(bundle, pub, deep=False) == []


def test_truncated_archive(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    arc = bundle / "images" / "images.tar.zst"
    arc.write_bytes(arc.read_bytes()[:-100])
    for deep in (True, False):
        got = reasons(bundle, pub, deep)
        assert len(got) == 1 and "truncated" in got[0], got


def test_removed_and_extra_files(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    (bundle / "modules" / "m.yaml").unlink()
    (bundle / "modules" / "evil.yaml").write_text("name: evil\n")
    got = reasons(bundle, pub, deep=False)
    assert "modules/m.yaml: listed in the manifest but missing; copy the bundle again" in got
    assert any(g.startswith("modules/evil.yaml: not listed in the manifest") for g in got)
    assert len(got) == 2


def test_edited_file(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    (bundle / "install.py").write_text("print('owned')\n")
    got = reasons(bundle, pub, deep=False)
    assert len(got) == 1 and got[0].startswith("install.py: sha256")


def test_manifest_edited(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    text = (bundle / "manifest.yaml").read_text().replace("version: '1'", "version: '2'")
    (bundle / "manifest.yaml").write_text(text)
    got = reasons(bundle, pub)
    assert got == [
        "manifest.yaml: does not match its signature (key "
        f"{key.id}); the manifest was altered or damaged, copy the bundle again"
    ]


def test_signature_from_another_key(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    other = signing.generate()
    sign_manifest(str(bundle), other)
    got = reasons(bundle, pub)
    assert len(got) == 1 and f"signed by key {other.id}, which is not trusted" in got[0]


def test_wrong_image_id_even_when_signed(tmp_path, vendor):
    """A vendor-side mistake: the signature is fine, the archive holds another image."""
    key, pub = vendor
    bundle = make_bundle(tmp_path, key, ids=("sha256:" + "0" * 64, "sha256:" + "1" * 64))
    got = reasons(bundle, pub)
    assert len(got) == 1 and "wrong image ID" in got[0]
    assert verify_bundle(str(bundle), trusted_keys([pub]), deep=False).ok  # needs the read


def test_unsigned_refused_unless_development(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    (bundle / "manifest.sig").unlink()
    with pytest.raises(BundleRefused, match="not signed"):
        check_signature(str(bundle), trusted_keys([pub]))
    monkeypatch.setenv("SEALBOX_ALLOW_UNSIGNED", "1")
    assert check_signature(str(bundle), trusted_keys([pub])) is None


def test_no_pinned_key_refuses_a_bundle_carrying_its_own(tmp_path, vendor):
    key, _pub = vendor
    bundle = make_bundle(tmp_path, key)
    (bundle / "vendor.pub").write_bytes(key.public.pem())  # carried keys prove nothing
    with pytest.raises(BundleRefused, match="not trusted here"):
        check_signature(str(bundle), trusted_keys([]))


def test_host_pin_folder_and_pins_exclude_package_keys(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    pins = tmp_path / "pins"
    monkeypatch.setenv("SEALBOX_TRUSTED_KEYS_DIR", str(pins))
    key_id, dest = pin_key(pub)
    assert key_id == key.id and dest == str(pins / f"{key.id}.pub")
    assert oct(os.stat(dest).st_mode & 0o777) == "0o644"
    assert check_signature(str(bundle), trusted_keys()) == key.id
    # a package-pinned key is ignored once the host pins keys of its own
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    other = signing.generate()
    (pkg / f"{other.id}.pub").write_bytes(other.public.pem())
    monkeypatch.setattr("installer.bundle.trust.PACKAGE_TRUST_DIR", str(pkg))
    assert set(trusted_keys()) == {key.id}
    monkeypatch.setenv("SEALBOX_TRUSTED_KEYS_DIR", str(tmp_path / "empty"))
    assert set(trusted_keys()) == {other.id}


def test_signature_file_format(tmp_path, vendor):
    key, _ = vendor
    bundle = make_bundle(tmp_path, key)
    doc = json.loads((bundle / "manifest.sig").read_text())
    assert doc["algorithm"] == "ed25519" and doc["key_id"] == key.id and doc["format"] == 1
    signing.PublicKey(key.public.key).verify(
        signing.unb64(doc["signature"]), (bundle / "manifest.yaml").read_bytes()
    )


def test_manifest_round_trip_keeps_shared_archive_names(tmp_path, vendor):
    key, _ = vendor
    bundle = make_bundle(tmp_path, key)
    m = load_manifest(str(bundle))
    assert m.image_for("images/b.tar.zst").ref == "x/b:1"
    assert list(m.archives()) == ["images/images.tar.zst"]
    before = (bundle / "manifest.yaml").read_bytes()
    write_manifest(str(bundle), m)
    assert (bundle / "manifest.yaml").read_bytes() == before
    assert yaml.safe_load(before)["images"][0]["name"] == "images/a.tar.zst"


def test_deep_verify_reads_each_archive_once(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    arc = str(bundle / "images" / "images.tar.zst")
    read_bytes: dict[str, int] = {}

    class Counting:
        def __init__(self, fh, path):
            self.fh, self.path = fh, path

        def read(self, n=-1):
            data = self.fh.read(n)
            read_bytes[self.path] = read_bytes.get(self.path, 0) + len(data)
            return data

        def close(self):
            self.fh.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()

    real_open_regular = verify_mod.open_regular
    real_read_regular = opened_mod.read_regular

    def counting_open(path):
        return Counting(real_open_regular(path), str(path))

    def counting_read(path, limit=None):
        data = real_read_regular(path, limit)
        read_bytes[str(path)] = read_bytes.get(str(path), 0) + len(data)
        return data

    monkeypatch.setattr(verify_mod, "open_regular", counting_open)
    monkeypatch.setattr(opened_mod, "read_regular", counting_read)
    assert verify_bundle(str(bundle), trusted_keys([pub])).ok
    assert read_bytes[arc] == os.path.getsize(arc)  # hashed, decompressed, ID-checked: one read
    assert read_bytes[str(bundle / "modules" / "m.yaml")] == len(
        (bundle / "modules/m.yaml").read_bytes()
    )
    read_bytes.clear()
    assert verify_bundle(str(bundle), trusted_keys([pub]), deep=False).ok
    assert arc not in read_bytes  # install's up-front check never reads the archive
