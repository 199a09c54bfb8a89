"""Cluster mode end to end: a real registry (Debian's docker-registry) on 127.0.0.1 for push,
kubectl against a stand-in API server for apply / rollout / status / delete.

No live Kubernetes cluster is involved: see installer/k8s/README.md for what that leaves out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import run_cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from k8s_fake_api import FakeApi  # noqa: E402

pytestmark = pytest.mark.e2e

ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600)
    if check:
        assert res.returncode == 0, f"docker {' '.join(args)}: {res.stderr}"
    return res


def _local_refs(registry: str) -> list[str]:
    """Every local tag or digest reference under the test registry."""
    out = _docker("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").stdout
    refs = []
    for line in out.splitlines():
        repo, tag, digest = line.split()
        if repo.startswith(registry + "/"):
            if tag != "<none>":
                refs.append(f"{repo}:{tag}")
            if digest != "<none>":
                refs.append(f"{repo}@{digest}")
    return refs


@pytest.fixture
def registry(docker_engine):
    """docker-registry on a free 127.0.0.1 port, storage in a temp dir; all removed after."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.fail("docker-registry missing: apt-get install docker-registry")
    tmp = Path(tempfile.mkdtemp(prefix="sealbox-registry-"))
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(tmp / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (tmp / "config.yml").write_text(yaml.safe_dump(config))
    log = open(tmp / "registry.log", "w")
    proc = subprocess.Popen([binary, "serve", str(tmp / "config.yml")], stdout=log, stderr=log)
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(
                f"docker-registry did not start: {(tmp / 'registry.log').read_text()[-500:]}"
            )
        yield address
    finally:
        for ref in _local_refs(address):
            _docker("image", "rm", ref, check=False)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _get(url: str, accept: str = ACCEPT) -> tuple[bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read(), dict(resp.headers)


def _push(bundle, registry):
    res = run_cli("k8s", "push", "--registry", registry, "--insecure", "--json", bundle=bundle)
    assert res.rc == 0, res.stderr
    return res.json()["images"], res.stderr


def test_push_pull_by_digest_and_second_push_skips(demo_bundle, registry):
    manifest = yaml.safe_load((demo_bundle / "manifest.yaml").read_text())
    ids = {img["ref"]: img["id"] for img in manifest["images"]}

    images, _ = _push(demo_bundle, registry)
    assert {i["ref"] for i in images} == set(ids)
    assert all(i["action"] == "push" and i["digest"].startswith("sha256:") for i in images)
    assert _local_refs(registry) == []  # the retags were removed after pushing

    for item in images:
        repo = item["target"][len(registry) + 1 :].rsplit(":", 1)[0]
        body, headers = _get(f"http://{registry}/v2/{repo}/manifests/{item['digest']}")
        assert "sha256:" + hashlib.sha256(body).hexdigest() == item["digest"]
        doc = json.loads(body)
        assert doc["config"]["digest"] == ids[item["ref"]]  # same image, byte for byte
        for blob in [doc["config"], *doc["layers"]]:
            data, _ = _get(f"http://{registry}/v2/{repo}/blobs/{blob['digest']}", "*/*")
            assert "sha256:" + hashlib.sha256(data).hexdigest() == blob["digest"]

    mariadb = next(i for i in images if "mariadb" in i["ref"])
    by_digest = f"{mariadb['target'].rsplit(':', 1)[0]}@{mariadb['digest']}"
    _docker("pull", by_digest)
    assert (
        _docker("image", "inspect", "--format", "{{.Id}}", by_digest).stdout.strip()
        == ids[mariadb["ref"]]
    )

    again, stderr = _push(demo_bundle, registry)
    assert [i["action"] for i in again] == ["skip"] * len(ids)
    assert {i["ref"]: i["digest"] for i in again} == {i["ref"]: i["digest"] for i in images}
    assert "pushing" not in stderr and "loading" not in stderr

    # one image deleted from the registry: only that one goes up again
    repo = mariadb["target"][len(registry) + 1 :].rsplit(":", 1)[0]
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{mariadb['digest']}", method="DELETE"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 202
    third, _ = _push(demo_bundle, registry)
    assert {i["ref"]: i["action"] for i in third} == {
        ref: ("push" if ref == mariadb["ref"] else "skip") for ref in ids
    }


def test_plain_http_registry_needs_insecure(demo_bundle, registry):
    res = run_cli("k8s", "push", "--registry", registry, bundle=demo_bundle)
    assert res.rc == 3
    assert f"registry {registry} unreachable" in res.stderr and "--insecure" in res.stderr


def _render(bundle, out: Path, *extra: str):
    res = run_cli(
        "k8s", "render", "-o", str(out), "--license-node", "node-a", "--json", *extra, bundle=bundle
    )
    assert res.rc == 0, res.stderr
    return res.json()


def test_kubectl_client_dry_run_accepts_every_rendered_object(demo_bundle, tmp_path):
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl missing: apt-get install kubernetes-client")
    out = tmp_path / "out"
    doc = _render(demo_bundle, out, "--registry", "127.0.0.1:5000", "--gpus", "1")
    with FakeApi() as api:
        kc = api.kubeconfig(str(tmp_path / "kubeconfig"))
        res = subprocess.run(
            ["kubectl", "--kubeconfig", kc, "apply", "--dry-run=client", "-f", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        created = [
            line.split()[0] for line in res.stdout.splitlines() if "created (dry run)" in line
        ]
        assert len(created) == len(doc["objects"])
        assert not any(r.startswith(("PATCH", "POST", "PUT")) for r in api.requests)
        # and kubectl does refuse what it cannot map: the check is not a no-op
        (out / "99-bad.yaml").write_text("apiVersion: v1\nkind: NoSuchKind\nmetadata: {name: x}\n")
        bad = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                kc,
                "apply",
                "--dry-run=client",
                "--validate=false",  # reach the kind mapping itself
                "-f",
                str(out / "99-bad.yaml"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode != 0 and "NoSuchKind" in bad.stderr


def test_apply_status_delete_through_kubectl(demo_bundle, tmp_path):
    out = tmp_path / "out"
    with FakeApi() as api:
        kc = api.kubeconfig(str(tmp_path / "kubeconfig"))
        res = run_cli(
            "k8s",
            "apply",
            "-o",
            str(out),
            "--license-node",
            "node-a",
            "--kubeconfig",
            kc,
            "--namespace",
            "faces",
            "--timeout",
            "30",
            "--json",
            bundle=demo_bundle,
        )
        assert res.rc == 0, res.stderr
        rows = {w["name"]: w for w in res.json()["workloads"]}
        assert set(rows) == {"license-server", "mysql", "face-server"}
        assert all(w["ok"] for w in rows.values())
        patches = [r for r in api.requests if r.startswith("PATCH")]
        assert len(patches) == 11
        assert all("fieldManager=sealbox" in p and "apply-patch+yaml" in p for p in patches)
        stored = api.objects[("secrets", "faces", "mysql-secret")]
        secrets = yaml.safe_load((out / ".sealbox" / "secrets.yaml").read_text())
        import base64

        assert (
            base64.b64decode(stored["data"]["mysql_password"]).decode() == secrets["mysql_password"]
        )
        for value in secrets.values():
            assert value not in res.stdout and value not in res.stderr

        status = run_cli("k8s", "status", "-n", "faces", "--kubeconfig", kc, "--json")
        assert status.rc == 0 and len(status.json()["workloads"]) == 3
        # the field engineer's commands learn --k8s: li is the same view, rm removes one module
        li = run_cli("li", "--k8s", "-n", "faces", "--kubeconfig", kc, "--json")
        assert li.rc == 0 and li.json() == status.json()
        rm = run_cli("rm", "face-server", "--k8s", "-n", "faces", "--kubeconfig", kc)
        assert rm.rc == 0, rm.stderr
        left = run_cli("li", "--k8s", "-n", "faces", "--kubeconfig", kc, "--json").json()
        assert sorted(w["name"] for w in left["workloads"]) == ["license-server", "mysql"]

        kept = run_cli("k8s", "delete", "-n", "faces", "--kubeconfig", kc)
        assert kept.rc == 0, kept.stderr
        assert sorted(api.objects) == [("namespaces", "", "faces")]
        purged = run_cli("k8s", "delete", "-n", "faces", "--purge", "--yes", "--kubeconfig", kc)
        assert purged.rc == 0, purged.stderr
        assert api.objects == {}


def test_apply_names_the_workload_that_does_not_roll_out(demo_bundle, tmp_path):
    with FakeApi(never_ready=("face-server",)) as api:
        kc = api.kubeconfig(str(tmp_path / "kubeconfig"))
        res = run_cli(
            "k8s",
            "apply",
            "-o",
            str(tmp_path / "out"),
            "--license-node",
            "node-a",
            "--kubeconfig",
            kc,
            "--timeout",
            "3",
            bundle=demo_bundle,
        )
    assert res.rc == 1
    assert "Deployment face-server in sealbox not ready within 3s" in res.stderr


def test_apply_without_kubeconfig_writes_nothing(demo_bundle, tmp_path):
    res = run_cli(
        "k8s",
        "apply",
        "-o",
        str(tmp_path / "out"),
        "--license-node",
        "node-a",
        "--kubeconfig",
        str(tmp_path / "missing"),
        bundle=demo_bundle,
    )
    assert res.rc == 3 and "no kubeconfig" in res.stderr
    assert not (tmp_path / "out").exists()
