#!/usr/bin/env python3
"""envcheck and `li` over SSH: time per host, and 10 hosts in parallel vs one.

Targets: <= 3 s per host; 10 hosts in parallel <= 1.5x one host.

What is measured (as root, on this machine): N sandbox hosts (network namespaces with their own
sshd, tests/e2e/testhosts.py), each with its own dockerd (``--docker``, the default) so
``envcheck`` reads real ``docker info`` and ``li`` runs ``docker ps`` on an empty engine
with an empty state; ``--no-docker`` gives envcheck on hosts without Docker (``li`` is skipped
there: it needs Docker). Every timing is the full cost an engineer sees for the engine part:
SSH connect + key auth + sudo probe + the work, through ``installer.fleet.Fleet`` (the
same path as ``-H``), not including Python start-up. "one" = a Fleet of one host; "parallel" =
a Fleet of all hosts with ``--parallel N``. Each figure is the median of ``--repeat`` runs.

Usage: sudo .venv/bin/python benchmarks/remote_envcheck_li.py [--hosts 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from envcheck.jobs import envcheck_job  # noqa: E402
from installer.fleet import ConnectOptions, Fleet  # noqa: E402
from installer.fleet.inventory import Inventory, InventoryHost  # noqa: E402
from tests.e2e.testhosts import can_run, can_run_docker, sandbox_hosts  # noqa: E402

PROFILES = ["license-server", "mysql", "face-server"]
PER_HOST_TARGET = 3.0
PARALLEL_TARGET = 1.5


def inventory(hosts) -> Inventory:
    inv = {
        h.name: InventoryHost(h.name, h.address, h.address, key=h.client_key, connect_timeout=10)
        for h in hosts
    }
    return Inventory("bench", inv)


def fleet(hosts, kh: str, bundle: str, parallel: int) -> Fleet:
    return Fleet(
        bundle,
        inventory(hosts),
        connect=ConnectOptions(known_hosts=kh),
        parallel=parallel,
        state_dir="/var/lib/sealbox-bench",
    )


def cpu() -> float:
    """CPU seconds of this process (the controller) -- to tell client cost from host cost."""
    t = os.times()
    return t.user + t.system


def machine_cpu() -> float:
    """CPU seconds used by the whole machine (every sandbox sshd/dockerd included)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def timed_envcheck(hosts, kh: str, bundle: str, parallel: int) -> tuple[float, list[float]]:
    started = time.monotonic()
    res = fleet(hosts, kh, bundle, parallel).each_host(envcheck_job(PROFILES, {}, []))
    wall = time.monotonic() - started
    bad = [r for r in res if r.status in ("unreachable",) or r.exit_code == 1]
    if bad:
        raise SystemExit(f"envcheck could not run on {bad[0].host}: {bad[0].message}")
    return wall, [r.seconds for r in res]


def timed_li(hosts, kh: str, bundle: str, parallel: int) -> tuple[float, list[float]]:
    started = time.monotonic()
    res = fleet(hosts, kh, bundle, parallel).status()
    wall = time.monotonic() - started
    bad = [r for r in res if r.status not in ("ok", "changed")]
    if bad:
        raise SystemExit(f"li failed on {bad[0].host}: {bad[0].message}")
    return wall, [r.seconds for r in res]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true", help="hosts without dockerd (no li)")
    ap.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    args = ap.parse_args()
    docker = not args.no_docker
    why = can_run_docker() if docker else can_run()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 1
    if not os.path.isfile(os.path.join(args.bundle, "manifest.yaml")):
        print(f"no bundle at {args.bundle}: run scripts/build_demo_bundle.py", file=sys.stderr)
        return 1
    os.environ.setdefault("SEALBOX_ALLOW_UNSIGNED", "1")
    print(
        f"setting up {args.hosts} sandbox hosts ({'with' if docker else 'without'} dockerd)...",
        file=sys.stderr,
    )
    with sandbox_hosts(args.hosts, docker=docker) as hosts, tempfile.TemporaryDirectory() as tmp:
        kh = os.path.join(tmp, "known_hosts")
        with open(kh, "w") as fh:
            fh.write("".join(h.known_hosts_line() for h in hosts))
        rows = []
        tasks = [("envcheck (3 profiles)", timed_envcheck)]
        if docker:
            tasks.append(("li", timed_li))
        for label, fn in tasks:
            fn(hosts[:1], kh, args.bundle, 1)  # warm-up: page cache, sshd first fork
            c0, m0 = cpu(), machine_cpu()
            one = [fn(hosts[:1], kh, args.bundle, 1)[0] for _ in range(args.repeat)]
            c1, m1 = cpu(), machine_cpu()
            par = [fn(hosts, kh, args.bundle, args.hosts) for _ in range(args.repeat)]
            c2, m2 = cpu(), machine_cpu()
            one_s = statistics.median(one)
            par_s = statistics.median(w for w, _ in par)
            per_host = statistics.median(s for _, secs in par for s in secs)
            n = args.repeat
            rows.append(
                (
                    label,
                    one_s,
                    par_s,
                    per_host,
                    (c1 - c0) / n,
                    (m1 - m0) / n,
                    (c2 - c1) / n,
                    (m2 - m1) / n,
                )
            )
    print()
    print(f"{args.hosts} sandbox hosts, {'with' if docker else 'without'} dockerd, 2 cores here")
    print(
        f"{'operation':24} {'one host':>9} {'target':>7}   {args.hosts:>2} in parallel "
        f"{'ratio':>6} {'target':>7}   per host inside the run"
    )
    for label, one_s, par_s, per_host, *_ in rows:
        ratio = par_s / one_s
        ok1 = "ok" if one_s <= PER_HOST_TARGET else "MISSED"
        ok2 = "ok" if ratio <= PARALLEL_TARGET else "MISSED"
        print(
            f"{label:24} {one_s:8.2f}s {'<=3s':>7} {ok1:6} {par_s:8.2f}s {ratio:5.2f}x "
            f"{'<=1.5x':>7} {ok2:6} {per_host:5.2f}s"
        )
    print()
    print(f"CPU seconds per run (this machine has {os.cpu_count()} cores; controller + all hosts):")
    for label, _, par_s, _, c_one, m_one, c_par, m_par in rows:
        print(
            f"{label:24} one host: controller {c_one:.2f}s, machine {m_one:.2f}s | "
            f"{args.hosts} hosts: controller {c_par:.2f}s, machine {m_par:.2f}s "
            f"(= {m_par / max(par_s, 1e-9):.1f} cores busy for {par_s:.2f}s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
