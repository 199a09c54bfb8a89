"""Benchmark: envcheck of all profiles on this machine against the 1 s wall-time target.

Measures (a) the engine in-process (`run_checks`, one sh round trip for every fact), (b) the
same with one command per fact on a thread pool (the fallback), and (c) the whole CLI as a user
runs it (`python -m envcheck ...`, interpreter start-up included). Prints median and worst of
N runs and their ratio to the target.

    .venv/bin/python benchmarks/envcheck_local.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from envcheck import run_checks  # noqa: E402
from installer.hosts.local import LocalHost  # noqa: E402

PROFILES = ["default", "license-server", "mysql", "face-server"]
TARGET_S = 1.0


class CountingHost(LocalHost):
    """LocalHost that counts round trips (what each would cost over SSH)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def run(self, cmd, **kw):  # type: ignore[no-untyped-def]
        self.calls += 1
        return super().run(cmd, **kw)

    def read(self, path: str) -> bytes:
        self.calls += 1
        return super().read(path)


def engine(mode: str) -> tuple[float, int, int, int]:
    host = CountingHost()
    t0 = time.perf_counter()
    report = run_checks(host, PROFILES, mode=mode)
    return time.perf_counter() - t0, host.calls, len(report.facts), len(report.items)


def cli() -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "envcheck", *PROFILES, "--format", "json", "--no-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - t0


def line(label: str, times: list[float], extra: str = "") -> str:
    med, worst = statistics.median(times), max(times)
    return (
        f"{label:34} median {med:6.3f} s  worst {worst:6.3f} s  "
        f"target {TARGET_S:.1f} s  ratio {med / TARGET_S:5.2f} (worst {worst / TARGET_S:4.2f})"
        f"{'  ' + extra if extra else ''}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    n = ap.parse_args().runs
    engine("script")  # warm the page cache (docker binary, sh) before timing
    script = [engine("script") for _ in range(n)]
    each = [engine("each") for _ in range(n)]
    whole = [cli() for _ in range(n)]
    _, calls, facts, items = script[0]
    print(f"envcheck local benchmark: profiles {' '.join(PROFILES)}; {facts} facts, {items} items")
    print(f"cores {os.cpu_count()}, runs {n}")
    print(line("engine, one sh round trip", [t for t, *_ in script], f"round trips {calls}"))
    print(line("engine, one command per fact", [t for t, *_ in each], f"round trips {each[0][1]}"))
    print(line("CLI wall (python -m envcheck)", whole))


if __name__ == "__main__":
    main()
