"""The bundle's install.py: verify (pure-Python Ed25519, host pins, wheel hashes) before pip.

The flows run the real shim file with a Python that has no Sealbox, the real venv module and
the real pip, offline, on tiny real wheels (tests/unit/bundle/shim_bundle.py).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from installer import signing
from installer.bundle.carry import SHIM
from installer.bundle.manifest import Manifest, manifest_bytes
from installer.bundle.trust import sign_manifest

from .shim_bundle import bare_python, make_shim_bundle, run_shim, wheel

spec = importlib.util.spec_from_file_location("sealbox_install_shim", SHIM)
shim = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
spec.loader.exec_module(shim)  # type: ignore[union-attr]

# RFC 8032 section 7.1, TEST 1-3: (public key, message, signature)
RFC8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701"
        "cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d"
        "0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f7609"
        "84dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]
L = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize("pub,msg,sig", RFC8032)
def test_verifier_accepts_rfc8032_vectors_and_refuses_any_change(pub, msg, sig):
    pub_b, msg_b, sig_b = bytes.fromhex(pub), bytes.fromhex(msg), bytes.fromhex(sig)
    assert shim.ed25519_verify(pub_b, msg_b, sig_b)
    for i in (0, 31, 32, 63):  # R and S, first and last byte
        bad = bytearray(sig_b)
        bad[i] ^= 0x01
        assert not shim.ed25519_verify(pub_b, msg_b, bytes(bad))
    assert not shim.ed25519_verify(pub_b, msg_b + b"x", sig_b)
    assert not shim.ed25519_verify(bytes([pub_b[0] ^ 1]) + pub_b[1:], msg_b, sig_b)
    s = int.from_bytes(sig_b[32:], "little")  # S + L: the same point equation, not canonical
    assert not shim.ed25519_verify(pub_b, msg_b, sig_b[:32] + (s + L).to_bytes(32, "little"))
    assert not shim.ed25519_verify(pub_b, msg_b, sig_b[:63])
    assert not shim.ed25519_verify(b"\xff" * 32, msg_b, sig_b)  # y >= p: not a point encoding


def test_verifier_agrees_with_cryptography():
    for n in range(24):
        key = Ed25519PrivateKey.generate()
        raw = signing.PrivateKey(key).public
        pub = raw.key.public_bytes_raw()
        msg = os.urandom(n * 37)
        sig = key.sign(msg)
        assert shim.ed25519_verify(pub, msg, sig)
        other = Ed25519PrivateKey.generate().sign(msg)
        assert not shim.ed25519_verify(pub, msg, other)
        assert shim.key_id(pub) == raw.id  # the same key ids as installer.signing


def test_carried_line_is_what_yaml_reads_and_what_the_shim_reads():
    carried = {
        "format": 1,
        "lock_sha256": "a" * 64,
        "platform": "manylinux2014_x86_64",
        "wheels": [
            {"file": "wheels/x-1.0-py3-none-any.whl", "sha256": "b" * 64,
             "requirement": "x==1.0", "python": ["3.9", "3.11"]},
        ],
    }  # fmt: skip
    data = manifest_bytes(
        Manifest('p: "#x', "1", [], [], {"a": "c" * 64}, "0", {"carried": carried})
    )
    assert yaml.safe_load(data)["carried"] == carried  # the installed tool sees the same
    assert shim.carried_wheels(data) == carried["wheels"]
    for bad in (data + data.splitlines(keepends=True)[-1], data.replace(b"carried: ", b"c: ")):
        with pytest.raises(shim.Refused):
            shim.carried_wheels(bad)
    with pytest.raises(shim.Refused, match="malformed"):
        shim.carried_wheels(data.replace(b"wheels/x-1.0", b"wheels/../x-1.0"))


def test_shim_still_parses_on_python_3_6():
    """CentOS 7's python3 must reach the 'needs Python >= 3.9' line, not a SyntaxError."""
    with open(SHIM) as fh:
        ast.parse(fh.read(), feature_version=(3, 6))


needs_bare = pytest.mark.skipif(bare_python() is None, reason="no Python without Sealbox here")


@pytest.fixture
def vendor(tmp_path):
    key = signing.generate()
    pins = tmp_path / "pins"
    pins.mkdir()
    (pins / f"{key.id}.pub").write_bytes(key.public.pem())
    return key, pins


