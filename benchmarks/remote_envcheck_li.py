#!/usr/bin/env python3
"""envcheck, fingerprint, `li` and a no-op `inall` over SSH: where each host's CPU goes.

What is measured (as root, on this machine): sandbox hosts (network namespaces with their own
sshd and optionally dockerd, tests/e2e/testhosts.py), driven through ``installer.fleet.Fleet``
(the same path as ``-H``), Python start-up not included.

*Host-side CPU* is read from the sandbox hosts' own processes, not from the whole machine (other
work on a shared machine would blur it): the sum over every process in the host's mount
namespace of utime+stime+cutime+cstime, before and after. A finished SSH session is reaped by
the host's sshd, so its CPU (handshake, shells, every command) lands in sshd's cutime/cstime;
dockerd's work for `docker info`/`ps` is dockerd's own time.

Rows: the breakdown on one host (an SSH connection with nothing run; one `true`; each tool),
then envcheck on all ``--hosts`` at once (``--parallel N``): wall, controller CPU per host, and
the floor = (hosts' CPU + controller CPU) / cores. ``li``, ``fingerprint collect`` and a no-op
``inall`` run on ``--docker-hosts`` hosts with dockerd (the demo bundle is installed there
first; the no-op run is what is measured).

Targets: host CPU per envcheck, fingerprint, li, no-op inall <= 0.25 s; controller <= 0.02
CPU-s per host; wall <= 1.2x the floor.

Usage: sudo .venv/bin/python benchmarks/remote_envcheck_li.py --hosts 50 --no-docker
       [--docker-hosts 2] [--repeat 3] [--bundle build/demo-bundle]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from envcheck.jobs import envcheck_job  # noqa: E402
from fingerprint.jobs import collect_job  # noqa: E402
from installer.deploy.options import InstallOptions  # noqa: E402
from installer.fleet import ConnectOptions, Fleet  # noqa: E402
from installer.fleet.inventory import Inventory, InventoryHost  # noqa: E402
from tests.e2e.testhosts import _pids_in_mntns, can_run, can_run_docker, sandbox_hosts  # noqa: E402

PROFILES = ["license-server", "mysql", "face-server"]
HOST_CPU_TARGET = 0.25
CONTROLLER_TARGET = 0.02
WALL_TARGET = 1.2
TICK = os.sysconf("SC_CLK_TCK")


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
        # the default state dir: each sandbox host has its own /var/lib/sealbox (a shared
        # directory would mix the hosts' generated secrets)
    )


def cpu() -> float:
    """CPU seconds of this process (the controller)."""
    t = os.times()
    return t.user + t.system


def host_cpu(hosts) -> float:
    """CPU seconds the sandbox hosts' processes used, sessions reaped by sshd included."""
    total = 0
    for h in hosts:
        for pid in _pids_in_mntns(h.mntns_file):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return total / TICK


