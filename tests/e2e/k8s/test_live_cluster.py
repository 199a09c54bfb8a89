"""`sealbox k8s` against a live Kubernetes 1.20 (tests/k8s/cluster.sh): the demo bundle pushed,
applied, checked and deleted, and each fault the live cluster showed (issue 14, items 1-12).

The tests of this module share one deployment (namespace `live`) and run in file order.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import LICENSE_PORT, Cluster

pytestmark = pytest.mark.e2e
NS = "live"
FACE = "io.sealbox.module=face-server"


def _pods(cluster: Cluster, ns: str, selector: str) -> list[dict]:
    return cluster.get("pods", "-n", ns, "-l", selector)["items"]


def _running(pods: list[dict]) -> list[dict]:
    return [
        p
        for p in pods
        if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]


def _health(pod: dict) -> dict:
    ip = pod["status"]["podIP"]
    try:
        with urllib.request.urlopen(f"http://{ip}:8300/health", timeout=5) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


@pytest.fixture(scope="module")
def deployed(cluster: Cluster, pushed: Path, tmp_path_factory) -> Path:
    """The demo bundle applied once into `live` with 2 face-server replicas; the only free PV
    has lost+found at its root, like a fresh ext4 volume (item 10)."""
    cluster.drop_namespace(NS)
    cluster.pv("pv-lostfound", "5Gi", lost_found=True)
    out = tmp_path_factory.mktemp("live") / "out"
    t0 = time.monotonic()
    res = cluster.sealbox(
        *cluster.apply_args(
            out,
            NS,
            "--instances",
            "2",
            "--storage-size",
            "1Gi",
            "--insecure",
            "--timeout",
            "240",
            "--json",
        ),
        bundle=pushed,
    )
    assert res.rc == 0, res.stderr
    print(f"apply of the demo bundle to all-ready: {time.monotonic() - t0:.1f}s")
    rows = {w["name"]: w for w in res.json()["workloads"]}
    assert set(rows) == {"license-server", "mysql", "face-server"}
    assert all(w["ok"] for w in rows.values()), rows
    return out


def test_push_again_skips_everything(cluster, pushed):
    res = cluster.sealbox(
        "k8s", "push", "--registry", cluster.registry, "--insecure", "--json", bundle=pushed
    )
    assert res.rc == 0, res.stderr
    assert {i["action"] for i in res.json()["images"]} == {"skip"}


def test_live_deployment_serves_and_selftest_passes_in_pod(cluster, pushed, deployed):
    face = _running(_pods(cluster, NS, FACE))
    assert len(face) == 2
    out = cluster.kubectl(
        "exec",
        "-n",
        NS,
        face[0]["metadata"]["name"],
        "--",
        "python3",
        "/app/selftest.py",
        timeout=120,
    )
    assert "selftest: PASS" in out
    status = cluster.sealbox("k8s", "status", "-n", NS, "--json", bundle=pushed)
    assert status.rc == 0 and all(w["ok"] for w in status.json()["workloads"])
    li = cluster.sealbox("li", "--k8s", "-n", NS, "--json", bundle=pushed)
    assert li.rc == 0 and li.json() == status.json()


def test_item2_each_replica_is_its_own_instance(cluster, deployed):
    face = _running(_pods(cluster, NS, FACE))
    instances = {_health(p)["instance"] for p in face}
    assert instances == {p["metadata"]["name"] for p in face}  # two distinct identities


def test_item10_mariadb_runs_on_a_volume_with_lost_found(cluster, deployed):
    pvc = cluster.get("pvc", "-n", NS, "db-mysql-0")
    assert pvc["spec"]["volumeName"] == "pv-lostfound" and pvc["status"]["phase"] == "Bound"
    assert (cluster.state / "pv" / "pv-lostfound" / "lost+found").is_dir()
    assert (cluster.state / "pv" / "pv-lostfound" / "data" / "mysql").is_dir()


def test_item12_manifests_on_the_live_cluster(cluster, deployed):
    objs = cluster.get("deployments,statefulsets", "-n", NS)["items"]
    for obj in objs:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        c = pod["containers"][0]
        assert "@sha256:" in c["image"], c["image"]  # by digest, as pushed
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == NS and "app.kubernetes.io/version" in labels
    face = cluster.get("deployment", "-n", NS, "face-server")
    # Issue 18: face-server's license client checks the node itself through the node's
    # read-only host view, as the license server does, so it runs as root (DMI serials are
    # root-only) -- with every capability dropped and every host path read-only.
    fc = face["spec"]["template"]["spec"]["containers"][0]
    host_view = [m for m in fc["volumeMounts"] if m["mountPath"].startswith("/host/")]
    assert host_view and all(m.get("readOnly") for m in host_view)
    assert not fc["securityContext"].get("runAsNonRoot")
    sts = cluster.get("statefulset", "-n", NS, "mysql")
    governing = cluster.get("service", "-n", NS, sts["spec"]["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"
    ns = cluster.get("namespace", NS)["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "privileged"


def test_item1_apply_from_another_dir_keeps_the_database_passwords(
    cluster, pushed, deployed, tmp_path
):
    before = cluster.get("secret", "-n", NS, "mysql-secret")["data"]
    res = cluster.sealbox(
        *cluster.apply_args(
            tmp_path / "other",
            NS,
            "--instances",
            "2",
            "--storage-size",
            "1Gi",
            "--insecure",
            "--timeout",
            "120",
        ),
        bundle=pushed,
    )
    assert res.rc == 0, res.stderr
    assert cluster.get("secret", "-n", NS, "mysql-secret")["data"] == before
    saved = yaml.safe_load((tmp_path / "other" / ".sealbox" / "secrets.yaml").read_text())
    assert saved["mysql_password"] == base64.b64decode(before["mysql_password"]).decode()
    assert all(_health(p)["status"] == "ok" for p in _running(_pods(cluster, NS, FACE)))


def test_item4_gpu_quantity_is_accepted_by_server_side_apply(cluster, pushed, deployed, tmp_path):
    out = tmp_path / "gpu"
    res = cluster.sealbox(
        "k8s",
        "render",
        "face-server",
        "-o",
        str(out),
        "-n",
        NS,
        "--registry",
        cluster.registry,
        "--license-node",
        cluster.node,
        "--gpus",
        "1",
        "--set",
        f"license_port={LICENSE_PORT}",
        bundle=pushed,
    )
    assert res.rc == 0, res.stderr
    files = sorted(str(p) for p in out.glob("0[1-9]-*.yaml"))
    args = [a for f in files for a in ("-f", f)]
    ok = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=sealbox",
        "--dry-run=server",
        "--force-conflicts",
        *args,
        check=False,
    )
    assert "error" not in ok.lower(), ok
    # the old manifest shape (an integer quantity) is what 1.20 refused: the check can fail
    face_file = next(f for f in files if f.endswith("-face-server.yaml"))
    text = Path(face_file).read_text().replace("nvidia.com/gpu: '1'", "nvidia.com/gpu: 1")
    Path(face_file).write_text(text)
    bad = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=sealbox",
        "--dry-run=server",
        "--force-conflicts",
        "-f",
        face_file,
        check=False,
    )
    assert "expected string" in bad, bad


def test_item5_gpu_change_without_free_gpu_is_refused_and_pods_keep_serving(
    cluster, pushed, deployed, tmp_path
):
    before = {p["metadata"]["name"] for p in _running(_pods(cluster, NS, FACE))}
    gen = cluster.get("deployment", "-n", NS, "face-server")["metadata"]["generation"]
    res = cluster.sealbox(
        *cluster.apply_args(
            deployed,
            NS,
            "face-server",
            "--instances",
            "2",
            "--gpus",
            "1",
            "--storage-size",
            "1Gi",
            "--insecure",
            "--timeout",
            "60",
        ),
        bundle=pushed,
    )
    assert res.rc == 2, res.stderr
    assert "needs 2 nvidia.com/gpu but the cluster has 0 free" in res.stderr
    assert cluster.get("deployment", "-n", NS, "face-server")["metadata"]["generation"] == gen
    after = _running(_pods(cluster, NS, FACE))
    assert {p["metadata"]["name"] for p in after} == before
    assert all(_health(p)["status"] == "ok" for p in after)


def test_item6_conflict_names_field_and_manager_and_can_be_forced(cluster, pushed, deployed):
    cluster.kubectl("patch", "deployment", "face-server", "-n", NS, "-p", '{"spec":{"replicas":3}}')
    args = cluster.apply_args(
        deployed, NS, "--instances", "2", "--storage-size", "1Gi", "--insecure", "--timeout", "120"
    )
    res = cluster.sealbox(*args, bundle=pushed)
    assert res.rc != 0
    line = next(x for x in res.stderr.splitlines() if x.startswith("error:"))
    assert "Deployment face-server" in line and ".spec.replicas" in line
    assert "kubectl-patch" in line and "--force-conflicts" in line
    forced = cluster.sealbox(*args, "--force-conflicts", bundle=pushed)
    assert forced.rc == 0, forced.stderr
    assert cluster.get("deployment", "-n", NS, "face-server")["spec"]["replicas"] == 2


def test_item7_immutable_change_refused_before_anything_is_applied(cluster, pushed, deployed):
    cm = cluster.get("configmap", "-n", NS, "mysql-config")["metadata"]["resourceVersion"]
    res = cluster.sealbox(
        *cluster.apply_args(
            deployed,
            NS,
            "--instances",
            "2",
            "--storage-size",
            "2Gi",
            "--set",
            "mysql_database=other",
            "--insecure",
        ),
        bundle=pushed,
    )
    assert res.rc == 2, res.stderr
    assert "claim db is 1Gi, asked 2Gi" in res.stderr and "resize the PVC" in res.stderr
    assert cluster.get("configmap", "-n", NS, "mysql-config")["metadata"]["resourceVersion"] == cm
    assert (
        cluster.get("statefulset", "-n", NS, "mysql")["spec"]["volumeClaimTemplates"][0]["spec"][
            "resources"
        ]["requests"]["storage"]
        == "1Gi"
    )


def test_item3_and_9_admin_namespace_with_quota(cluster, pushed, deployed, tmp_path):
    """An admin's namespace with a ResourceQuota: pods are admitted (requests/limits set) and
    delete --purge leaves the namespace and the admin's objects."""
    ns = "live-admin"
    cluster.drop_namespace(ns)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "configmap", "admin-settings", "-n", ns, "--from-literal=a=b")
    cluster.kubectl(
        "create",
        "quota",
        "admin-quota",
        "-n",
        ns,
        "--hard=requests.cpu=4,requests.memory=4Gi,limits.cpu=8,limits.memory=8Gi",
    )
    cluster.pv("pv-admin", "5Gi")
    res = cluster.sealbox(
        *cluster.apply_args(
            tmp_path / "adm", ns, "mysql", "--storage-size", "1Gi", "--insecure", "--timeout", "180"
        ),
        bundle=pushed,
    )
    assert res.rc == 0, res.stderr
    labels = cluster.get("namespace", ns)["metadata"].get("labels") or {}
    assert "io.sealbox.managed" not in labels
    purge = cluster.sealbox("k8s", "delete", "-n", ns, "--purge", "--yes", bundle=pushed)
    assert purge.rc == 0, purge.stderr
    assert cluster.get("namespace", ns)["status"]["phase"] == "Active"
    cluster.get("configmap", "-n", ns, "admin-settings")
    cluster.get("resourcequota", "-n", ns, "admin-quota")
    left = cluster.get(
        "statefulsets,services,secrets,pvc", "-n", ns, "-l", "io.sealbox.managed=true"
    )["items"]
    assert left == []
    cluster.drop_namespace(ns)


