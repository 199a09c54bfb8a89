"""A live single-node Kubernetes 1.20 (tests/k8s/cluster.sh) for the cluster-mode e2e tests.

Started once per session (built from Debian sources on a new machine, ~4 min; cached after)
and torn down at the end, leaving no KUBE-* chains, bridge or mounts behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from ..conftest import ROOT, run_cli

CLUSTER = ROOT / "tests" / "k8s" / "cluster.sh"
LICENSE_PORT = "18887"  # a Docker-mode license server may hold 8887 on this machine


class Cluster:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.kubeconfig = env["KUBECONFIG"]
        self.registry = env["SEALBOX_K8S_REGISTRY"]
        self.node = env["SEALBOX_K8S_NODE"]
        self.state = Path(env["SEALBOX_K8S_STATE"])

    def kubectl(self, *args: str, check: bool = True, timeout: int = 120) -> str:
        res = subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert res.returncode == 0, f"kubectl {' '.join(args)}: {res.stderr}"
        return res.stdout if check else res.stdout + res.stderr

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def sealbox(self, *args: str, bundle: Path, timeout: int = 600):
        return run_cli(*args, bundle=bundle, env={"KUBECONFIG": self.kubeconfig}, timeout=timeout)

    def apply_args(self, out: Path, namespace: str, *extra: str) -> list[str]:
        """`k8s apply` of the demo bundle the way a field engineer would type it here."""
        return [
            "k8s",
            "apply",
            "-o",
            str(out),
            "-n",
            namespace,
            "--registry",
            self.registry,
            "--license-node",
            self.node,
            "--set",
            f"license_port={LICENSE_PORT}",
            "--host-path-root",
            str(self.state / "hostpath"),
            *extra,
        ]

    def pv(self, name: str, size: str = "5Gi", lost_found: bool = False) -> None:
        """A static hostPath PV (no provisioner exists on 1.20 from Debian)."""
        # a fresh one: a PV left Released by an earlier claim never binds again
        self.kubectl("delete", "pv", name, "--ignore-not-found", "--wait=true", timeout=120)
        path = self.state / "pv" / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        if lost_found:
            (path / "lost+found").mkdir(exist_ok=True)
        doc = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"test.sealbox/pv": "true"}},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(path), "type": "Directory"},
            },
        }
        subprocess.run(
            ["kubectl", "--kubeconfig", self.kubeconfig, "apply", "-f", "-"],
            input=json.dumps(doc),
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def drop_namespace(self, namespace: str) -> None:
        self.kubectl(
            "delete",
            "namespace",
            namespace,
            "--ignore-not-found",
            "--wait=true",
            check=False,
            timeout=180,
        )

    def wait(self, what: str, predicate, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(1)
        pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def cluster(docker_engine) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.fail("the live-cluster tests need root (they start a kubelet)")
    up = subprocess.run(["bash", str(CLUSTER), "up"], capture_output=True, text=True, timeout=1500)
    try:
        assert up.returncode == 0, f"cluster.sh up failed:\n{up.stderr[-4000:]}"
        state = Path(up.stdout.strip().splitlines()[-1])
        env = dict(
            line.split("=", 1) for line in (state / "env").read_text().splitlines() if "=" in line
        )
        yield Cluster(env)
    finally:
        if not os.environ.get("SEALBOX_K8S_KEEP"):  # keep it up between runs while debugging
            subprocess.run(["bash", str(CLUSTER), "down"], capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def pushed(cluster: Cluster, demo_bundle: Path) -> Path:
    """The demo bundle's images in the cluster's registry (once per session)."""
    res = run_cli(
        "k8s", "push", "--registry", cluster.registry, "--insecure", "--json", bundle=demo_bundle
    )
    assert res.rc == 0, res.stderr
    return demo_bundle
