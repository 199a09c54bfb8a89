#!/usr/bin/env python3
"""Cluster mode on a live Kubernetes 1.20 (tests/k8s/cluster.sh): the issue-14 targets.

  apply of the demo bundle to all-ready   <= 30 s
  re-apply with nothing changed           <= 5 s
  second push (all images in registry)    <= 3 s

Starts the test cluster (built once, cached under /var/cache/sealbox-k8s) unless one is up,
pushes the demo bundle, applies it into a fresh namespace, re-applies it, then deletes it
(--purge) and stops the cluster it started. Run as root, under the e2e lock.

Usage: python benchmarks/k8s_apply.py [--bundle build/demo-bundle] [--runs 3] [--keep]
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

from _common import ROOT, median, print_table

CLUSTER = os.path.join(ROOT, "tests", "k8s", "cluster.sh")
NS = "bench"


def cli(bundle: str, env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    cmd = [sys.executable, os.path.join(ROOT, "install.py"), "--bundle", bundle, *args]
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed: {res.stderr[-2000:]}")
    return took, res


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", default=os.path.join(ROOT, "build", "demo-bundle"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    was_up = os.path.exists("/run/sealbox-k8s-test/up")
    t0 = time.perf_counter()
    up = subprocess.run(["bash", CLUSTER, "up"], capture_output=True, text=True)
    up_s = time.perf_counter() - t0
    if up.returncode != 0:
        sys.exit(f"cluster.sh up failed: {up.stderr[-2000:]}")
    state = up.stdout.strip().splitlines()[-1]
    facts = dict(
        line.split("=", 1) for line in open(os.path.join(state, "env")).read().splitlines()
    )
    env = {
        **os.environ,
        "KUBECONFIG": facts["KUBECONFIG"],
        "SEALBOX_TRUST": os.path.join(ROOT, "build", "demo-vendor", "vendor.pub"),
    }
    reg = facts["SEALBOX_K8S_REGISTRY"]
    out = tempfile.mkdtemp(prefix="sealbox-bench-k8s-")
    apply = [
        "k8s", "apply", "-o", out, "-n", NS, "--registry", reg, "--insecure",
        "--license-node", facts["SEALBOX_K8S_NODE"], "--set", "license_port=18891",
        "--host-path-root", os.path.join(state, "hostpath"), "--storage-size", "1Gi",
        "--timeout", "120",
    ]  # fmt: skip
    pv = os.path.join(state, "pv", "bench")
    shutil.rmtree(pv, ignore_errors=True)  # an earlier run's database has other passwords
    os.makedirs(pv, exist_ok=True)
    pv_doc = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "bench"},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": pv},
        },
    }
    kubectl = ["kubectl", "--kubeconfig", facts["KUBECONFIG"]]
    try:
        push_first, _ = cli(args.bundle, env, "k8s", "push", "--registry", reg, "--insecure")
        pushes = [cli(args.bundle, env, "k8s", "push", "--registry", reg, "--insecure")[0]
                  for _ in range(args.runs)]  # fmt: skip
        subprocess.run(kubectl + ["apply", "-f", "-"], input=json.dumps(pv_doc), text=True,
                       capture_output=True, check=True)  # fmt: skip
        first, _ = cli(args.bundle, env, *apply)
        again = []
        for _ in range(args.runs):
            took, res = cli(args.bundle, env, *apply, "--json")
            assert all(w["ok"] for w in json.loads(res.stdout)["workloads"])
            again.append(took)
        print_table(
            "sealbox k8s on a live Kubernetes 1.20 (demo bundle: 3 modules)",
            ["measure", "seconds", "target", "ratio"],
            [
                ["cluster up" + (" (was up)" if was_up else ""), f"{up_s:.1f}", "", ""],
                ["warm-up push (what the registry lacks)", f"{push_first:.1f}", "", ""],
                [f"second push, median of {args.runs}", f"{median(pushes):.2f}", "<= 3",
                 f"{median(pushes) / 3:.2f}"],
                ["apply to all-ready", f"{first:.1f}", "<= 30", f"{first / 30:.2f}"],
                [f"re-apply, nothing changed, median of {args.runs}", f"{median(again):.2f}",
                 "<= 5", f"{median(again) / 5:.2f}"],
            ],
        )  # fmt: skip
        return 0
    finally:
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "install.py"), "k8s", "delete", "-n", NS,
             "--purge", "--yes"], env=env, capture_output=True,
        )  # fmt: skip
        subprocess.run(kubectl + ["delete", "pv", "bench", "--ignore-not-found"],
                       capture_output=True)  # fmt: skip
        if not was_up and not args.keep:
            subprocess.run(["bash", CLUSTER, "down"], capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())