def test_item8_failure_says_why_without_waiting_out_the_timeout(
    cluster, pushed, deployed, tmp_path
):
    ns = "live-quota"
    cluster.drop_namespace(ns)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "quota", "no-pods", "-n", ns, "--hard=pods=0")
    t0 = time.monotonic()
    res = cluster.sealbox(
        *cluster.apply_args(
            tmp_path / "q",
            ns,
            "license-server",
            "--set",
            "license_port=18889",
            "--insecure",
            "--timeout",
            "300",
        ),
        bundle=pushed,
    )
    took = time.monotonic() - t0
    assert res.rc == 1, res.stderr
    assert "Deployment license-server in live-quota cannot become ready" in res.stderr
    assert "exceeded quota" in res.stderr
    assert took < 120, took  # not the 300 s timeout
    cluster.drop_namespace(ns)


def test_item8_timeout_names_events_and_last_log_line(cluster, pushed, deployed, tmp_path):
    ns = "live-broken"
    cluster.drop_namespace(ns)
    cluster.pv("pv-broken", "5Gi")
    res = cluster.sealbox(
        *cluster.apply_args(
            tmp_path / "b",
            ns,
            "--set",
            "license_port=18890",
            "--set",
            "mysql_host=no-such-db",
            "--storage-size",
            "1Gi",
            "--insecure",
            "--timeout",
            "45",
        ),
        bundle=pushed,
    )
    assert res.rc == 1, res.stderr
    err = res.stderr
    assert "Deployment face-server in live-broken not ready within 45s" in err
    assert "Unhealthy" in err  # the probe's Warning event
    assert "last log line" in err and "no-such-db" in err  # the line that names the cause
    error = next(x for x in err.splitlines() if x.startswith("error:"))
    assert "license-server" not in error and "StatefulSet mysql" not in error  # they rolled out
    cluster.drop_namespace(ns)


