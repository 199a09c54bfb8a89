#!/usr/bin/env python3
"""Write requirements/runtime.lock: the dependency wheels bundles carry, with their sha256.

    python scripts/lock_runtime.py [--python 3.9 3.10 ...]

For each target Python, `pip download` resolves pyproject.toml's dependencies for the bundle
platform (binary wheels only) into an empty folder; the lock records name==version and the
sha256 of each file. Needs the package index (or pip's configured mirror); run it when the
dependencies change and commit the result. Why not pip-compile: see installer/bundle/lockfile.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from installer.bundle.carry import PLATFORM, PLATFORMS, pip_python_version  # noqa: E402
from installer.bundle.lockfile import (  # noqa: E402
    LOCK_REL,
    Locked,
    canonical,
    parse_lock,
    pyproject_dependencies,
    render_lock,
)

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def resolve_one(
    deps: list[str], python: str, platform: str, keep: list[str]
) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256) of the wheels pip picks for one Python and platform
    (``keep``: name==version constraints, the versions the lock has now)."""
    with tempfile.TemporaryDirectory(prefix="sealbox-lock-") as tmp:
        cons = os.path.join(tmp, "constraints.txt")
        with open(cons, "w") as fh:
            fh.write("".join(f"{k}\n" for k in keep))
        dest = os.path.join(tmp, "wheels")
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
               "-d", dest, "--only-binary=:all:", "--platform", platform, "--implementation",
               "cp", "--python-version", pip_python_version(python), "-c", cons, *deps]  # fmt: skip
        subprocess.run(cmd, check=True)
        tmp = dest
        out = {}
        for name in sorted(os.listdir(tmp)):
            dist, version = name.split("-")[:2]
            with open(os.path.join(tmp, name), "rb") as fh:
                out[canonical(dist)] = (version, hashlib.sha256(fh.read()).hexdigest())
            print(f"  {python} {platform}: {name}")
        return out


def resolve(deps: list[str], python: str, keep: list[str]) -> list[Locked]:
    """One line per dependency and Python, with the hash of each platform's wheel (one for a
    pure-Python wheel): pip --require-hashes takes the file matching any of them."""
    found = [resolve_one(deps, python, p, keep) for p in PLATFORMS]
    out = []
    for name in sorted(found[0]):
        versions = {f[name][0] for f in found if name in f}
        if len(versions) != 1 or any(name not in f for f in found):
            raise SystemExit(f"{name} for Python {python}: not one version on {PLATFORMS}")
        hashes = tuple(dict.fromkeys(f[name][1] for f in found))
        out.append(Locked(name, versions.pop(), python, hashes))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", nargs="+", default=PYTHONS, help="target Python versions")
    ap.add_argument(
        "--keep-versions",
        action="store_true",
        help="resolve with the current lock's versions as constraints (add a platform or a "
        "Python without moving any dependency)",
    )
    args = ap.parse_args()
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        deps = pyproject_dependencies(fh.read())
    kept: dict[str, list[str]] = {}
    if args.keep_versions:
        with open(os.path.join(ROOT, *LOCK_REL.split("/")), "rb") as fh:
            for e in parse_lock(fh.read()).entries:
                kept.setdefault(e.python, []).append(e.requirement)
    entries = [e for py in args.python for e in resolve(deps, py, kept.get(py, []))]
    path = os.path.join(ROOT, *LOCK_REL.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(render_lock(entries, deps, PLATFORM))
    print(f"{LOCK_REL}: {len(entries)} wheels for Python {', '.join(args.python)}")


if __name__ == "__main__":
    main()
