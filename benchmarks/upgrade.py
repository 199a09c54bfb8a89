#!/usr/bin/env python3
"""Upgrade v1 -> v2 of the demo product against a fresh install of v2 plus the backup's own
time, and rollback with the previous images on the host; ratios from one run.

Targets (issue 20): upgrade <= 1.2 x (fresh install of v2 + backup); rollback <= 10 s. The
demo's face-server image is a stand-in (not the ~500 MB model image of the issue): images are
already in the local engine, so neither side loads one and the ratio compares the engine's own
work (backup, recreate, health waits).

Usage: python benchmarks/upgrade.py [--v1 build/demo-bundle] [--v2 build/demo-bundle-v2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from _common import ROOT, print_table

PORTS = ["--set", "license_port=48887", "--set", "http_port=48300", "--set", "mysql_port=45535"]


def cli(bundle: str, state: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, os.path.join(ROOT, "install.py"), "--bundle", bundle,
           "--state-dir", state, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def timed(bundle: str, state: str, *args: str) -> float:
    start = time.perf_counter()
    res = cli(bundle, state, *args)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--v1", default=os.path.join(ROOT, "build", "demo-bundle"))
    ap.add_argument("--v2", default=os.path.join(ROOT, "build", "demo-bundle-v2"))
    ap.add_argument("--records", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from below_requirements import failing_items

    skips = [a for item in failing_items() for a in ("--skip-check", item)]
    os.environ.setdefault("SEALBOX_TRUST", os.path.join(ROOT, "build", "demo-vendor", "vendor.pub"))
    a = tempfile.mkdtemp(prefix="sealbox-bench-up-")
    b = tempfile.mkdtemp(prefix="sealbox-bench-fresh-")
    try:
        timed(args.v1, a, "inall", "-y", *PORTS, *skips)
        for i in range(args.records):
            body = json.dumps({"name": f"p{i}", "feature": [0.1] * 128}).encode()
            req = urllib.request.Request("http://127.0.0.1:48300/v1/faces", data=body,
                                         method="POST", headers={"Content-Type": "application/json"})  # fmt: skip
            urllib.request.urlopen(req, timeout=10).read()
        backup = timed(args.v1, a, "backup", "mysql")
        upgrade = timed(args.v2, a, "upgrade", args.v2, "-y", *skips)
        rollback = timed(args.v1, a, "rollback", "--yes")
        timed(args.v1, a, "rmall", "--purge", "--yes")
        fresh = timed(args.v2, b, "inall", "-y", *PORTS, *skips)
        base = fresh + backup
        print_table(
            f"upgrade of the demo product 2026.11.0 -> 2026.12.0, {args.records} face records",
            ["measure", "seconds", "target", "ratio"],
            [
                ["fresh install of v2", f"{fresh:.2f}", "", ""],
                ["backup of mysql", f"{backup:.2f}", "", ""],
                ["upgrade v1 -> v2", f"{upgrade:.2f}", f"<= {1.2 * base:.2f}", f"{upgrade / base:.2f} (<= 1.2)"],
                ["rollback v2 -> v1 (data restored)", f"{rollback:.2f}", "<= 10.00", f"{rollback / 10:.2f}"],
            ],
        )  # fmt: skip
        return 0
    finally:
        cli(args.v2, b, "rmall", "--purge", "--yes")
        cli(args.v1, a, "rmall", "--purge", "--yes")
        shutil.rmtree(a, ignore_errors=True)
        shutil.rmtree(b, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
