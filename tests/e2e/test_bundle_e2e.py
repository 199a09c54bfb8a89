"""End to end: create -> verify -> install from the created bundle; bad bundles refused.

Images: the demo images re-labelled (`sealbox-bundletest/*`, unique per session) so that
installs really load them and removing them never touches anyone else's image. Installs use a
temporary state dir (own deployment id and container names) and non-default ports.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

from installer import signing
from installer.bundle.create import create_bundle, load_definition
from installer.bundle.gate import bundle_gate
from installer.bundle.lockfile import load_lock
from installer.bundle.manifest import load_manifest
from installer.bundle.opened import open_bundle
from installer.bundle.trust import BundleRefused, sign_manifest
from installer.deploy.engine import Deployment, InstallOptions
from installer.deploy.state import StateStore
from installer.errors import SealboxError
from installer.hosts.local import LocalHost

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PORTS = {"license_port": 28887, "http_port": 28300, "mysql_port": 25535}
MODULES = ["license-server", "mysql"]  # face-server also needs a license: the License issue's e2e


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {res.stderr.strip()}")
    return res


@pytest.fixture(scope="module")
def built(tmp_path_factory, docker_engine):
    """Source tree with re-labelled images, a vendor key, and the created bundle."""
    res = subprocess.run(
        [sys.executable, str(REPO / "demo" / "build_images.py")], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    root = tmp_path_factory.mktemp("bundle-e2e")
    tag = uuid.uuid4().hex[:10]
    src = root / "src"
    shutil.copytree(REPO / "modules", src / "modules")
    shutil.copytree(REPO / "templates", src / "templates")
    refs = []
    for spec_file in sorted((src / "modules").glob("*.yaml")):
        doc = yaml.safe_load(spec_file.read_text())
        base = doc["image"]["ref"]
        new = f"sealbox-bundletest/{doc['name']}:{tag}"
        proc = subprocess.run(
            ["docker", "build", "-q", "-t", new, "-"],
            input=f"FROM {base}\nLABEL io.sealbox.test=bundle-e2e-{tag}\n",
            capture_output=True,
            text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        assert proc.returncode == 0, proc.stderr
        refs.append(new)
        spec_file.write_text(spec_file.read_text().replace(base, new))
    (src / "bundle.yaml").write_text(
        "product: bundle-e2e\nversion: '1.0'\nmodules: [license-server, mysql, face-server]\n"
    )
    key = signing.generate()
    _, pub = signing.write_keypair(key, str(root / "vendor.key"))
    assert oct(os.stat(root / "vendor.key").st_mode & 0o777) == "0o600"
    bundle = root / "bundle"
    manifest = create_bundle(load_definition(str(src / "bundle.yaml")), str(bundle), key=key)
    ids = {e.id for e in manifest.images}
    for ref in refs:  # installs must load them from the bundle
        docker("rmi", ref)
    yield {"bundle": bundle, "key": key, "pub": pub, "root": root, "refs": refs, "ids": ids}
    for ref in refs:
        docker("rmi", "-f", ref, check=False)
    for image_id in ids:
        docker("rmi", "-f", image_id, check=False)


def deployment(bundle: Path, state: Path, pub: str) -> Deployment:
    """Opened (verified) with the test's vendor key; only the bundle gate (this machine may
    fail envcheck items, and these modules need no license)."""
    host = LocalHost()
    return Deployment(
        open_bundle(str(bundle), [pub]),
        host,
        store=StateStore(host, str(state)),
        gates=[bundle_gate],
    )


def present(image_ids) -> set[str]:
    return {i for i in image_ids if docker("image", "inspect", i, check=False).returncode == 0}


def remove_images(built) -> None:
    for image_id in built["ids"]:
        docker("rmi", "-f", image_id, check=False)


def test_created_bundle_layout_and_verify(built):
    bundle = built["bundle"]
    m = load_manifest(str(bundle))
    assert list(m.archives()) == ["images/images.tar.zst"]  # one shared archive
    assert {e.name for e in m.images} == {
        "images/license-server.tar.zst",
        "images/mariadb.tar.zst",
        "images/face-server-standin.tar.zst",
    }
    e = m.images[0]
    assert e.size < e.uncompressed_size and len(e.sha256) == 64 and e.id.startswith("sha256:")
    assert (bundle / "install.py").is_file() and (bundle / "manifest.sig").is_file()
    assert any(f.startswith("wheels/sealbox-") for f in m.files)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "installer.cli.app",
            "bundle",
            "verify",
            str(bundle),
            "--json",
            "--trust",
            built["pub"],
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    assert '"ok": true' in res.stdout and built["key"].id in res.stdout


def test_install_from_created_bundle(built, tmp_path):
    # mysql alone: the license server is healthy only while it serves a license (issue 12), and
    # this bundle carries none; the shared archive still brings every image of the bundle
    remove_images(built)
    dep = deployment(built["bundle"], tmp_path / "state", built["pub"])
    try:
        result = dep.install(["mysql"], InstallOptions(overrides=PORTS))
        assert result.loaded_images == 1
        assert present(built["ids"]) == built["ids"]  # the shared archive brought all three
        names = sorted(c.name for c in dep.runtime.ours() if c.running)
        assert len(names) == 1 and all(dep.store.deployment_id in n for n in names)
        assert {p for _m, _c, p in result.endpoints} == {25535}
        again = dep.install(["mysql"], InstallOptions(overrides=PORTS))
        assert again.loaded_images == 0 and not again.applied
    finally:
        dep.remove_all(purge=True)
    assert dep.runtime.ours() == []


def _flip(bundle: Path) -> None:
    arc = bundle / "images" / "images.tar.zst"
    with open(arc, "r+b") as fh:
        fh.seek(os.path.getsize(arc) // 2)
        b = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([b[0] ^ 0xFF]))


def _truncate(bundle: Path) -> None:
    arc = bundle / "images" / "images.tar.zst"
    os.truncate(arc, os.path.getsize(arc) - 4096)


def _remove(bundle: Path) -> None:
    (bundle / "modules" / "mysql.yaml").unlink()


def _extra(bundle: Path) -> None:
    (bundle / "templates" / "backdoor.sh").write_text("#!/bin/sh\n")


def _edit_manifest(bundle: Path) -> None:
    p = bundle / "manifest.yaml"
    p.write_text(p.read_text().replace("version: '1.0'", "version: '1.1'"))


def _other_key(bundle: Path) -> None:
    sign_manifest(str(bundle), signing.generate())


def _wrong_id(built):
    def damage(bundle: Path) -> None:
        # a vendor-side mistake, properly signed: the manifest names another image ID
        text = (bundle / "manifest.yaml").read_text()
        m = load_manifest(str(bundle))
        lic = next(e.id for e in m.images if "license-server" in e.ref)  # installed first
        (bundle / "manifest.yaml").write_text(text.replace(lic, "sha256:" + "ab" * 32))
        sign_manifest(str(bundle), built["key"])

    return damage


CASES = {
    "flipped byte": (_flip, "sha256 mismatch|corrupt|docker load"),
    "truncated archive": (_truncate, "truncated"),
    "file removed": (_remove, "mysql.yaml"),
    "extra file": (_extra, "backdoor.sh: not listed"),
    "manifest edited": (_edit_manifest, "does not match its signature"),
    "other key": (_other_key, "not trusted here"),
    "wrong image ID": (None, "has ID|wrong image ID|with the signed image ID"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_bundle_refused_nothing_started_state_unchanged(built, tmp_path, case):
    remove_images(built)
    bundle = tmp_path / "bundle"
    shutil.copytree(built["bundle"], bundle)  # a real copy: the damage must not reach the original
    damage, reason = CASES[case]
    (damage or _wrong_id(built))(bundle)
    state = tmp_path / "state"
    try:
        dep = deployment(bundle, state, built["pub"])
    except BundleRefused as exc:  # refused when opened: nothing of it was parsed or used
        assert case not in ("flipped byte", "wrong image ID"), exc  # these need the archive read
        assert re.search(reason, str(exc)) and "\n" not in str(exc), str(exc)
        assert not state.exists() and present(built["ids"]) == set()
        return
    try:
        with pytest.raises(SealboxError) as exc:
            dep.install(MODULES, InstallOptions(overrides=PORTS))
        assert re.search(reason, str(exc.value)), str(exc.value)
        assert "\n" not in str(exc.value).strip() or case == "flipped byte"
        if case != "wrong image ID":
            assert isinstance(exc.value, BundleRefused) or case == "flipped byte"
        assert dep.runtime.ours() == []  # nothing created, nothing started
        assert not (state / "state.json").exists() and not (state / "secrets.json").exists()
        if case != "wrong image ID":
            assert present(built["ids"]) == set()  # no image registered from a bad archive
    finally:
        dep.remove_all(purge=True)
        remove_images(built)


def _linked_copy(bundle: Path, dest: Path) -> Path:
    """A copy of the bundle whose image archive is a hard link (no 60 MB copy)."""
    shutil.copytree(bundle, dest, ignore=shutil.ignore_patterns("images"))
    (dest / "images").mkdir()
    os.link(bundle / "images" / "images.tar.zst", dest / "images" / "images.tar.zst")
    return dest


def test_carried_sealbox_runs_offline_in_a_fresh_venv(built, tmp_path):
    """pip install --no-index --find-links wheels, then the bundle's own commands."""
    bundle = built["bundle"]
    venv = tmp_path / "venv"
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/"}
    for k in ("SEALBOX_TRUST", "SEALBOX_ALLOW_UNSIGNED", "VIRTUAL_ENV", "PYTHONPATH"):
        offline.pop(k, None)
    offline["SEALBOX_TRUSTED_KEYS_DIR"] = str(tmp_path / "no-pins")
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    res = subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(bundle / "wheels"),
            "sealbox",
        ],
        capture_output=True,
        text=True,
        env=offline,
    )
    assert res.returncode == 0, res.stderr
    # the vendor key is pinned inside the carried wheel: no --trust needed. A Sealbox already
    # importable by the interpreter is not used (issue 18): install.py runs its own venv.
    res = subprocess.run(
        [str(venv / "bin" / "python"), str(bundle / "install.py"), "bundle", "verify", "--json"],
        capture_output=True,
        text=True,
        env={**offline, "SEALBOX_HOME": str(tmp_path / "home-from-venv")},
        cwd=str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    assert '"ok": true' in res.stdout
    assert "note: not using the Sealbox importable here" in res.stderr, res.stderr
    # install.py on a bare python3 bootstraps its own venv from wheels/, offline
    env = {**offline, "SEALBOX_HOME": str(tmp_path / "home")}
    res = subprocess.run(
        ["python3", str(bundle / "install.py"), "se", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    assert '"license-server"' in res.stdout and "offline, from the bundle's wheels" in res.stderr
    assert f"signed by key {built['key'].id}" in res.stderr
    (venv_dir,) = [p for p in (tmp_path / "home").iterdir() if p.is_dir()]  # named by hashes
    assert re.fullmatch(r"sealbox-[0-9.]+-py3\.\d+-[0-9a-f]{16}", venv_dir.name)
    # the carried wheels are the lock's files, and the signed manifest records their hashes
    carried = load_manifest(str(bundle)).extra["carried"]
    lock = load_lock(str(REPO))
    assert carried["lock_sha256"] == lock.sha256
    py = "{}.{}".format(*sys.version_info[:2])
    allowed = {h for e in lock.for_python(py) for h in e.hashes}
    deps = [w for w in carried["wheels"] if not w["requirement"].startswith("sealbox==")]
    # every locked requirement is carried (a compiled one once per architecture, issue 22),
    # and nothing the lock does not hash
    assert {w["requirement"] for w in deps} == {e.requirement for e in lock.for_python(py)}
    assert all(w["sha256"] in allowed for w in deps)
    # a foreign wheel, with the vendor key pinned on the host: refused before pip runs
    tampered = _linked_copy(bundle, tmp_path / "tampered")
    victim = next(w["file"] for w in deps if w["requirement"].startswith("rich=="))
    (tampered / victim).unlink()
    shutil.copy(bundle / victim, tampered / victim)
    with zipfile.ZipFile(tampered / victim, "a") as zf:
        zf.writestr("rich/_sealbox_test_payload.py", "import os\nos.system('id')\n")
    pins = tmp_path / "pins"
    pins.mkdir()
    shutil.copy(built["pub"], pins / "vendor.pub")
    pinned = {**env, "SEALBOX_HOME": str(tmp_path / "home2"), "SEALBOX_TRUSTED_KEYS_DIR": str(pins)}
    res = subprocess.run(
        ["python3", str(tampered / "install.py"), "in", "mysql"],
        capture_output=True, text=True, env=pinned, cwd=str(tmp_path),
    )  # fmt: skip
    assert res.returncode == 5, res.stderr
    assert res.stderr.count("\n") == 1 and victim in res.stderr, res.stderr
    assert not (tmp_path / "home2").exists()  # no venv made, pip never ran
    # the genuine bundle then builds its own venv there, offline, and runs
    res = subprocess.run(
        ["python3", str(bundle / "install.py"), "se", "--json"],
        capture_output=True, text=True, env=pinned, cwd=str(tmp_path),
    )  # fmt: skip
    assert res.returncode == 0 and "offline, from the bundle's wheels" in res.stderr, res.stderr
    assert [p.name for p in (tmp_path / "home2").iterdir() if p.is_dir()] == [venv_dir.name]
    # a copy re-signed by another key is refused by that same carried Sealbox
    forged = _linked_copy(bundle, tmp_path / "forged")
    sign_manifest(str(forged), signing.generate())
    res = subprocess.run(
        [str(venv / "bin" / "sealbox"), "bundle", "verify", str(forged), "--quick"],
        capture_output=True,
        text=True,
        env=offline,
    )
    assert res.returncode == 5 and "not trusted here" in res.stderr
