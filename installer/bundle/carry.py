"""Sealbox travels inside the bundle: `install.py` at the top and the wheels it needs.

Wheels, not a zipapp: zstandard, cryptography, bcrypt, PyNaCl, psutil and PyYAML are compiled
extensions, which Python cannot import from inside a zip. The wheels are the same files pip
would install; `pip install --no-index --find-links wheels sealbox` works with no network.

Our own wheel is built from a temporary copy of the source (the checkout is never written to),
with the vendor public key pinned inside it as package data when the bundle is signed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, Optional, Sequence

from installer import signing
from installer.errors import RuntimeFailure, UsageError

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "install_shim.py")
PACKAGES = ("installer", "envcheck", "fingerprint")
PLATFORM = "manylinux2014_x86_64"  # glibc 2.17: CentOS 7 and anything newer
WHEEL_CACHE_ENV = "SEALBOX_WHEEL_CACHE"

Progress = Callable[[str], None]


def source_root() -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        raise UsageError(
            f"{root}: no pyproject.toml; run 'sealbox bundle create' from a Sealbox checkout"
        )
    return root


def wheel_cache() -> str:
    return os.environ.get(WHEEL_CACHE_ENV) or os.path.expanduser("~/.cache/sealbox/wheelhouse")


def _pip(args: list[str], what: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeFailure(f"{what} failed: {tail}")
    return res.stdout + res.stderr


def build_sealbox_wheel(
    dest: str, pinned: Optional[signing.PublicKey] = None, wheels_from: Optional[str] = None
) -> str:
    """Build sealbox-<version>-py3-none-any.whl into `dest`; returns its path."""
    root = source_root()
    with tempfile.TemporaryDirectory(prefix="sealbox-wheel-") as tmp:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        shutil.copy(os.path.join(root, "pyproject.toml"), src)
        for pkg in PACKAGES:
            shutil.copytree(
                os.path.join(root, pkg),
                os.path.join(src, pkg),
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "trusted_keys"),
            )
        if pinned is not None:
            keys = os.path.join(src, "installer", "bundle", "trusted_keys")
            os.makedirs(keys)
            with open(os.path.join(keys, f"{pinned.id}.pub"), "wb") as fh:
                fh.write(pinned.pem())
            with open(os.path.join(src, "MANIFEST.in"), "w") as fh:
                fh.write("recursive-include installer/bundle/trusted_keys *.pub\n")
        out = os.path.join(tmp, "dist")
        args = ["wheel", "--no-deps", "-q", "-w", out, src]
        if wheels_from:  # the isolated build needs setuptools and wheel from there too
            args += ["--no-index", "--find-links", wheels_from]
        _pip(args, "building the Sealbox wheel")
        built = [f for f in os.listdir(out) if f.endswith(".whl")]
        if len(built) != 1:
            raise RuntimeFailure(f"building the Sealbox wheel produced {built}")
        os.makedirs(dest, exist_ok=True)
        target = os.path.join(dest, built[0])
        shutil.copy(os.path.join(out, built[0]), target)
        return target


def download_dependencies(
    sealbox_wheel: str,
    dest: str,
    python_versions: Sequence[str],
    wheels_from: Optional[str] = None,
) -> list[str]:
    """pip download Sealbox's dependencies (binary wheels for PLATFORM) for each target Python.

    Files are cached in the wheelhouse cache so a second bundle needs no network; with
    `wheels_from` the index is not used at all (an offline vendor build machine)."""
    cache = wheel_cache()
    os.makedirs(cache, exist_ok=True)
    wanted: set[str] = set()
    for ver in python_versions:
        args = [
            "download",
            sealbox_wheel,
            "-d",
            cache,
            "--only-binary=:all:",
            "--platform",
            PLATFORM,
            "--python-version",
            ver,
            "--implementation",
            "cp",
        ]
        if wheels_from:
            args += ["--no-index", "--find-links", wheels_from]
        else:
            args += ["--find-links", cache]
        log = _pip(args, f"pip download of Sealbox's dependencies for Python {ver}")
        for m in re.finditer(r"(?:Saved|File was already downloaded) (\S+\.whl)", log):
            wanted.add(os.path.basename(m.group(1)))
    os.makedirs(dest, exist_ok=True)
    own = os.path.basename(sealbox_wheel)
    out = []
    for name in sorted(wanted - {own}):
        shutil.copy(os.path.join(cache, name), os.path.join(dest, name))
        out.append(name)
    return out


def carry_sealbox(
    out_dir: str,
    *,
    pinned: Optional[signing.PublicKey],
    python_versions: Sequence[str],
    wheels_from: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> list[str]:
    """Write install.py and wheels/ into the bundle; returns the wheel file names."""
    say = progress or (lambda _m: None)
    wheels = os.path.join(out_dir, "wheels")
    shutil.rmtree(wheels, ignore_errors=True)
    say("building the Sealbox wheel" + (f" (vendor key {pinned.id} pinned)" if pinned else ""))
    own = build_sealbox_wheel(wheels, pinned, wheels_from)
    say(f"collecting dependency wheels for Python {', '.join(python_versions)} ({PLATFORM})")
    deps = download_dependencies(own, wheels, python_versions, wheels_from)
    shutil.copy(SHIM, os.path.join(out_dir, "install.py"))
    os.chmod(os.path.join(out_dir, "install.py"), 0o755)
    return [os.path.basename(own), *deps]


def default_python_versions() -> list[str]:
    return [f"{sys.version_info.major}.{sys.version_info.minor}"]
