"""Sealbox travels inside the bundle: `install.py` at the top and the wheels it needs.

Wheels, not a zipapp: zstandard, cryptography, bcrypt, PyNaCl, psutil and PyYAML are compiled
extensions, which Python cannot import from inside a zip. The wheels are the same files pip
would install; `pip install --no-index --find-links wheels sealbox` works with no network.
The dependency wheels are exactly those of requirements/runtime.lock (pip --require-hashes), so
what a vendor signs does not depend on what happened to sit in a cache.

Our own wheel is built from a temporary copy of the source (the checkout is never written to),
with the vendor public key pinned inside it as package data when the bundle is signed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Callable, Optional, Sequence

from installer import signing
from installer.bundle.lockfile import LOCK_REL, Lock, Locked, load_lock
from installer.bundle.trust import BundleRefused
from installer.errors import RuntimeFailure, UsageError
from installer.i18n import _

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "install_shim.py")
PACKAGES = ("installer", "envcheck", "fingerprint")
PLATFORMS = ("manylinux2014_x86_64", "manylinux2014_aarch64")
"""glibc 2.17 (CentOS 7 and anything newer) on x86_64 and on arm64 servers (issue 22): the lock
holds one wheel per architecture of each compiled dependency (cryptography, psutil, zstandard,
bcrypt, PyNaCl, cffi, PyYAML, MarkupSafe), so install.py works on both."""
PLATFORM = " ".join(PLATFORMS)  # the lock's platform header
CARRIED_FORMAT = 1
WHEEL_CACHE_ENV = "SEALBOX_WHEEL_CACHE"

Progress = Callable[[str], None]


def source_root() -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        raise UsageError(
            _(
                "{root}: no pyproject.toml; run 'sealbox bundle create' from a Sealbox checkout"
            ).format(root=root)
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
        raise RuntimeFailure(_("{what} failed: {tail}").format(what=what, tail=tail))
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
            raise RuntimeFailure(
                _("building the Sealbox wheel produced {built}").format(built=built)
            )
        os.makedirs(dest, exist_ok=True)
        target = os.path.join(dest, built[0])
        shutil.copy(os.path.join(out, built[0]), target)
        return target


def pip_python_version(python: str) -> str:
    """pip's --python-version for a target "3.9": its newest patch release, because a
    Requires-Python such as cryptography's `!=3.9.0,!=3.9.1` would otherwise exclude it."""
    return f"{python}.99"


def _copy_hashed(src: str, dest: str) -> str:
    """Copy src to dest and return the sha256 of the bytes copied (one read)."""
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def _refused_by_hash(stderr: str) -> Optional[str]:
    """The 'name==version from URL' pip names when a file does not match the lock's hash."""
    if "DO NOT MATCH THE HASHES" not in stderr:
        return None
    m = re.search(r"^\s+(\S+==\S+) from (\S+)", stderr, re.M)
    return f"{m.group(1)} ({m.group(2)})" if m else "a wheel"


def _download_for(
    locked: Sequence[Locked], cache: str, ver: str, plat: str, wheels_from: Optional[str]
) -> str:
    """One `pip download --require-hashes` of the locked wheels for one Python and platform
    into the cache; returns pip's output (which names the files)."""
    with tempfile.TemporaryDirectory(prefix="sealbox-req-") as tmp:
        req = os.path.join(tmp, "requirements.txt")
        with open(req, "w") as fh:
            for e in locked:
                fh.write(e.requirement + "".join(f" --hash=sha256:{h}" for h in e.hashes))
                fh.write("\n")
        args = ["download", "-r", req, "-d", cache, "--require-hashes", "--no-deps",
                "--only-binary=:all:", "--platform", plat, "--python-version",
                pip_python_version(ver), "--implementation", "cp"]  # fmt: skip
        if wheels_from:
            args += ["--no-index", "--find-links", wheels_from]
        else:
            args += ["--find-links", cache]
        res = subprocess.run(
            [sys.executable, "-m", "pip", *args, "--disable-pip-version-check"],
            capture_output=True,
            text=True,
        )
    bad = _refused_by_hash(res.stderr)
    if bad:
        raise BundleRefused(
            f"{bad}: does not match the hash in {LOCK_REL}; the file was altered (or the "
            f"lock is wrong): delete it from {wheels_from or cache} and run again"
        )
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeFailure(f"pip download of the locked wheels for Python {ver} ({plat}): {tail}")
    return res.stdout + res.stderr


