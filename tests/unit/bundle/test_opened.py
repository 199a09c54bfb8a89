"""open_bundle: verify first, then only the verified bytes; plain files only, never a hang."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from installer.archive import regular as regular_mod
from installer.bundle import opened as opened_mod
from installer.bundle.manifest import MANIFEST
from installer.bundle.opened import VerifiedBundle, open_bundle
from installer.bundle.trust import BundleRefused
from installer.bundle.verify import verify_bundle
from installer.deploy.render import Renderer
from installer.deploy.variables import resolve
from installer.errors import SpecError
from installer.spec.load import load_modules_from_bytes

from .conftest import make_bundle, resign

PAYLOAD = "{{ cycler.__init__.__globals__.os.system('id > %s') and '0.0.0.0' }}"


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """fn() in a thread; a call still blocked after `seconds` fails the test (never hangs CI)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds}s (opened a FIFO?)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_open_keeps_the_verified_bytes_of_every_listed_file(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    vb = open_bundle(str(bundle), [pub])
    assert isinstance(vb, VerifiedBundle) and vb.key_id == key.id and vb.signed
    assert vb.root == str(bundle) and vb.manifest_bytes == (bundle / MANIFEST).read_bytes()
    assert dict(vb.files) == {
        "modules/m.yaml": b"name: m\n",
        "install.py": b"print('hi')\n",
    }
    assert vb.archive_path(vb.manifest.images[0]) == str(bundle / "images" / "images.tar.zst")
    with pytest.raises(BundleRefused, match="not listed"):
        vb.read("modules/other.yaml")


def test_later_changes_on_disk_are_never_seen(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    vb = open_bundle(str(bundle), [pub])
    (bundle / "modules" / "m.yaml").write_text("name: evil\n")
    assert vb.read("modules/m.yaml") == b"name: m\n"


@pytest.mark.parametrize("what", ["listed file", "manifest", "signature", "unlisted"])
def test_a_fifo_is_refused_by_name_at_once(tmp_path, vendor, what):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    rel = {
        "listed file": "modules/m.yaml",
        "manifest": MANIFEST,
        "signature": "manifest.sig",
        "unlisted": "modules/extra.yaml",
    }[what]
    if (bundle / rel).exists():
        (bundle / rel).unlink()
    os.mkfifo(bundle / rel)
    with pytest.raises(BundleRefused) as exc:
        within(5, lambda: open_bundle(str(bundle), [pub]))
    assert f"refused: {rel}: a FIFO (named pipe)" in str(exc.value)
    report = within(5, lambda: verify_bundle(str(bundle), {key.id: key.public}))
    assert any(p.path == rel and "FIFO" in p.reason for p in report.problems)


@pytest.mark.parametrize("deep", [True, False])
def test_a_fifo_in_place_of_an_image_archive_is_refused(tmp_path, vendor, deep):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    arc = bundle / "images" / "images.tar.zst"
    arc.unlink()
    os.mkfifo(arc)
    report = within(5, lambda: verify_bundle(str(bundle), {key.id: key.public}, deep=deep))
    assert [p.line() for p in report.problems] == [
        "images/images.tar.zst: a FIFO (named pipe), not a regular file; "
        "bundles hold plain files only"
    ]
    with pytest.raises(BundleRefused, match="images/images.tar.zst: a FIFO"):
        within(5, lambda: open_bundle(str(bundle), [pub]))


def test_symlinks_and_devices_are_refused(tmp_path, vendor):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    real = tmp_path / "m.yaml"
    real.write_bytes((bundle / "modules" / "m.yaml").read_bytes())  # same bytes, same sha256
    (bundle / "modules" / "m.yaml").unlink()
    (bundle / "modules" / "m.yaml").symlink_to(real)
    with pytest.raises(BundleRefused, match="modules/m.yaml: a symbolic link"):
        open_bundle(str(bundle), [pub])


def test_a_fifo_swapped_in_after_the_lstat_is_still_refused(tmp_path, vendor, monkeypatch):
    """The gap between lstat and open: O_NONBLOCK + fstat catch what lstat could not."""
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    target = bundle / "modules" / "m.yaml"
    real_lstat = regular_mod.lstat_regular

    def lstat_then_swap(path: str) -> os.stat_result:
        st = real_lstat(path)
        if path == str(target):
            target.unlink()
            os.mkfifo(target)
        return st

    monkeypatch.setattr(regular_mod, "lstat_regular", lstat_then_swap)
    with pytest.raises(BundleRefused, match="modules/m.yaml: a FIFO"):
        within(5, lambda: open_bundle(str(bundle), [pub]))


def test_nothing_but_manifest_and_signature_is_read_before_the_signature_checks(
    tmp_path, vendor, monkeypatch
):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    text = (bundle / MANIFEST).read_text().replace("product: p", "product: q")
    (bundle / MANIFEST).write_text(text)
    read: list[str] = []
    real = opened_mod.read_regular
    monkeypatch.setattr(
        opened_mod, "read_regular", lambda p, limit=None: read.append(p) or real(p, limit)
    )
    with pytest.raises(BundleRefused, match="does not match its signature"):
        open_bundle(str(bundle), [pub])
    assert sorted(os.path.basename(p) for p in read) == ["manifest.sig", "manifest.yaml"]


def test_unsigned_development_bundle_opens_only_when_allowed(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    (bundle / "manifest.sig").unlink()
    with pytest.raises(BundleRefused, match="manifest.sig: missing"):
        open_bundle(str(bundle), [pub])
    monkeypatch.setenv("SEALBOX_ALLOW_UNSIGNED", "1")
    vb = open_bundle(str(bundle), [pub])
    assert vb.key_id is None and vb.signer() == "UNSIGNED (development)"
    (bundle / "install.py").write_text("print('owned')\n")  # files are still checked
    with pytest.raises(BundleRefused, match="install.py: sha256"):
        open_bundle(str(bundle), [pub])


def test_a_file_larger_than_any_bundle_file_is_refused_unread(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    monkeypatch.setattr(opened_mod, "FILE_LIMIT", 4)
    with pytest.raises(BundleRefused, match="larger than any file a bundle lists"):
        open_bundle(str(bundle), [pub])


def _spec_with_default(default: str) -> bytes:
    return (
        "name: m\nversion: '1'\ndescription: d\nimage: {ref: x/a:1, archive: images/a.tar.zst}\n"
        f'variables:\n  bind:\n    type: host\n    default: "{default}"\n'
    ).encode()


def test_a_signed_spec_payload_is_stopped_by_the_sandbox(tmp_path, vendor):
    """Even the vendor's signed spec cannot reach Python: a one-line SpecError, nothing ran."""
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    marker = tmp_path / "pwned"
    (bundle / "modules" / "m.yaml").write_bytes(_spec_with_default(PAYLOAD % marker))
    resign(bundle, key)
    vb = open_bundle(str(bundle), [pub])
    renderer = Renderer(vb.templates)
    with pytest.raises(SpecError) as exc:
        resolve(
            list(vb.specs.values()),
            overrides={},
            answers={},
            remembered={},
            default_context=lambda spec: {},
            render_default=renderer.render_string,
        )
    msg = str(exc.value)
    assert "modules/m.yaml" in msg and "refused by the template sandbox" in msg
    assert "\n" not in msg and not marker.exists()


def test_specs_parse_from_bytes_with_file_names_in_errors():
    with pytest.raises(SpecError, match=r"modules/m.yaml: line \d+ column \d+: malformed YAML"):
        load_modules_from_bytes({"modules/m.yaml": b"name: [m\n"})
    specs = load_modules_from_bytes({"modules/m.yaml": _spec_with_default("1.2.3.4")})
    assert list(specs) == ["m"] and specs["m"].source == "modules/m.yaml"


def test_templates_render_from_memory_with_the_line_of_an_error():
    r = Renderer({"m/a.conf.j2": "ok\n{{ missing }}\n"})
    with pytest.raises(SpecError, match=r"templates/m/a.conf.j2:2: 'missing' is undefined"):
        r.render_file("m/a.conf.j2", {})
    with pytest.raises(SpecError, match="templates/m/b.j2: template not found"):
        r.render_file("m/b.j2", {})
    evil = Renderer({"t.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    with pytest.raises(SpecError, match="templates/t.j2:1: refused by the template sandbox"):
        evil.render_file("t.j2", {})


def test_the_manifest_hash_of_a_kept_file_matches(tmp_path, vendor):
    key, pub = vendor
    vb = open_bundle(str(make_bundle(tmp_path, key)), [pub])
    for rel, data in vb.files.items():
        assert hashlib.sha256(data).hexdigest() == vb.manifest.files[rel]


def test_open_reads_each_listed_file_once(tmp_path, vendor, monkeypatch):
    key, pub = vendor
    bundle = make_bundle(tmp_path, key)
    counts: dict[str, int] = {}
    real = opened_mod.read_regular

    def counting(path: str, limit=None) -> bytes:
        rel = str(Path(path).relative_to(bundle))
        counts[rel] = counts.get(rel, 0) + 1
        return real(path, limit)

    monkeypatch.setattr(opened_mod, "read_regular", counting)
    open_bundle(str(bundle), [pub])
    assert counts == {"manifest.yaml": 1, "manifest.sig": 1, "modules/m.yaml": 1, "install.py": 1}
