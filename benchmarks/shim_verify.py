#!/usr/bin/env python3
"""What the bundle's install.py spends on checking the bundle before it installs anything.

Figures beside their references, on a carried bundle (default: the demo bundle):
- signature: read manifest.yaml + manifest.sig and verify with the shim's pure-Python Ed25519,
  beside the same check with `cryptography` (OpenSSL);
- wheels: copy this Python's carried wheels to a private folder hashing them (the shim's
  staging, first run only), beside a plain copy of the same files;
- warm command: `python3 install.py se --json` with the venv already built (signature check +
  stamp compare + exec), beside running the same command in that venv directly, and the
  shim's own part of it (`bootstrap()` in-process: pins, read, verify, stamp compare).

Usage: python benchmarks/shim_verify.py [--bundle build/demo-bundle] [--trust vendor.pub] [--runs 7]
(build the bundle first: python scripts/build_demo_bundle.py --carry)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _common import ROOT, median, print_table, timed

from installer import signing
from installer.bundle.trust import check_signature


def load_shim():
    path = os.path.join(ROOT, "installer", "bundle", "install_shim.py")
    spec = importlib.util.spec_from_file_location("install_shim", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def bare_python() -> str:
    for cand in (getattr(sys, "_base_executable", ""), "/usr/bin/python3"):
        if cand and subprocess.run([cand, "-c", "import typer"], capture_output=True).returncode:
            return cand
    raise SystemExit("error: no python3 without Sealbox installed to run install.py with")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    ap.add_argument("--trust", default=os.path.join(ROOT, "build", "demo-vendor", "vendor.pub"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--command", default="se --json", help="the install.py command to time")
    args = ap.parse_args()
    shim = load_shim()
    bundle = os.path.abspath(args.bundle)
    pub = signing.load_public(args.trust)
    pins = {pub.id: pub.key.public_bytes_raw()}

    def shim_signature() -> None:
        data = shim._read(os.path.join(bundle, "manifest.yaml"), "manifest.yaml")
        sig = shim._read(os.path.join(bundle, "manifest.sig"), "manifest.sig", 4096)
        shim.check_signature(data, sig, pins)
        shim.for_this_python(shim.carried_wheels(data))

    with open(os.path.join(bundle, "manifest.yaml"), "rb") as fh:
        wheels = shim.for_this_python(shim.carried_wheels(fh.read()))
    size = sum(os.path.getsize(os.path.join(bundle, w["file"])) for w in wheels)

    def staging() -> None:
        shutil.rmtree(shim.stage_wheels(bundle, wheels))

    def plain_copy() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for w in wheels:
                shutil.copy(os.path.join(bundle, w["file"]), tmp)

    rows = []
    sig_t = median([timed(shim_signature) for _ in range(args.runs)])
    ref_t = median(
        [timed(lambda: check_signature(bundle, {pub.id: pub})) for _ in range(args.runs)]
    )
    rows.append(("signature (pure-Python Ed25519)", f"{sig_t * 1000:.1f} ms",
                 "cryptography", f"{ref_t * 1000:.1f} ms", f"{sig_t / ref_t:.1f}x"))  # fmt: skip
    st = median([timed(staging) for _ in range(args.runs)])
    pc = median([timed(plain_copy) for _ in range(args.runs)])
    rows.append((f"wheels: hash + copy ({len(wheels)}, {size / 1e6:.1f} MB)", f"{st * 1000:.0f} ms",
                 "plain copy", f"{pc * 1000:.0f} ms", f"{st / pc:.2f}x"))  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="sealbox-shim-bench-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEALBOX_")}
        env.update(SEALBOX_HOME=home, SEALBOX_TRUST=args.trust)
        words = args.command.split()
        cmd = [bare_python(), os.path.join(bundle, "install.py"), *words]
        started = time.perf_counter()
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)  # builds the venv
        first = time.perf_counter() - started
        if res.returncode != 0:
            raise SystemExit(f"error: install.py {args.command}: {res.stderr.strip()[-300:]}")
        (venv,) = [d for d in os.listdir(home) if os.path.isdir(os.path.join(home, d))]
        python = os.path.join(home, venv, "bin", "python")
        direct = [python, "-I", "-c", shim.RUN, *words]
        env["SEALBOX_SCRIPT_DIR"] = bundle
        warm = median([timed(lambda: subprocess.run(cmd, env=env, check=True, capture_output=True))
                       for _ in range(args.runs)])  # fmt: skip
        os.environ.update(SEALBOX_HOME=home, SEALBOX_TRUST=args.trust)
        os.environ.pop("SEALBOX_TRUSTED_KEYS_DIR", None)
        check = median(
            [timed(lambda: shim.bootstrap(["--bundle", bundle])) for _ in range(args.runs)]
        )
        raw = median([timed(lambda: subprocess.run(direct, env=env, check=True, capture_output=True))
                      for _ in range(args.runs)])  # fmt: skip
    rows.append((f"install.py {args.command}, venv built", f"{warm:.2f} s",
                 "venv python directly", f"{raw:.2f} s", f"{(warm - raw) * 1000:+.0f} ms"))  # fmt: skip
    rows.append(("install.py's own check, venv built (pins, signature, stamp)",
                 f"{check * 1000:.1f} ms", "", "", ""))  # fmt: skip
    rows.append(
        (f"install.py {args.command}, first run (venv build)", f"{first:.1f} s", "", "", "")
    )
    print_table(f"install.py checks, {bundle} (median of {args.runs})",
                ("step", "time", "reference", "ref time", "ratio"), rows)  # fmt: skip


if __name__ == "__main__":
    main()