def download_locked(
    lock: Lock, dest: str, python_versions: Sequence[str], wheels_from: Optional[str] = None
) -> list[dict]:
    """pip download exactly the lock's wheels (--require-hashes) for each target Python into
    `dest`; returns the carried entries {file, sha256, requirement, python}.

    Files are cached in the wheelhouse cache so a second bundle needs no network; with
    `wheels_from` the index is not used at all (an offline vendor build machine). A cached or
    offered file whose hash is not the lock's is refused, never carried."""
    cache = wheel_cache()
    os.makedirs(cache, exist_ok=True)
    os.makedirs(dest, exist_ok=True)
    carried: dict[str, dict] = {}
    for ver in python_versions:
        locked = lock.for_python(ver)
        if not locked:
            raise UsageError(
                _(
                    "{lock_rel} has no wheels for Python {ver} (it has {lock}); run 'python scripts/lock_runtime.py --python {ver} ...'"
                ).format(lock_rel=LOCK_REL, ver=ver, lock=", ".join(lock.pythons()))
            )
        allowed = {h: e for e in locked for h in e.hashes}
        log = ""
        for plat in lock.platforms:
            log += _download_for(locked, cache, ver, plat, wheels_from)
        got = {
            os.path.basename(m.group(1))
            for m in re.finditer(r"(?:Saved|File was already downloaded) (\S+\.whl)", log)
        }
        seen = set()
        for name in sorted(got):
            sha = _copy_hashed(os.path.join(cache, name), os.path.join(dest, name))
            entry = allowed.get(sha)
            if entry is None:
                os.unlink(os.path.join(dest, name))
                raise BundleRefused(
                    _(
                        "{name}: sha256 {sha}... is not in {lock_rel} for Python {ver}; delete it from {wheels_from} and run again"
                    ).format(
                        name=name,
                        sha=sha[:16],
                        lock_rel=LOCK_REL,
                        ver=ver,
                        wheels_from=wheels_from or cache,
                    )
                )
            seen.add(entry.requirement)
            item = carried.setdefault(
                name,
                {"file": f"wheels/{name}", "sha256": sha, "requirement": entry.requirement,
                 "python": []},
            )  # fmt: skip
            item["python"].append(ver)
        missing = sorted({e.requirement for e in locked} - seen)
        if missing:
            raise RuntimeFailure(
                _("pip download did not deliver {missing} for Python {ver}").format(
                    missing=", ".join(missing), ver=ver
                )
            )
    return [carried[n] for n in sorted(carried)]


def carry_sealbox(
    out_dir: str,
    *,
    pinned: Optional[signing.PublicKey],
    python_versions: Sequence[str],
    wheels_from: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> dict:
    """Write install.py and wheels/ into the bundle; returns the manifest's `carried` section:
    every wheel with its sha256, the requirement it satisfies and the Pythons it serves, and
    the sha256 of the lock they came from. install.py checks the wheels against it."""
    say = progress or (lambda _m: None)
    lock = load_lock(source_root())
    wheels = os.path.join(out_dir, "wheels")
    shutil.rmtree(wheels, ignore_errors=True)
    say("building the Sealbox wheel" + (f" (vendor key {pinned.id} pinned)" if pinned else ""))
    own = build_sealbox_wheel(wheels, pinned, wheels_from)
    say(
        _("collecting the locked wheels for Python {python_versions} ({platform})").format(
            python_versions=", ".join(python_versions), platform=lock.platform
        )
    )
    deps = download_locked(lock, wheels, python_versions, wheels_from)
    with open(own, "rb") as fh:
        own_sha = hashlib.sha256(fh.read()).hexdigest()
    version = os.path.basename(own).split("-")[1]
    mine = {"file": f"wheels/{os.path.basename(own)}", "sha256": own_sha,
            "requirement": f"sealbox=={version}", "python": list(python_versions)}  # fmt: skip
    shutil.copy(SHIM, os.path.join(out_dir, "install.py"))
    os.chmod(os.path.join(out_dir, "install.py"), 0o755)
    return {
        "format": CARRIED_FORMAT,
        "lock_sha256": lock.sha256,
        "platform": lock.platform,
        "wheels": sorted([mine, *deps], key=lambda w: w["file"]),
    }


def default_python_versions() -> list[str]:
    return [f"{sys.version_info.major}.{sys.version_info.minor}"]
