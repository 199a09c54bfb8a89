"""Benchmark: wall time of fingerprint collection on this machine vs the 0.5 s target.

Measures the library call ``collect(LocalHost())`` (one shell round trip + parsing + hashing)
and the whole ``fingerprint collect`` command in a fresh Python process (what a field engineer
waits for). Run: ``.venv/bin/python benchmarks/fingerprint_collect.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fingerprint import collect, dump_secfile  # noqa: E402
from installer.hosts import LocalHost  # noqa: E402

TARGET_S = 0.5


def timed(fn, runs: int) -> list:
    fn()  # warm-up: page cache, imports
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    host = LocalHost()
    lib = timed(lambda: dump_secfile(collect(host).to_record()), args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "fingerprint.cli", "collect", "-o", tmp, "--json"]
        proc = timed(
            lambda: subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, check=True),
            max(3, args.runs // 4),
        )
    print(
        f"fingerprint collect on {os.uname().nodename} ({os.cpu_count()} cores), target {TARGET_S:.2f} s"
    )
    print(f"{'measure':<34}{'median s':>10}{'p90 s':>10}{'max s':>10}{'target s':>10}{'ratio':>9}")
    for name, xs in (("collect() library call", lib), ("`fingerprint collect` process", proc)):
        xs = sorted(xs)
        med = statistics.median(xs)
        p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
        print(
            f"{name:<34}{med:>10.3f}{p90:>10.3f}{xs[-1]:>10.3f}{TARGET_S:>10.2f}{med / TARGET_S:>8.2f}x"
        )


if __name__ == "__main__":
    main()
