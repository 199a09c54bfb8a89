"""`sealbox k8s chart` with real helm 3.17.2 (tests/k8s/helm.sh) on the live 1.20 cluster:
lint, the same objects as `k8s render`, install, upgrade, rollback, uninstall (issue 14, 13)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, Cluster

pytestmark = pytest.mark.e2e
NS = "chart"
PORT = "18893"


@pytest.fixture(scope="module")
def helm(cluster: Cluster):
    res = subprocess.run(["bash", str(ROOT / "tests" / "k8s" / "helm.sh")], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    binary = res.stdout.strip()

    def run(*args: str, check: bool = True, timeout: int = 400) -> subprocess.CompletedProcess:
        out = subprocess.run([binary, "--kubeconfig", cluster.kubeconfig, *args],
                             capture_output=True, text=True, timeout=timeout)  # fmt: skip
        if check:
            assert out.returncode == 0, f"helm {' '.join(args)}: {out.stderr}"
        return out

    return run


def _chart(cluster: Cluster, bundle: Path, out: Path, *extra: str) -> None:
    res = cluster.sealbox(
        "k8s", "chart", "-o", str(out), "--registry", cluster.registry, "--license-node",
        cluster.node, "--set", f"license_port={PORT}", "--host-path-root",
        str(cluster.state / "hostpath"), "--storage-size", "1Gi", "--node-port", "30300",
        *extra, bundle=bundle,
    )  # fmt: skip
    assert res.rc == 0, res.stderr


def _comparable(objs: list) -> list:
    out = []
    for o in objs:
        if not o or o["kind"] == "Namespace":
            continue
        labels = o["metadata"]["labels"]
        labels.pop("app.kubernetes.io/managed-by")
        labels.pop("app.kubernetes.io/instance")
        tpl = o.get("spec", {}).get("template", {}).get("metadata", {}).get("labels")
        if tpl:
            tpl.pop("app.kubernetes.io/managed-by")
            tpl.pop("app.kubernetes.io/instance")
        for c in o.get("spec", {}).get("volumeClaimTemplates", []):
            c["metadata"]["labels"].pop("app.kubernetes.io/managed-by")
            c["metadata"]["labels"].pop("app.kubernetes.io/instance")
        out.append(o)
    return sorted(out, key=lambda o: (o["kind"], o["metadata"]["name"]))


def test_chart_lint_and_same_objects_as_render(cluster, pushed, helm, tmp_path):
    chart = tmp_path / "chart"
    _chart(cluster, pushed, chart)
    helm("lint", str(chart))
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    assert values["registry"] == cluster.registry and len(values["images"]) == 3
    assert "sbx-" not in "".join(p.read_text() for p in chart.rglob("*.yaml"))
    templated = helm("template", "rel", str(chart), "-n", NS).stdout
    render = cluster.sealbox(
        "k8s", "render", "-o", str(tmp_path / "r"), "-n", NS, "--registry", cluster.registry,
        "--license-node", cluster.node, "--set", f"license_port={PORT}", "--host-path-root",
        str(cluster.state / "hostpath"), "--storage-size", "1Gi", "--node-port", "30300",
        "--secrets", str(chart / ".sealbox" / "secrets.yaml"), bundle=pushed,
    )  # fmt: skip
    assert render.rc == 0, render.stderr
    rendered = [o for p in sorted((tmp_path / "r").glob("*.yaml"))
                for o in yaml.safe_load_all(p.read_text())]  # fmt: skip
    assert _comparable(list(yaml.safe_load_all(templated))) == _comparable(rendered)


def test_helm_install_upgrade_rollback_uninstall(cluster, pushed, helm, tmp_path):
    cluster.drop_namespace(NS)
    cluster.pv("pv-chart", "5Gi")
    chart = tmp_path / "chart"
    _chart(cluster, pushed, chart)
    helm("install", "rel", str(chart), "-n", NS, "--create-namespace", "--wait",
         "--timeout", "5m")  # fmt: skip
    face = "io.sealbox.module=face-server"

    def ready(n: int) -> bool:
        pods = cluster.get("pods", "-n", NS, "-l", face)["items"]
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        return len(live) == n and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get(
                "conditions", [])) for p in live
        )  # fmt: skip

    assert ready(1)
    secret = cluster.get("secret", "-n", NS, "mysql-secret")["data"]
    # a chart made elsewhere (new passwords): upgrade keeps the namespace's Secrets (lookup)
    other = tmp_path / "other"
    _chart(cluster, pushed, other)
    assert (other / ".sealbox" / "secrets.yaml").read_text() != (
        chart / ".sealbox" / "secrets.yaml"
    ).read_text()
    helm("upgrade", "rel", str(other), "-n", NS, "--set", "instances=2", "--wait",
         "--timeout", "5m")  # fmt: skip
    assert cluster.get("deployment", "-n", NS, "face-server")["spec"]["replicas"] == 2
    cluster.wait("2 face-server pods ready", lambda: ready(2), 120)
    assert cluster.get("secret", "-n", NS, "mysql-secret")["data"] == secret
    helm("rollback", "rel", "1", "-n", NS, "--wait", "--timeout", "5m")
    assert cluster.get("deployment", "-n", NS, "face-server")["spec"]["replicas"] == 1
    cluster.wait("1 face-server pod", lambda: ready(1), 120)
    helm("uninstall", "rel", "-n", NS, "--wait", "--timeout", "5m")
    left = cluster.get("deployments,statefulsets,services,secrets,configmaps", "-n", NS, "-l",
                       "io.sealbox.managed=true")["items"]  # fmt: skip
    assert left == []
    cluster.drop_namespace(NS)
