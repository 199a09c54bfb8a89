"""The second demo product (sealbox-ops) on the live Kubernetes 1.20 (tests/k8s/cluster.sh),
from the same specs: `k8s push` + `k8s apply` bring all eight workloads to ready, then the
Helm chart (`k8s chart` + helm install) does the same in another namespace. In both, an order
sent through the gateway pod is read back from the postgres and redis pods and etcd, and
Prometheus scrapes the node exporter and the order-api by their Service names."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Sequence

import pytest

from tests.e2e.product_ops import (
    MODULES,
    check_backends,
    ops_bundle,  # noqa: F401 - fixture
)

from .conftest import ROOT, Cluster

pytestmark = pytest.mark.e2e
STATEFUL = ("redis", "postgres", "etcd", "prometheus")  # one claim each
HELM_PORT = "18894"  # the license server's host port in the chart's namespace


@pytest.fixture(scope="module")
def ops_pushed(cluster: Cluster, ops_bundle: Path) -> Path:  # noqa: F811
    t0 = time.monotonic()
    res = cluster.sealbox(
        "k8s", "push", "--registry", cluster.registry, "--insecure", "--json", bundle=ops_bundle
    )
    assert res.rc == 0, res.stderr
    print(f"push of the ops images: {time.monotonic() - t0:.1f}s")
    return ops_bundle


def _volumes(cluster: Cluster, tag: str) -> None:
    for m in STATEFUL:
        cluster.pv(f"pv-ops-{tag}-{m}", "2Gi")


def _pod(cluster: Cluster, ns: str, module: str) -> dict:
    pods = cluster.get("pods", "-n", ns, "-l", f"io.sealbox.module={module}")["items"]
    live = [p for p in pods if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]  # fmt: skip
    assert live, f"no running {module} pod in {ns}"
    return live[0]


def _exec(cluster: Cluster, ns: str, module: str):
    name = _pod(cluster, ns, module)["metadata"]["name"]

    def run(argv: Sequence[str]) -> str:
        return cluster.kubectl("exec", "-n", ns, name, "--", *argv, timeout=60)

    return run


def _check(cluster: Cluster, ns: str) -> None:
    gateway = f"http://{_pod(cluster, ns, 'gateway')['status']['podIP']}:8080"
    etcd = f"http://{_pod(cluster, ns, 'etcd')['status']['podIP']}:2379"
    check_backends(gateway, _exec(cluster, ns, "postgres"), _exec(cluster, ns, "redis"), etcd,
                   prometheus=f"{gateway}/prometheus")  # fmt: skip


def test_ops_k8s_apply(cluster: Cluster, ops_pushed: Path, tmp_path):
    ns = "ops"
    cluster.drop_namespace(ns)
    _volumes(cluster, "apply")
    t0 = time.monotonic()
    res = cluster.sealbox(
        *cluster.apply_args(tmp_path / "out", ns, "--storage-size", "1Gi", "--insecure",
                            "--timeout", "300", "--json"),
        bundle=ops_pushed,
    )  # fmt: skip
    try:
        assert res.rc == 0, res.stderr[-4000:]
        print(f"k8s apply of the ops bundle to all-ready: {time.monotonic() - t0:.1f}s")
        rows = {w["name"]: w for w in res.json()["workloads"]}
        assert set(rows) == MODULES and all(w["ok"] for w in rows.values()), rows
        _check(cluster, ns)
        # the postgres pod keeps its data on the claim it got, as root-less postgres wrote it
        pvc = cluster.get("pvc", "-n", ns, "db-postgres-0")
        assert pvc["status"]["phase"] == "Bound", pvc["status"]
    finally:
        cluster.drop_namespace(ns)


@pytest.fixture(scope="module")
def helm(cluster: Cluster):
    res = subprocess.run(["bash", str(ROOT / "tests" / "k8s" / "helm.sh")], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_ops_helm_chart(cluster: Cluster, ops_pushed: Path, helm: str, tmp_path):
    ns = "ops-chart"
    cluster.drop_namespace(ns)
    _volumes(cluster, "chart")
    chart = tmp_path / "chart"
    res = cluster.sealbox(
        "k8s", "chart", "-o", str(chart), "--registry", cluster.registry, "--license-node",
        cluster.node, "--set", f"license_port={HELM_PORT}", "--host-path-root",
        str(cluster.state / "hostpath"), "--storage-size", "1Gi", bundle=ops_pushed,
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    t0 = time.monotonic()

    def run(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([helm, "--kubeconfig", cluster.kubeconfig, *args],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
        assert out.returncode == 0, f"helm {' '.join(args)}: {out.stderr}"
        return out

    try:
        run("install", "ops", str(chart), "-n", ns, "--create-namespace", "--wait",
            "--timeout", "6m")  # fmt: skip
        print(f"helm install of the ops chart to all-ready: {time.monotonic() - t0:.1f}s")
        work = cluster.get("deployments,statefulsets", "-n", ns)["items"]
        assert {o["metadata"]["name"] for o in work} == MODULES
        assert all(o["status"].get("readyReplicas") == o["spec"]["replicas"] for o in work)
        _check(cluster, ns)
        run("uninstall", "ops", "-n", ns, "--wait", "--timeout", "3m")
        left = cluster.get("deployments,statefulsets", "-n", ns)["items"]
        assert left == []
    finally:
        cluster.drop_namespace(ns)
