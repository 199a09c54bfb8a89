#!/usr/bin/env python3
"""Re-running `install.py inall` when everything is installed and healthy.

Target: <= 2 s wall for the whole command (Python start-up included), zero images loaded, zero
containers changed. The first `inall` (not timed) deploys the demo bundle into a throwaway
state dir on alternate ports; each timed run is the command a field engineer would type.

Usage: python benchmarks/reinstall_noop.py [--runs 5] [--bundle build/demo-bundle]
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


def cli(bundle: str, state: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        os.path.join(ROOT, "install.py"),
        "--bundle",
        bundle,
        "--state-dir",
        state,
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from below_requirements import failing_items

    skips = [a for item in failing_items() for a in ("--skip-check", item)]
    # the demo bundle is signed with the demo vendor key (scripts/build_demo_bundle.py)
    os.environ.setdefault("SEALBOX_TRUST", os.path.join(ROOT, "build", "demo-vendor", "vendor.pub"))
    state = tempfile.mkdtemp(prefix="sealbox-bench-state-")
    try:
        first = cli(args.bundle, state, "inall", "-y", "--json", *PORTS, *skips)
        if first.returncode != 0:
            print(first.stderr, file=sys.stderr)
            return 1
        times, loaded, changed = [], [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            res = cli(args.bundle, state, "inall", "-y", "--json")
            times.append(time.perf_counter() - start)
            out = json.loads(res.stdout)
            loaded.append(out["images_loaded"])
            changed.append(len(out["changed"]))
        print_table(
            f"re-run of `install.py inall` with 3 modules installed and healthy ({args.runs} runs)",
            ["measure", "median", "max", "target", "ratio"],
            [
                [
                    "wall seconds",
                    f"{median(times):.2f}",
                    f"{max(times):.2f}",
                    "<= 2.00",
                    f"{median(times) / 2.0:.2f}",
                ],
                ["images loaded", max(loaded), max(loaded), "0", ""],
                ["modules changed", max(changed), max(changed), "0", ""],
            ],
        )
        return 0
    finally:
        cli(args.bundle, state, "rmall", "--purge", "--yes")


if __name__ == "__main__":
    raise SystemExit(main())
