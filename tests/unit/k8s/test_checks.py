"""Pre-checks and rollout judgement from cluster facts (parsing only; the live cluster tests
in tests/e2e/k8s run the same code against Kubernetes 1.20)."""

from __future__ import annotations

import copy

import pytest

from installer.errors import UsageError
from installer.k8s import checks
from installer.k8s.facts import ClusterFacts
from installer.k8s.flow import secrets_from_cluster
from installer.k8s.render import K8sOptions, render_bundle
from installer.k8s.rollout import _pod_fatal, rolled_out, telling_line

from .conftest import FIXED_SECRETS

OPTS = dict(registry="10.0.0.5:5000", license_node="node-a", namespace="faces")


def _render(bundle, names=(), **kw):
    return render_bundle(str(bundle), list(names), K8sOptions(**{**OPTS, **kw}), FIXED_SECRETS)


def _pv(size: str, klass: str = "") -> dict:
    spec = {"capacity": {"storage": size}}
    if klass:
        spec["storageClassName"] = klass
    return {"spec": spec, "status": {"phase": "Available"}}


def test_storage_needs_a_class_or_a_fitting_pv(bundle):
    rendered = _render(bundle, ["mysql"], storage_size="10Gi")
    with pytest.raises(UsageError, match="no default StorageClass and no free PersistentVolume"):
        checks.check_storage(rendered, ClusterFacts(None, volumes=[_pv("5Gi")]))
    checks.check_storage(rendered, ClusterFacts(None, volumes=[_pv("10Gi")]))
    default = {"metadata": {"name": "local", "annotations": {
        "storageclass.kubernetes.io/is-default-class": "true"}}}  # fmt: skip
    checks.check_storage(rendered, ClusterFacts(None, storage_classes=[default]))
    named = _render(bundle, ["mysql"], storage_class="fast")
    with pytest.raises(UsageError, match="--storage-class fast: no such StorageClass"):
        checks.check_storage(named, ClusterFacts(None, storage_classes=[default]))


def test_immutable_claim_change_is_refused_with_the_fix(bundle):
    live = _render(bundle, ["mysql"], storage_size="1Gi")
    sts = copy.deepcopy(next(o for o in live.objects if o["kind"] == "StatefulSet"))
    facts = ClusterFacts({}, statefulsets={"mysql": sts})
    checks.check_immutable(_render(bundle, ["mysql"], storage_size="1024Mi"), facts)  # same
    with pytest.raises(UsageError, match="claim db is 1Gi, asked 2Gi.*resize the PVC"):
        checks.check_immutable(_render(bundle, ["mysql"], storage_size="2Gi"), facts)
    with pytest.raises(UsageError, match="--cascade=orphan"):
        checks.check_immutable(_render(bundle, ["mysql"], storage_size="1Gi",
                                       storage_class="other"), facts)  # fmt: skip


def test_gpu_change_refused_without_free_gpus(bundle):
    rendered = _render(bundle, ["face-server"], gpus=1, instances=2)
    node = {"status": {"allocatable": {"nvidia.com/gpu": "2"}}}
    checks.check_gpus(rendered, ClusterFacts(None, nodes=[node]))
    busy = {"metadata": {"namespace": "other", "labels": {}}, "status": {"phase": "Running"},
            "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}  # fmt: skip
    with pytest.raises(UsageError, match="needs 2 nvidia.com/gpu but the cluster has 1 free"):
        checks.check_gpus(rendered, ClusterFacts(None, nodes=[node], pods=[busy]))


def test_secret_variables_read_back_from_the_cluster():
    facts = ClusterFacts({}, secrets={
        "mysql-secret": {"mysql_password": "live", "init.sql": "..."},
        "license-server-license": {"license.cfg": "x"},
    })  # fmt: skip
    assert secrets_from_cluster(facts) == {"mysql_password": "live"}


def test_rollout_judgement():
    dep = {"kind": "Deployment", "metadata": {"generation": 2}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2,
                      "updatedReplicas": 2}}  # fmt: skip
    assert rolled_out(dep)
    dep["status"]["observedGeneration"] = 1
    assert not rolled_out(dep)
    crash = {"status": {"containerStatuses": [
        {"restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}  # fmt: skip
    assert "CrashLoopBackOff after 3 restarts" in (_pod_fatal(crash) or "")
    pull = {"status": {"containerStatuses": [
        {"restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no"}}}]}}  # fmt: skip
    assert (_pod_fatal(pull) or "").startswith("ImagePullBackOff")
    assert _pod_fatal({"status": {}}) is None


def test_the_log_line_that_names_the_problem():
    logs = ["start", "mysql: db:5535: Can't connect to MySQL server", '"GET /health" 503 -']
    assert telling_line(logs) == "mysql: db:5535: Can't connect to MySQL server"
    assert telling_line(["a", "b"]) == "b" and telling_line([]) is None
