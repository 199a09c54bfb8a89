#!/usr/bin/env python3
"""`install.py support-bundle` of the installed demo on this machine (one host).

Target: <= 10 s wall for the whole command (Python start-up included): facts, envcheck, li,
state, every container's last 2000 log lines, docker info/version, kernel log, the license
server's status and signed usage report, redaction and the archive. The first `inall` (not
timed) deploys the demo bundle into a throwaway state dir on alternate ports.

Usage: python benchmarks/support_bundle.py [--runs 3] [--bundle build/demo-bundle]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import ROOT, median, print_table

PORTS = ["--set", "license_port=48887", "--set", "http_port=48300", "--set", "mysql_port=45535"]
TARGET = 10.0


def cli(bundle: str, state: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, os.path.join(ROOT, "install.py"), "--bundle", bundle,
           "--state-dir", state, *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from below_requirements import failing_items

    skips = [a for item in failing_items() for a in ("--skip-check", item)]
    os.environ.setdefault("SEALBOX_TRUST", os.path.join(ROOT, "build", "demo-vendor", "vendor.pub"))
    state = tempfile.mkdtemp(prefix="sealbox-bench-state-")
    out_dir = tempfile.mkdtemp(prefix="sealbox-bench-support-")
    try:
        first = cli(args.bundle, state, "inall", "-y", "--json", *PORTS, *skips)
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 1
        times, sizes, files = [], [], []
        for i in range(args.runs):
            out = os.path.join(out_dir, f"support-{i}.tar.gz")
            start = time.perf_counter()
            res = cli(args.bundle, state, "support-bundle", "-o", out, "--json")
            times.append(time.perf_counter() - start)
            if res.returncode != 0:
                print(res.stderr, file=sys.stderr)
                return 1
            doc = json.loads(res.stdout)
            sizes.append(doc["size"] // 1024)
            files.append(doc["files"])
        print_table(
            f"`install.py support-bundle` of the demo, one host, 3 modules ({args.runs} runs)",
            ["measure", "median", "max", "target", "ratio"],
            [
                [
                    "wall seconds",
                    f"{median(times):.2f}",
                    f"{max(times):.2f}",
                    f"<= {TARGET:.2f}",
                    f"{median(times) / TARGET:.2f}",
                ],  # fmt: skip
                ["archive KiB", median(sizes), max(sizes), "", ""],
                ["files", median(files), max(files), "", ""],
            ],
        )
        return 0 if median(times) <= TARGET else 1
    finally:
        cli(args.bundle, state, "rmall", "--purge", "--yes")
        subprocess.run(["rm", "-rf", out_dir, state])


if __name__ == "__main__":
    sys.exit(main())
