"""Rendering: golden manifests per module, secrets placement, GPUs, probes, labels, pinning."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
import yaml

from installer.errors import UsageError
from installer.k8s import labels as K
from installer.k8s.flow import render_to_dir
from installer.k8s.render import K8sOptions, render_bundle

from .conftest import FIXED_SECRETS, GOLDEN, make_bundle

GOLDEN_OPTIONS = dict(registry="10.0.0.5:5000", license_node="node-a", namespace="faces")


def opts(**kw) -> K8sOptions:
    return K8sOptions(**{**GOLDEN_OPTIONS, **kw})


def by_kind(objs, kind, name=None):
    found = [
        o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert found, f"no {kind} {name or ''}"
    return found if name is None else found[0]


def pod(objs, name):
    kind = "StatefulSet" if name == "mysql" else "Deployment"
    return by_kind(objs, kind, name)["spec"]["template"]["spec"]


@pytest.mark.parametrize("module", ["license-server", "mysql", "face-server"])
def test_golden_manifests_per_module(bundle, module):
    rendered = render_bundle(str(bundle), [module], opts(), FIXED_SECRETS)
    text = "".join(f.text() for f in rendered.files if module in f.name)
    golden = GOLDEN / f"{module}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; UPDATE_GOLDEN=1 after checking the diff"


def test_render_is_deterministic_and_reuses_secrets(bundle, tmp_path):
    out = tmp_path / "out"
    first = render_to_dir(str(bundle), [], opts(), str(out))
    texts = {p: Path(p).read_text() for p in first.files}
    secrets_file = Path(first.secrets_file)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    saved = yaml.safe_load(secrets_file.read_text())
    assert set(saved) == {"mysql_password", "mysql_root_password", "license_seat_key"}
    assert [len(saved[k]) for k in sorted(saved)] == [48, 32, 32]
    again = render_to_dir(str(bundle), [], opts(), str(out))
    assert {p: Path(p).read_text() for p in again.files} == texts
    assert yaml.safe_load(secrets_file.read_text()) == saved
    for f in first.rendered.files:
        mode = stat.S_IMODE((out / f.name).stat().st_mode)
        assert mode == (0o600 if f.secret else 0o644), f.name


def test_secrets_only_in_secrets_never_in_configmaps(bundle):
    rendered = render_bundle(str(bundle), [], opts(), FIXED_SECRETS)
    public = "".join(f.text() for f in rendered.files if not f.secret)
    for value in FIXED_SECRETS.values():
        assert value not in public
    for cm in [o for o in rendered.objects if o["kind"] == "ConfigMap"]:
        assert not set(cm["data"]) & {"init.sql", "service.conf"}
    mysql_secret = by_kind(rendered.objects, "Secret", "mysql-secret")["data"]
    decoded = {k: base64.b64decode(v).decode() for k, v in mysql_secret.items()}
    assert decoded["mysql_password"] == FIXED_SECRETS["mysql_password"]
    assert FIXED_SECRETS["mysql_root_password"] in decoded["init.sql"]
    face = by_kind(rendered.objects, "Secret", "face-server-secret")["data"]
    conf = base64.b64decode(face["service.conf"]).decode()
    assert "MYSQL_SVC_SERVICE_HOST=mysql\n" in conf
    assert "LICENSE_SERVER_HOST=license-server\n" in conf
    assert f"MYSQL_SVC_PASSWORD={FIXED_SECRETS['mysql_password']}\n" in conf
    assert all(f.secret for f in rendered.files if any(o["kind"] == "Secret" for o in f.objects))


def test_gpu_limits_when_asked_and_not_otherwise(bundle):
    plain = render_bundle(str(bundle), ["face-server"], opts(), FIXED_SECRETS)
    face_res = pod(plain.objects, "face-server")["containers"][0]["resources"]
    assert "nvidia.com/gpu" not in face_res["limits"]
    gpu = render_bundle(str(bundle), ["face-server"], opts(gpus=2, instances=3), FIXED_SECRETS)
    dep = by_kind(gpu.objects, "Deployment", "face-server")
    assert dep["spec"]["replicas"] == 3
    # a string: server-side apply on 1.20 refuses an integer quantity (issue 14, item 4)
    limits = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "2"
    # the old pod serves until the new one is ready (issue 14, item 5)
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    conf = by_kind(gpu.objects, "Secret", "face-server-secret")["data"]["service.conf"]
    assert "GPU_ID=0\n" in base64.b64decode(conf).decode()  # the pod's first visible GPU
    mysql_limits = pod(gpu.objects, "mysql")["containers"][0]["resources"]["limits"]
    assert "nvidia.com/gpu" not in mysql_limits  # deps keep their defaults
    with pytest.raises(UsageError, match="mysql does not use GPUs"):
        render_bundle(str(bundle), ["mysql"], opts(gpus=1), FIXED_SECRETS)


def test_probes_from_the_health_check(bundle):
    objs = render_bundle(str(bundle), [], opts(), FIXED_SECRETS).objects
    face = pod(objs, "face-server")["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert face[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert face["startupProbe"]["failureThreshold"] * face["startupProbe"]["periodSeconds"] >= 180
    mysql = pod(objs, "mysql")["containers"][0]
    assert mysql["readinessProbe"]["tcpSocket"] == {"port": "mysql"}
    assert (
        pod(objs, "license-server")["containers"][0]["livenessProbe"]["httpGet"]["path"]
        == "/health"
    )


def test_workload_shapes(bundle):
    objs = render_bundle(str(bundle), [], opts(service_type="ClusterIP"), FIXED_SECRETS).objects
    sts = by_kind(objs, "StatefulSet", "mysql")
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "db"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    # a data subdirectory: an ext4 volume's root holds lost+found (issue 14, item 10)
    db_mount = {"name": "db", "mountPath": "/var/lib/mysql", "subPath": "data"}
    assert db_mount in pod(objs, "mysql")["containers"][0]["volumeMounts"]
    # the governing Service is headless; clients use the ClusterIP one (item 12)
    assert sts["spec"]["serviceName"] == "mysql-headless"
    assert by_kind(objs, "Service", "mysql-headless")["spec"]["clusterIP"] == "None"
    lic = by_kind(objs, "Deployment", "license-server")
    lpod = lic["spec"]["template"]["spec"]
    assert lpod["hostNetwork"] is True
    assert lpod["nodeSelector"] == {"kubernetes.io/hostname": "node-a"}
    assert lic["spec"]["strategy"] == {"type": "Recreate"}
    assert {"name": "data-license", "secret": {"secretName": "license-server-license"}} in lpod[
        "volumes"
    ]
    assert lpod["containers"][0]["args"][:3] == [
        "python3",
        "-m",
        "installer.license.shipped.server",
    ]
    assert by_kind(objs, "Service", "face-server")["spec"]["type"] == "ClusterIP"
    node_port = render_bundle(str(bundle), ["face-server"], opts(), FIXED_SECRETS).objects
    assert by_kind(node_port, "Service", "face-server")["spec"]["type"] == "NodePort"
    assert by_kind(node_port, "Service", "mysql")["spec"]["type"] == "ClusterIP"
    fixed = render_bundle(str(bundle), ["face-server"], opts(node_port=30300), FIXED_SECRETS)
    assert by_kind(fixed.objects, "Service", "face-server")["spec"]["ports"][0]["nodePort"] == 30300
    images = {
        c["image"]
        for o in objs
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {
        "10.0.0.5:5000/sealbox-demo/license-server:0.1",
        "10.0.0.5:5000/sealbox-demo/mariadb:10.11",
        "10.0.0.5:5000/sealbox-demo/face-server-standin:1.0",
    }


def test_labels_let_status_find_everything(bundle):
    rendered = render_bundle(str(bundle), [], opts(), FIXED_SECRETS)
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels[K.MANAGED] == "true", obj["metadata"]["name"]
        assert obj["kind"] == "Namespace" or labels[K.MODULE] in rendered.modules
        assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "faces"
    for kind in ("Deployment", "StatefulSet"):
        for w in by_kind(rendered.objects, kind):
            sel = w["spec"]["selector"]["matchLabels"]
            assert sel.items() <= w["spec"]["template"]["metadata"]["labels"].items()
            assert w["spec"]["template"]["metadata"]["annotations"][K.CONFIG_HASH]


def test_config_change_changes_the_pod_hash(bundle):
    a = render_bundle(str(bundle), ["mysql"], opts(), FIXED_SECRETS)
    b = render_bundle(str(bundle), ["mysql"], opts(overrides={"mysql_port": "5600"}), FIXED_SECRETS)

    def hash_of(r):
        return by_kind(r.objects, "StatefulSet", "mysql")["spec"]["template"]["metadata"][
            "annotations"
        ][K.CONFIG_HASH]

    assert hash_of(a) != hash_of(b)
    assert by_kind(b.objects, "Service", "mysql")["spec"]["ports"][0]["port"] == 5600


@pytest.mark.parametrize(
    "kw, names, message",
    [
        ({"license_node": None}, ["license-server"], "--license-node"),
        ({"instances": 2}, ["mysql"], "mysql runs as one pod"),
        ({"instances": 99}, ["face-server"], "allows 1 to 16"),
        ({"service_type": "LoadBalancer"}, [], "--service-type LoadBalancer"),
        ({}, ["nope"], "unknown module nope"),
    ],
)
def test_refusals_name_the_fix(bundle, kw, names, message):
    with pytest.raises(UsageError, match=message):
        render_bundle(str(bundle), names, opts(**kw), FIXED_SECRETS)


def test_missing_license_file_is_named(tmp_path):
    b = make_bundle(tmp_path / "b")
    (b / "license" / "license.cfg").unlink()  # a bundle shipped without one (not listed)
    doc = yaml.safe_load((b / "manifest.yaml").read_text())
    del doc["files"]["license/license.cfg"]
    (b / "manifest.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(UsageError, match="pass --license FILE"):
        render_bundle(str(b), ["license-server"], opts(), FIXED_SECRETS)


def test_all_modules_with_gpus_and_instances_applies_where_it_fits(bundle):
    objs = render_bundle(str(bundle), [], opts(gpus=1, instances=2), FIXED_SECRETS).objects
    face = by_kind(objs, "Deployment", "face-server")
    assert face["spec"]["replicas"] == 2
    limits = face["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"
    assert by_kind(objs, "StatefulSet", "mysql")["spec"]["replicas"] == 1
    assert by_kind(objs, "Deployment", "license-server")["spec"]["replicas"] == 1