def settle(hosts) -> None:
    """Wait until no SSH session of these hosts is alive (its CPU is then in sshd's cutime)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(h.session_pids() for h in hosts):
        time.sleep(0.05)


Op = Callable[[list, str, str, int], Any]


def op_connect(hosts, kh: str, bundle: str, parallel: int) -> None:
    f = fleet(hosts, kh, bundle, parallel)
    for h in hosts:
        f.host(h.name).connect()
    f.close()


def op_true(hosts, kh: str, bundle: str, parallel: int) -> None:
    f = fleet(hosts, kh, bundle, parallel)
    for h in hosts:
        assert f.host(h.name).run(["true"]).ok
    f.close()


def op_envcheck(hosts, kh: str, bundle: str, parallel: int) -> None:
    with fleet(hosts, kh, bundle, parallel) as f:
        res = f.each_host(envcheck_job(PROFILES, {}, []))
    bad = [r for r in res if r.status == "unreachable" or r.exit_code == 1]
    if bad:
        raise SystemExit(f"envcheck could not run on {bad[0].host}: {bad[0].message}")


def op_fingerprint(hosts, kh: str, bundle: str, parallel: int) -> None:
    with tempfile.TemporaryDirectory() as out, fleet(hosts, kh, bundle, parallel) as f:
        res = f.each_host(collect_job(out, product="bench"))
    bad = [r for r in res if r.status not in ("ok", "changed")]
    if bad:
        raise SystemExit(f"fingerprint failed on {bad[0].host}: {bad[0].message}")


def op_li(hosts, kh: str, bundle: str, parallel: int) -> None:
    with fleet(hosts, kh, bundle, parallel) as f:
        res = f.status()
    bad = [r for r in res if r.status not in ("ok", "changed")]
    if bad:
        raise SystemExit(f"li failed on {bad[0].host}: {bad[0].message}")


def op_inall(hosts, kh: str, bundle: str, parallel: int) -> None:
    with fleet(hosts, kh, bundle, parallel) as f:
        res = f.install(
            InstallOptions(
                skip_checks=[
                    "physical",
                    "gpu",
                    "nvidia-driver",
                    "nvidia-runtime",
                    "memory",
                    "disk-docker",
                    "disk-install",
                    "time-sync",
                    "cpu-cores",
                    "firewall",
                    "os",
                    "nouveau",
                    "kernel-headers",
                    "gcc",
                    "network",
                ]
            ),
            everything=True,
        )
    bad = [r for r in res if r.status not in ("ok", "changed")]
    if bad:
        raise SystemExit(f"inall failed on {bad[0].host}: {bad[0].message}")


def licensed_copy(bundle: str, hosts, kh: str, key_file: str, dst: str) -> str:
    """The bundle with a license for these hosts' fingerprints (what a vendor issues)."""
    import hashlib
    from pathlib import Path

    from fingerprint.collect import collect
    from installer import signing
    from installer.bundle.manifest import load_manifest, write_manifest
    from installer.bundle.opened import open_bundle
    from installer.license import fileformat
    from installer.license.issue import issue
    from installer.license.shipped.model import ModuleGrant
    from tests.e2e.conftest import copy_bundle

    key = signing.load_private(key_file)
    out = copy_bundle(Path(bundle), Path(dst))
    pub = os.path.join(bundle, "vendor.pub")
    f = fleet(hosts, kh, open_bundle(bundle, trust=[pub] if os.path.exists(pub) else []), 1)
    records = [collect(f.host(h.name)).to_record(name=f"secfile_{h.address}") for h in hosts]
    f.close()
    lic = issue(
        records,
        modules={"face-server": ModuleGrant(4)},
        days=30,
        customer="bench",
        allow_vm=True,
        required=2,
    )
    (out / "license").mkdir(exist_ok=True)
    (out / "license" / "vendor.pub").write_bytes(key.public.pem())
    (out / "license" / "license.cfg").write_bytes(fileformat.render(lic, key))
    manifest = load_manifest(str(out))
    for rel in ("license/vendor.pub", "license/license.cfg"):
        manifest.files[rel] = hashlib.sha256((out / rel).read_bytes()).hexdigest()
    write_manifest(str(out), manifest)
    if (out / "manifest.sig").exists():
        (out / "manifest.sig").unlink()
    return str(out)


def measure(op: Op, hosts, kh: str, bundle: str, parallel: int, repeat: int) -> dict:
    op(hosts, kh, bundle, parallel)  # warm-up: page cache, sshd first fork
    settle(hosts)
    walls = []
    c0, h0 = cpu(), host_cpu(hosts)
    for _ in range(repeat):
        t0 = time.monotonic()
        op(hosts, kh, bundle, parallel)
        walls.append(time.monotonic() - t0)
        settle(hosts)
    c1, h1 = cpu(), host_cpu(hosts)
    n = repeat * len(hosts)
    return {
        "wall": statistics.median(walls),
        "host": (h1 - h0) / n,
        "ctl": (c1 - c0) / n,
        "host_total": (h1 - h0) / repeat,
        "ctl_total": (c1 - c0) / repeat,
    }