def _foreign(bundle: Path, mark: str = "evil") -> str:
    """Swap the dependency wheel for another one of the same name (the attacker's)."""
    tmp = bundle.parent / "foreign"
    tmp.mkdir(exist_ok=True)
    evil = wheel(tmp, "shimdep", "1.0", {"shimdep.py": f"MARK = {mark!r}\n".encode()})
    shutil.copy(evil, bundle / "wheels" / evil.name)
    return f"wheels/{evil.name}"


@needs_bare
def test_foreign_wheel_with_host_pins_is_refused_before_pip_runs(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key, pinned=key.public)
    name = _foreign(bundle)
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 5, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0] and "signed manifest" in lines[0], res.stderr
    assert not (tmp_path / "home").exists()  # no venv, no pip: nothing was installed or run
    assert "STAND-IN" not in res.stdout


@needs_bare
def test_genuine_bundle_builds_a_venv_named_by_its_wheels_and_reuses_only_that(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key)
    res = run_shim(bundle, tmp_path, "se", "--json", pins=pins)
    assert res.returncode == 0, res.stderr
    assert f"STAND-IN SEALBOX genuine {bundle} ['se', '--json']" in res.stdout
    assert f"signed by key {key.id}" in res.stderr
    (venv,) = [p for p in (tmp_path / "home").iterdir() if p.is_dir()]
    assert venv.name.startswith("sealbox-0.1.0-py") and len(venv.name.rsplit("-", 1)[1]) == 16
    again = run_shim(bundle, tmp_path, "li", pins=pins)
    assert again.returncode == 0 and "Setting up" not in again.stderr  # reused
    # a venv whose stamp does not match is rebuilt, never used
    (venv / ".sealbox-wheels").write_text("0" * 64 + "  wheels/x.whl\n")
    third = run_shim(bundle, tmp_path, "li", pins=pins)
    assert third.returncode == 0 and "Setting up" in third.stderr
    assert "STAND-IN SEALBOX genuine" in third.stdout
    # a known copy of install.py kept outside the bundle works on --bundle DIR
    (tmp_path / "trusted").mkdir()
    shutil.copy(SHIM, tmp_path / "trusted" / "install.py")
    res = run_shim(tmp_path / "trusted", tmp_path, "se", "--bundle", str(bundle), pins=pins)
    assert res.returncode == 0 and "Setting up" not in res.stderr, res.stderr
    assert f"STAND-IN SEALBOX genuine {bundle} " in res.stdout


@needs_bare
def test_a_tampered_bundle_run_once_does_not_poison_the_genuine_one(tmp_path):
    """No host pins: a wholly replaced bundle (its own key inside its own wheel) is accepted,
    which no in-bundle check can prevent; the genuine bundle of the same version afterwards
    gets its own, fresh venv instead of the tampered one."""
    evil_key = signing.generate()
    evil = make_shim_bundle(tmp_path / "evil", evil_key, mark="evil", pinned=evil_key.public)
    res = run_shim(evil, tmp_path, "se")
    assert res.returncode == 0 and "STAND-IN SEALBOX evil" in res.stdout, res.stderr
    assert "no vendor key pinned on this host" in res.stderr
    key = signing.generate()
    genuine = make_shim_bundle(tmp_path / "genuine", key, pinned=key.public)
    res = run_shim(genuine, tmp_path, "se")
    assert res.returncode == 0, res.stderr
    assert "STAND-IN SEALBOX genuine" in res.stdout and "Setting up" in res.stderr
    assert len([p for p in (tmp_path / "home").iterdir() if p.is_dir()]) == 2


@needs_bare
def test_bundle_signed_by_an_unpinned_key_is_refused(tmp_path, vendor):
    _key, pins = vendor
    other = signing.generate()  # signs, and is even pinned inside the bundle's own wheel
    bundle = make_shim_bundle(tmp_path, other, pinned=other.public)
    res = run_shim(bundle, tmp_path, "in", "mysql", pins=pins)
    assert res.returncode == 5 and f"signed by key {other.id}, which is not trusted" in res.stderr
    assert not (tmp_path / "home").exists()
    # --trust on the command line counts as a pin, like the installed tool's
    res = run_shim(bundle, tmp_path, "bundle", "verify", "--trust", str(tmp_path / "x.pub"))
    assert res.returncode == 2 and "--trust" in res.stderr and "no such file" in res.stderr


