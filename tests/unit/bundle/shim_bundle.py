"""A small bundle for the bundle's install.py (no Docker, no index): two tiny real wheels.

`sealbox-0.1.0` holds a stand-in `installer.cli.app.main` that prints what it ran with, and
depends on `shimdep==1.0`; both are installed by the real shim with the real pip, offline.
The manifest is written by the real `manifest_bytes` and signed by the real `sign_manifest`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Optional

from installer import signing
from installer.bundle.carry import SHIM
from installer.bundle.manifest import Manifest, write_manifest
from installer.bundle.trust import sign_manifest

APP = """import os, sys
def main(prog_name=None):
    import shimdep
    print("STAND-IN SEALBOX %s %s %s" % (shimdep.MARK, os.environ["SEALBOX_SCRIPT_DIR"], sys.argv[1:]))
"""
PY = "{}.{}".format(*sys.version_info[:2])


def wheel(dest: Path, name: str, version: str, files: dict[str, bytes], requires=()) -> Path:
    """A minimal valid wheel (METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        **files,
        f"{info}/METADATA": meta.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = ""
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    out = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/RECORD", record)
    return out


def make_shim_bundle(
    root: Path,
    key: Optional[signing.PrivateKey],
    *,
    mark: str = "genuine",
    pinned: Optional[signing.PublicKey] = None,
    python: tuple[str, ...] = (PY,),
) -> Path:
    """A bundle with install.py, wheels/ and a manifest whose `carried` line lists them."""
    bundle = root / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    files = {
        "installer/__init__.py": b"__sealbox__ = True\n",
        "installer/cli/__init__.py": b"",
        "installer/cli/app.py": APP.encode(),
    }
    if pinned is not None:
        files[f"installer/bundle/trusted_keys/{pinned.id}.pub"] = pinned.pem()
    own = wheel(bundle / "wheels", "sealbox", "0.1.0", files, ["shimdep==1.0"])
    dep = wheel(bundle / "wheels", "shimdep", "1.0", {"shimdep.py": f"MARK = {mark!r}\n".encode()})
    shutil.copy(SHIM, bundle / "install.py")
    carried = []
    for path, req in ((own, "sealbox==0.1.0"), (dep, "shimdep==1.0")):
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        carried.append(
            {
                "file": f"wheels/{path.name}",
                "sha256": sha,
                "requirement": req,
                "python": list(python),
            }
        )
    files_map = {
        rel: hashlib.sha256((bundle / rel).read_bytes()).hexdigest()
        for rel in ["install.py"] + [c["file"] for c in carried]
    }
    extra = {
        "carried": {"format": 1, "lock_sha256": "0" * 64, "platform": "any", "wheels": carried}
    }
    write_manifest(str(bundle), Manifest("p", "1", [], [], files_map, "0.1.0", extra))
    if key is not None:
        sign_manifest(str(bundle), key)
    return bundle


def bare_python() -> Optional[str]:
    """An interpreter without Sealbox installed (so install.py must bootstrap), with venv."""
    for cand in (getattr(sys, "_base_executable", ""), "/usr/bin/python3"):
        if not cand or not os.path.exists(cand):
            continue
        probe = subprocess.run(
            [cand, "-I", "-c", "import venv, ensurepip\ntry:\n import typer\nexcept ImportError:\n"
             " raise SystemExit(0)\nraise SystemExit(1)"],
            capture_output=True,
        )  # fmt: skip
        if (
            probe.returncode == 0
            and subprocess.run(
                [cand, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            == PY
        ):
            return cand
    return None


def run_shim(
    bundle: Path, tmp: Path, *args: str, pins: Optional[Path] = None, env: Optional[dict] = None
) -> subprocess.CompletedProcess:
    python = bare_python()
    assert python, "no Python without Sealbox to bootstrap from"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SEALBOX_", "PYTHON"))}
    clean.pop("VIRTUAL_ENV", None)
    clean.update(
        SEALBOX_HOME=str(tmp / "home"),
        SEALBOX_TRUSTED_KEYS_DIR=str(pins or tmp / "no-pins"),
        PIP_INDEX_URL="http://127.0.0.1:9/",  # no index: everything must come from the bundle
        **(env or {}),
    )
    return subprocess.run(
        [python, str(bundle / "install.py"), *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=str(tmp),
        timeout=300,
    )
