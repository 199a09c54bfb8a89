"""An unreadable trust pin is an error naming it; a command that needs root says so first
(issue 19, item 11). Runs the CLI as an unprivileged user (setpriv) when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from installer import signing
from installer.bundle import trust

ROOT = Path(__file__).resolve().parents[3]
NOBODY = 65534

needs_setpriv = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)


def _as_nobody(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SEALBOX_")}
    full.update(env)
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        + [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full,
        cwd=ROOT,
    )


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder user nobody can traverse (pytest's own tmp folders are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="sealbox-trust-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _pin(tmp_path: Path, mode: int) -> Path:
    key = signing.generate()
    pub = tmp_path / "vendor.pub"
    pub.write_bytes(key.public.pem())
    os.chmod(pub, mode)
    return pub


CHECK = (
    "from installer.bundle import trust\n"
    "from installer.errors import SealboxError\n"
    "try:\n"
    "    trust.trusted_keys({explicit})\n"
    "    print('LOADED')\n"
    "except SealboxError as exc:\n"
    "    print(type(exc).__name__, exc.exit_code, exc)\n"
)


@needs_setpriv
@pytest.mark.parametrize("where", ["--trust", "SEALBOX_TRUST", "pin folder"])
def test_unreadable_pin_is_an_error_naming_it(tmp_path: Path, where: str) -> None:
    pub = _pin(tmp_path, 0o600)  # root's file: user nobody cannot read it
    env = {trust.TRUST_DIR_ENV: str(tmp_path / "no-pins")}
    explicit: list[str] = []
    if where == "--trust":
        explicit = [str(pub)]
    elif where == "SEALBOX_TRUST":
        env[trust.TRUST_ENV] = str(pub)
    else:
        folder = tmp_path / "pins"
        folder.mkdir(mode=0o700)  # the folder itself cannot be listed
        shutil.copy(pub, folder / "vendor.pub")
        env[trust.TRUST_DIR_ENV] = str(folder)
    res = _as_nobody(CHECK.format(explicit=explicit), env)
    assert res.returncode == 0, res.stderr
    assert "LOADED" not in res.stdout, "an unreadable pin was skipped silently"
    assert "TrustUnreadable 3" in res.stdout, res.stdout
    assert "cannot be read" in res.stdout and "sudo" in res.stdout
    named = str(pub) if where != "pin folder" else str(tmp_path / "pins")
    assert named in res.stdout


@needs_setpriv
def test_readable_pin_still_loads(tmp_path: Path) -> None:
    pub = _pin(tmp_path, 0o644)
    env = {trust.TRUST_ENV: str(pub), trust.TRUST_DIR_ENV: str(tmp_path / "no-pins")}
    res = _as_nobody(CHECK.format(explicit=[]), env)
    assert "LOADED" in res.stdout, res.stdout + res.stderr


@needs_setpriv
def test_install_as_non_root_says_root_first(tmp_path: Path) -> None:
    """Not 'not trusted here' (exit 5): the user learns that installing needs root (exit 3)."""
    pub = _pin(tmp_path, 0o600)
    bundle = tmp_path / "bundle"
    (bundle / "modules").mkdir(parents=True)
    (bundle / "manifest.yaml").write_text("product: x\n")
    os.chmod(bundle, 0o755)
    env = {trust.TRUST_ENV: str(pub), trust.TRUST_DIR_ENV: str(tmp_path / "no-pins")}
    full = {k: v for k, v in os.environ.items() if not k.startswith("SEALBOX_")}
    full.update(env)
    for argv in (["inall", "-y"], ["in", "mysql", "-y"], ["rmall"], ["li"]):
        res = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            + [sys.executable, str(ROOT / "install.py"), "--bundle", str(bundle), *argv],
            capture_output=True,
            text=True,
            env=full,
            cwd=tmp_path,
        )
        assert res.returncode == 3, (argv, res.returncode, res.stderr)
        assert "needs root" in res.stderr and "sudo" in res.stderr, res.stderr
        assert "not trusted" not in res.stderr