@needs_bare
def test_edited_manifest_and_unsigned_bundle_are_refused(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key)
    name = _foreign(bundle)
    sha = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    data = (bundle / "manifest.yaml").read_bytes()
    old = shim.carried_wheels(data)[1]["sha256"]
    (bundle / "manifest.yaml").write_bytes(data.replace(old.encode(), sha.encode()))
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 5 and "does not match its signature" in res.stderr
    (bundle / "manifest.sig").unlink()
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 5 and "not signed" in res.stderr
    assert not (tmp_path / "home").exists()


@needs_bare
def test_nothing_planted_beside_install_py_is_imported(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key)
    marker = tmp_path / "pwned"
    for mod in ("json", "hashlib", "zipfile", "typer", "installer"):
        path = bundle / (mod + ".py")
        path.write_text(f"open({str(marker)!r}, 'a').write({mod!r})\n")
    os.mkfifo(bundle / "wheels" / "unlisted.whl")  # never opened: not in the manifest
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 0, res.stderr
    assert not marker.exists(), marker.read_text()


@needs_bare
def test_a_fifo_in_place_of_a_wheel_is_refused_not_waited_on(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key)
    target = bundle / "wheels" / "shimdep-1.0-py3-none-any.whl"
    target.unlink()
    os.mkfifo(target)
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 5 and "not a regular file" in res.stderr


@needs_bare
def test_other_python_gets_a_one_line_error(tmp_path, vendor):
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key, python=("3.99",))
    res = run_shim(bundle, tmp_path, "se", pins=pins)
    assert res.returncode == 2 and "carries Sealbox for Python 3.99" in res.stderr


def test_shim_located_bundle_must_have_a_manifest(tmp_path):
    with pytest.raises(shim.Stop, match="not a Sealbox bundle"):
        shim.locate(["--bundle", str(tmp_path)])


def test_signature_checks_match_the_installed_tool(tmp_path):
    key = signing.generate()
    bundle = make_shim_bundle(tmp_path, key)
    sign_manifest(str(bundle), key)
    data = (bundle / "manifest.yaml").read_bytes()
    sig = (bundle / "manifest.sig").read_bytes()
    raw = key.public.key.public_bytes_raw()
    assert shim.check_signature(data, sig, {key.id: raw}) == key.id
    with pytest.raises(shim.Refused, match="not trusted here"):
        shim.check_signature(data, sig, {})
    with pytest.raises(shim.Refused, match="unreadable signature"):
        shim.check_signature(data, b"{", {key.id: raw})


@needs_bare
@pytest.mark.parametrize("other", ["older", "modified"])
def test_an_interpreter_with_another_sealbox_runs_the_carried_one(tmp_path, vendor, other):
    """Issue 18, item 3: a Sealbox already importable by the interpreter (an older version,
    or the same version modified) used to run instead of the carried wheels, skipping the
    shim's signature and wheel checks. Now install.py runs the bundle's own Sealbox."""
    key, pins = vendor
    bundle = make_shim_bundle(tmp_path, key)
    site = tmp_path / "other-site"
    (site / "installer" / "cli").mkdir(parents=True)
    version = "0.0.9" if other == "older" else "0.1.0"
    (site / "installer" / "__init__.py").write_text(
        f"__sealbox__ = True\n__version__ = {version!r}\n"
    )
    (site / "installer" / "cli" / "__init__.py").write_text("")
    (site / "installer" / "cli" / "app.py").write_text(
        "def main(prog_name=None):\n    print('OTHER SEALBOX RAN')\n"
    )
    (site / "typer.py").write_text("")  # what the old check looked for beside it
    res = run_shim(bundle, tmp_path, "se", pins=pins, env={"PYTHONPATH": str(site)})
    assert res.returncode == 0, res.stderr
    assert "OTHER SEALBOX RAN" not in res.stdout
    assert f"STAND-IN SEALBOX genuine {bundle} ['se']" in res.stdout, res.stdout
    notes = [ln for ln in res.stderr.splitlines() if ln.startswith("note: not using")]
    assert len(notes) == 1 and str(site / "installer") in notes[0], res.stderr