def test_item11_storage_precheck_and_nothing_applied(cluster, pushed, deployed, tmp_path):
    ns = "live-nostorage"
    cluster.drop_namespace(ns)
    res = cluster.sealbox(
        *cluster.apply_args(
            tmp_path / "s", ns, "mysql", "--storage-class", "fast-ssd", "--insecure"
        ),
        bundle=pushed,
    )
    assert res.rc == 2 and "--storage-class fast-ssd: no such StorageClass" in res.stderr
    free = [pv for pv in cluster.get("pv")["items"] if pv["status"]["phase"] == "Available"]
    big = "500Gi"
    assert all(pv["spec"]["capacity"]["storage"] != big for pv in free)
    res = cluster.sealbox(
        *cluster.apply_args(tmp_path / "s", ns, "mysql", "--storage-size", big, "--insecure"),
        bundle=pushed,
    )
    assert res.rc == 2 and "no default StorageClass and no free PersistentVolume" in res.stderr
    assert "NotFound" in cluster.kubectl("get", "namespace", ns, check=False)


def test_item11_license_state_under_the_configured_hostpath_root(cluster, deployed):
    root = cluster.state / "hostpath" / NS / "license-server" / "state"
    assert root.is_dir()


def test_delete_keeps_data_then_purge_removes_what_sealbox_created(cluster, pushed, deployed):
    res = cluster.sealbox("k8s", "delete", "-n", NS, bundle=pushed)
    assert res.rc == 0, res.stderr
    left = cluster.get(
        "deployments,statefulsets,services,configmaps,secrets",
        "-n",
        NS,
        "-l",
        "io.sealbox.managed=true",
    )["items"]
    assert left == []
    assert cluster.get("pvc", "-n", NS)["items"]  # data kept
    purge = cluster.sealbox("k8s", "delete", "-n", NS, "--purge", "--yes", bundle=pushed)
    assert purge.rc == 0, purge.stderr
    assert "NotFound" in cluster.kubectl("get", "namespace", NS, check=False)
