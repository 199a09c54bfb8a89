"""Issue 18, item 1 in the live cluster: a licensed pod checks the NODE it runs on itself.

The attacker is root on the node, so the installation's seat key (the rendered secrets file)
is readable; with it and a GENUINE vendor-signed license for another machine, a minimal server
that speaks the grant protocol (no machine check, no seat count: tests/e2e/fake_license.py) runs
on the node. The real face-server stand-in pod, pointed at it, is granted every few seconds and
must stay unlicensed: its license client reads the node's own machine facts through the
read-only host view the manifests mount, and the license does not name this node. (Before the
client's machine check the pod answered `licensed: true` here.) The Docker variant is
tests/e2e/test_demo_images.py::test_a_fake_license_server_leaves_the_stand_in_unlicensed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from ..fake_license import fake_license_server
from .conftest import ROOT, Cluster

pytestmark = pytest.mark.e2e
NS = "live-fake"
FAKE_PORT = 18896  # on the node's bridge address, which every pod reaches on-link
INTERVAL = 3  # seconds between the pod's license checks
FACE_REF = "sealbox-demo/face-server-standin:1.0"
VENDOR_KEY = ROOT / "build" / "demo-vendor" / "vendor.key"  # the key the images pin


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def _face_pod(cluster: Cluster) -> dict | None:
    pods = cluster.get("pods", "-n", NS, "-l", "io.sealbox.module=face-server")["items"]
    live = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
    return live[0] if live else None


def _render(cluster: Cluster, pushed: Path, out: Path, node_ip: str) -> tuple[list[Path], str]:
    """The installation's manifests for this namespace with the face-server pointed at the
    fake (by digest, as `k8s apply` pins them), and the installation's seat key."""
    push = cluster.sealbox(
        "k8s", "push", "--registry", cluster.registry, "--insecure", "--json", bundle=pushed
    )
    assert push.rc == 0, push.stderr
    digest = next(i["digest"] for i in push.json()["images"] if i["ref"] == FACE_REF)
    assert digest.startswith("sha256:"), push.stdout
    res = cluster.sealbox(
        "k8s", "render", "face-server", "-o", str(out), "-n", NS,
        "--registry", cluster.registry, "--license-node", cluster.node,
        "--set", f"license_server_host={node_ip}", "--set", f"license_port={FAKE_PORT}",
        "--set", f"license_check_interval={INTERVAL}",
        bundle=pushed,
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    face = out / "03-face-server.yaml"
    tagged = f"image: {cluster.registry}/{FACE_REF}"
    text = face.read_text()
    assert tagged in text, text
    face.write_text(
        text.replace(tagged, f"image: {cluster.registry}/{FACE_REF.split(':')[0]}@{digest}")
    )
    seat_key = yaml.safe_load((out / ".sealbox" / "secrets.yaml").read_text())["license_seat_key"]
    return [out / "00-namespace.yaml", out / "03-face-server-secret.yaml", face], seat_key


def test_machine_less_grant_leaves_the_pod_unlicensed(cluster: Cluster, pushed: Path, tmp_path):
    if not VENDOR_KEY.is_file():
        pytest.fail(f"{VENDOR_KEY} missing: the demo bundle build makes it")
    node_ip = cluster.env["SEALBOX_K8S_NODE_IP"]
    cluster.drop_namespace(NS)
    files, seat_key = _render(cluster, pushed, tmp_path / "out", node_ip)
    fake = f"http://{node_ip}:{FAKE_PORT}/"
    try:
        with fake_license_server(FAKE_PORT, seat_key, VENDOR_KEY, bind=node_ip):
            cluster.kubectl("apply", *(a for f in files for a in ("-f", str(f))))
            cluster.wait("a running face-server pod", lambda: _face_pod(cluster), timeout=180)
            pod = _face_pod(cluster)
            assert pod is not None
            health_url = f"http://{pod['status']['podIP']}:8300/health"
            cluster.wait("the pod's health answer", lambda: _get(health_url)[0], timeout=60)
            # several checks against the fake, each answered with a grant, then one more round
            deadline = time.monotonic() + 12 * INTERVAL
            while time.monotonic() < deadline and len(_get(fake)[1].get("asked", [])) < 2:
                time.sleep(1)
            time.sleep(INTERVAL + 1)  # the pod has judged the latest grant
            code, health = _get(health_url)
            asked = _get(fake)[1].get("asked", [])
            logs = cluster.kubectl("logs", "-n", NS, pod["metadata"]["name"], check=False)
        seen = (asked, code, health, logs[-2000:])
        assert len(asked) >= 2 and pod["metadata"]["name"] in asked, seen  # the pod asked the fake
        assert code == 503 and health["licensed"] is False, (health, logs[-2000:])
        assert "is not for this machine" in health["reason"], health
        assert "license: granted" not in logs, logs[-2000:]
    finally:
        cluster.drop_namespace(NS)
