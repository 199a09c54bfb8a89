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

from installer.bundle.carry import PLATFORM, pip_python_version  # noqa: E402
from installer.bundle.lockfile import (  # noqa: E402
    LOCK_REL,
    Locked,
    canonical,
    pyproject_dependencies,
    render_lock,
)

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]


def resolve(deps: list[str], python: str) -> list[Locked]:
    with tempfile.TemporaryDirectory(prefix="sealbox-lock-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
               "-d", tmp, "--only-binary=:all:", "--platform", PLATFORM, "--implementation",
               "cp", "--python-version", pip_python_version(python), *deps]  # fmt: skip
        subprocess.run(cmd, check=True)
        out = []
        for name in sorted(os.listdir(tmp)):
            dist, version = name.split("-")[:2]
            with open(os.path.join(tmp, name), "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            out.append(Locked(canonical(dist), version, python, (digest,)))
            print(f"  {python}: {name}")
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", nargs="+", default=PYTHONS, help="target Python versions")
    args = ap.parse_args()
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
        deps = pyproject_dependencies(fh.read())
    entries = [e for py in args.python for e in resolve(deps, py)]
    path = os.path.join(ROOT, *LOCK_REL.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(render_lock(entries, deps, PLATFORM))
    print(f"{LOCK_REL}: {len(entries)} wheels for Python {', '.join(args.python)}")


if __name__ == "__main__":
    main()
