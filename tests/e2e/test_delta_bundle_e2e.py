"""Delta (upgrade) bundles against the real engine (issue 20): `bundle create --since`, the base
guard, the one load path.

v1 = the face-server stand-in + one layer (sealbox-test/delta-app:1.0); v1.1 = v1 + one more
layer, a "model" file (sealbox-demo/face-server:1.1-delta-test). Both are built by
demo/layer_image.py: no `docker build`, the same image IDs on every run. The product is a
small one of its own (one module serving HTTP), so removing its images touches no other test.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DEMO_VENDOR_PUB, ROOT, run_cli
from tests.e2e.test_image_trust_e2e import containers, docker, free_port, image_of

pytestmark = pytest.mark.e2e

STANDIN = "sealbox-demo/face-server-standin:1.0"
V1 = "sealbox-test/delta-app:1.0"
V11 = "sealbox-demo/face-server:1.1-delta-test"
MODEL = random.Random(20).randbytes(2 << 20)  # the one layer that changes: a 2 MB "model"


def add_layer(base: str, new: str, files: dict, work: Path) -> str:
    sys.path.insert(0, str(ROOT / "demo"))
    from layer_image import add_layer as add

    return add(base, new, files, str(work))


def write_product(src: Path, version: str, ref: str, port: int) -> Path:
    (src / "modules").mkdir(parents=True)
    (src / "templates").mkdir()
    spec = {
        "name": "delta-app",
        "version": version,
        "description": "test module: the stand-in serving HTTP",
        "image": {"ref": ref, "archive": "images/delta-app.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": port, "per_instance": False}],
        "command": ["python3", "-m", "http.server", str(port)],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.2},
    }
    (src / "modules" / "delta-app.yaml").write_text(yaml.safe_dump(spec))
    definition = src / "bundle.yaml"
    definition.write_text(
        yaml.safe_dump({"product": "delta-e2e", "version": version, "modules": ["delta-app"]})
    )
    return definition


@pytest.fixture(scope="module")
def bundles(demo_bundle, tmp_path_factory):
    """(v1 bundle, delta bundle of 1.1 over it, v1 ID, v1.1 ID), built through the CLI."""
    work = tmp_path_factory.mktemp("delta")
    key = str(DEMO_VENDOR_PUB.with_suffix(".key"))
    v1_id = add_layer(STANDIN, V1, {"opt/delta-test/version": b"1.0\n"}, work / "l1")
    v11_id = add_layer(V1, V11, {"opt/model/weights.bin": MODEL}, work / "l2")
    assert v1_id != v11_id
    port = free_port()
    v1 = work / "v1"
    res = run_cli(
        "bundle", "create", str(write_product(work / "s1", "1.0", V1, port)),
        "-o", str(v1), "--key", key, "--no-wheels",
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    delta = work / "v11"
    res = run_cli(
        "bundle", "create", str(write_product(work / "s2", "1.1", V11, port)),
        "-o", str(delta), "--key", key, "--no-wheels", "--since", str(v1 / "manifest.yaml"),
    )  # fmt: skip
    assert res.rc == 0, res.stderr
    assert "Upgrade (delta) bundle of delta-e2e 1.0: 5 layer(s) left out" in res.stdout
    yield v1, delta, v1_id, v11_id
    for ref in (V11, V1):
        docker("rmi", "-f", ref, check=False)


def forget_images(v1_id: str, v11_id: str) -> None:
    """The host has neither version (the stand-in base stays: other tests use it)."""
    for what in (V11, v11_id, V1, v1_id):
        docker("rmi", "-f", what, check=False)
    assert image_of(v1_id) == "" and image_of(v11_id) == ""


def image_events(since: float) -> list[str]:
    out = docker(
        "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
        "--filter", "type=image", "--format", "{{.Action}} {{.ID}}",
    )  # fmt: skip
    return [line for line in out.splitlines() if line.strip()]


@pytest.fixture()
def state(tmp_path, bundles):
    state = tmp_path / "state"
    yield state
    run_cli("rmall", "--purge", "--yes", bundle=bundles[1], state_dir=state)


def test_the_delta_carries_the_one_new_layer_and_says_what_it_is_a_delta_of(bundles):
    from installer.bundle.manifest import load_manifest

    v1, delta, v1_id, v11_id = bundles
    old, new = load_manifest(str(v1)), load_manifest(str(delta))
    (entry,) = new.images
    assert entry.id == v11_id and entry.base_image == v1_id
    v1_layers = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", v1_id)
    assert list(entry.omits) == yaml.safe_load(v1_layers)  # every v1 layer, none of the new
    assert new.base == {"product": "delta-e2e", "version": "1.0", "images": {V1: v1_id}}
    assert entry.size < old.images[0].size / 10  # 2 MB of model vs the whole stand-in
    assert entry.size < len(MODEL) * 1.1
    res = run_cli("bundle", "verify", "--json", str(delta))
    assert res.rc == 0, res.stderr
    assert res.json()["delta_of"] == {"product": "delta-e2e", "version": "1.0"}
    assert res.json()["archives_checked"] == 1
    res = run_cli("se", bundle=delta)
    assert res.rc == 0 and "upgrade (delta) bundle of 1.0" in res.stdout, res.stderr
    res = run_cli("se", "--json", bundle=delta)
    assert res.rc == 0 and '"delta_of"' in res.stdout, res.stderr


def test_a_host_without_v1_refuses_the_delta_before_anything_changes(bundles, state):
    _v1, delta, v1_id, v11_id = bundles
    forget_images(v1_id, v11_id)
    before = set(docker("image", "ls", "-a", "-q", "--no-trunc").split())
    started = time.time()
    res = run_cli("in", "delta-app", "-y", bundle=delta, state_dir=state)
    assert res.rc == 3, res.stderr
    (line,) = res.error_lines()
    assert "delta-e2e 1.0" in line and V1 in line and "install delta-e2e 1.0 first" in line
    time.sleep(1)
    assert image_events(started) == []  # no load, no tag, no delete: docker saw nothing
    assert set(docker("image", "ls", "-a", "-q", "--no-trunc").split()) == before
    assert image_of(v11_id) == "" and containers(state) == []


def test_the_delta_installs_over_v1_and_runs_the_signed_id(bundles, state):
    v1, delta, v1_id, v11_id = bundles
    forget_images(v1_id, v11_id)
    res = run_cli("in", "delta-app", "-y", bundle=v1, state_dir=state)
    assert res.rc == 0, res.stderr
    (name,) = containers(state)
    assert docker("container", "inspect", "--format", "{{.Image}}", name) == v1_id
    started = time.time()
    res = run_cli("in", "delta-app", "-y", bundle=delta, state_dir=state)
    assert res.rc == 0, res.stderr
    assert image_of(V11) == v11_id and image_of(v11_id) == v11_id
    (name,) = containers(state)
    assert docker("container", "inspect", "--format", "{{.Image}}", name) == v11_id
    out = docker("exec", name, "sha256sum", "/opt/model/weights.bin").split()[0]
    assert out == hashlib.sha256(MODEL).hexdigest()  # the new layer, whole
    assert any(e.startswith("load ") for e in image_events(started))


def test_a_tampered_delta_loads_nothing(bundles, state, tmp_path):
    _v1, delta, v1_id, v11_id = bundles
    forget_images(v1_id, v11_id)
    # v1 on the host (as a v1 install leaves it), so only the tampering can stop the load
    from installer.bundle.manifest import load_manifest

    v1_archive = bundles[0] / load_manifest(str(bundles[0])).images[0].file
    subprocess.run(f"zstd -dcq --long=31 {v1_archive} | docker load -q", shell=True, check=True)
    assert image_of(v1_id) == v1_id
    (rel,) = {e["file"] for e in yaml.safe_load((delta / "manifest.yaml").read_text())["images"]}

    # (1) a changed layer: one byte of the archive, same size (so only its sha256 can tell)
    copy = tmp_path / "changed-layer"
    shutil.copytree(delta, copy)
    data = bytearray((copy / rel).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / rel).write_bytes(bytes(data))
    started = time.time()
    res = run_cli("in", "delta-app", "-y", bundle=copy, state_dir=state)
    assert res.rc == 1, res.stderr
    (line,) = res.error_lines()
    assert "sha256 mismatch" in line or "corrupt" in line
    # (2) a changed manifest: the delta's base swapped for an image the host has anyway
    copy2 = tmp_path / "changed-manifest"
    shutil.copytree(delta, copy2)
    text = (copy2 / "manifest.yaml").read_text()
    (copy2 / "manifest.yaml").write_text(text.replace("version: '1.1'", "version: '1.2'"))
    res = run_cli("in", "delta-app", "-y", bundle=copy2, state_dir=state)
    assert res.rc == 5, res.stderr
    assert "does not match its signature" in res.error_lines()[0]
    time.sleep(1)
    assert image_events(started) == []  # no load, tag or delete: docker never got a whole tar
    assert image_of(v11_id) == "" and image_of(V11) == "" and containers(state) == []