def mark(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def breakdown(rows: list[tuple[str, dict, bool]]) -> None:
    print(
        f"\n{'one host, per run':30} {'wall':>7} {'host CPU':>9} {'target':>7} {'':6} "
        f"{'controller':>10} {'target':>7}"
    )
    for label, m, targeted in rows:
        tgt = f"<={HOST_CPU_TARGET}" if targeted else ""
        ok = mark(m["host"], HOST_CPU_TARGET) if targeted else ""
        print(
            f"{label:30} {m['wall']:6.2f}s {m['host']:8.3f}s {tgt:>7} {ok:6} "
            f"{m['ctl']:9.3f}s {'<=' + str(CONTROLLER_TARGET):>7} "
            f"{mark(m['ctl'], CONTROLLER_TARGET) if targeted else ''}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=10, help="hosts for the parallel envcheck")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true", help="the envcheck hosts have no dockerd")
    ap.add_argument(
        "--docker-hosts",
        type=int,
        default=2,
        help="hosts with dockerd for li, fingerprint, no-op inall (0: skip)",
    )
    ap.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    ap.add_argument(
        "--vendor-key",
        default=os.path.join(ROOT, "build", "demo-vendor", "vendor.key"),
        help="signs the license the no-op inall's hosts get",
    )
    args = ap.parse_args()
    why = can_run_docker() if (args.docker_hosts or not args.no_docker) else can_run()
    if why:
        print(f"cannot run: {why}", file=sys.stderr)
        return 1
    if not os.path.isfile(os.path.join(args.bundle, "manifest.yaml")):
        print(f"no bundle at {args.bundle}: run scripts/build_demo_bundle.py", file=sys.stderr)
        return 1
    os.environ.setdefault("SEALBOX_ALLOW_UNSIGNED", "1")
    from installer.bundle.opened import open_bundle

    # Opened once: the controller figures are the per-host work. A signed demo bundle is
    # opened with the demo vendor key it was signed with (this machine pins no key).
    pub = os.path.join(args.bundle, "vendor.pub")
    bundle = open_bundle(args.bundle, trust=[pub] if os.path.exists(pub) else [])
    cores = os.cpu_count() or 1
    one_rows: list[tuple[str, dict, bool]] = []
    with (
        sandbox_hosts(args.hosts, docker=not args.no_docker) as hosts,
        tempfile.TemporaryDirectory() as tmp,
    ):
        kh = os.path.join(tmp, "known_hosts")
        with open(kh, "w") as fh:
            fh.write("".join(h.known_hosts_line() for h in hosts))
        one = hosts[:1]
        for label, op in (
            ("ssh connect (no command)", op_connect),
            ("one `true`", op_true),
            ("envcheck (3 profiles)", op_envcheck),
            ("fingerprint collect", op_fingerprint),
        ):
            m = measure(op, one, kh, bundle, 1, args.repeat)
            print(f"{label}: {m}", file=sys.stderr, flush=True)
            one_rows.append(
                (
                    label + ("" if args.no_docker else ", dockerd"),
                    m,
                    op in (op_envcheck, op_fingerprint),
                )
            )
        par = measure(op_envcheck, hosts, kh, bundle, len(hosts), args.repeat)
        print(f"{args.hosts} hosts in parallel, envcheck: {par}", file=sys.stderr, flush=True)
    if args.docker_hosts:
        with (
            sandbox_hosts(args.docker_hosts, docker=True) as dh,
            tempfile.TemporaryDirectory() as tmp,
        ):
            kh = os.path.join(tmp, "known_hosts")
            with open(kh, "w") as fh:
                fh.write("".join(h.known_hosts_line() for h in dh))
            n = len(dh)
            for label, op in (
                ("envcheck (3 profiles)", op_envcheck),
                ("fingerprint collect", op_fingerprint),
                ("li", op_li),
            ):
                one_rows.append(
                    (
                        f"{label}, dockerd x{n}",
                        measure(op, dh, kh, bundle, n, args.repeat),
                        True,
                    )
                )
            lic = open_bundle(
                licensed_copy(args.bundle, dh, kh, args.vendor_key, os.path.join(tmp, "b"))
            )
            op_inall(dh, kh, lic, n)  # the real install; the measured runs are no-ops
            one_rows.append(
                (f"no-op inall, dockerd x{n}", measure(op_inall, dh, kh, lic, n, args.repeat), True)
            )
    print(
        f"\nhost CPU = the sandbox hosts' own processes; {cores} cores here; "
        f"median of {args.repeat} runs"
    )
    breakdown(one_rows)
    floor = (par["host_total"] + par["ctl_total"]) / cores
    ratio = par["wall"] / floor
    print(
        f"\n{args.hosts} hosts in parallel ({'without' if args.no_docker else 'with'} dockerd), "
        f"envcheck (3 profiles):"
    )
    print(f"{'':24} {'value':>9} {'target':>9} {'ratio':>7}")
    print(
        f"{'host CPU per host':24} {par['host']:8.3f}s {'<=0.25s':>9} "
        f"{par['host'] / HOST_CPU_TARGET:6.2f}x {mark(par['host'], HOST_CPU_TARGET)}"
    )
    print(
        f"{'controller CPU per host':24} {par['ctl']:8.3f}s {'<=0.02s':>9} "
        f"{par['ctl'] / CONTROLLER_TARGET:6.2f}x {mark(par['ctl'], CONTROLLER_TARGET)}"
    )
    print(
        f"{'wall':24} {par['wall']:8.2f}s {'<=1.2x':>9} {ratio:6.2f}x "
        f"{mark(ratio, WALL_TARGET)}  (floor {floor:.2f}s = hosts {par['host_total']:.2f} + "
        f"controller {par['ctl_total']:.2f} CPU-s over {cores} cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
