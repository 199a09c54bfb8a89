"""What runs is the signed image ID (issue 11, items 2 and 3), against the real engine.

A small signed bundle with an image of its own (the face-server stand-in plus a unique label,
so its ID exists nowhere else and the install must load it), installed through the CLI.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest
import yaml
import zstandard

from tests.e2e.conftest import DEMO_VENDOR_PUB, run_cli
from tests.e2e.ssh.conftest import image_archive

pytestmark = pytest.mark.e2e

REF = "sealbox-test/trust-app:1"
BASE = "sealbox-demo/face-server-standin:1.0"


def docker(*argv: str, check: bool = True) -> str:
    res = subprocess.run(["docker", *argv], capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"docker {' '.join(argv)}: {res.stderr}")
    return res.stdout.strip() if res.returncode == 0 else ""


def image_of(ref: str) -> str:
    """The ID `ref` names on the engine, or "" when it names nothing."""
    return docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def signed_bundle(demo_bundle, tmp_path_factory):
    """(bundle dir, signed image ID, archive); the image is absent from the engine afterwards."""
    from installer import signing
    from installer.bundle.create import create_bundle, load_definition
    from installer.bundle.manifest import load_manifest

    work = tmp_path_factory.mktemp("trust")
    port = free_port()
    dockerfile = f'FROM {BASE}\nLABEL io.sealbox.test-unique="{os.urandom(8).hex()}"\n'
    env = dict(os.environ, DOCKER_BUILDKIT="0")
    subprocess.run(
        ["docker", "build", "-q", "-t", REF, "-"],
        input=dockerfile.encode(),
        env=env,
        check=True,
        capture_output=True,
    )
    src = work / "src"
    (src / "modules").mkdir(parents=True)
    (src / "templates").mkdir()
    spec = {
        "name": "trust-app",
        "version": "1",
        "description": "test module: the stand-in serving HTTP",
        "image": {"ref": REF, "archive": "images/trust-app.tar.zst"},
        "network": "host",
        "licensed": False,
        "ports": [{"name": "http", "port": port, "per_instance": False}],
        "command": ["python3", "-m", "http.server", str(port)],
        "health": {"type": "tcp", "port": "http", "timeout": 60, "interval": 0.2},
    }
    (src / "modules" / "trust-app.yaml").write_text(yaml.safe_dump(spec))
    (src / "bundle.yaml").write_text(
        yaml.safe_dump({"product": "trust", "version": "1", "modules": ["trust-app"]})
    )
    out = work / "bundle"
    key = signing.load_private(str(DEMO_VENDOR_PUB.with_suffix(".key")))
    create_bundle(load_definition(str(src / "bundle.yaml")), str(out), carry=False, key=key)
    entry = load_manifest(str(out)).images[0]
    assert entry.ref == REF
    docker("rmi", REF)  # the only name of the signed ID: the image is gone from the engine
    assert image_of(entry.id) == ""
    yield out, entry.id, entry.file
    docker("rmi", "-f", entry.id, check=False)
    docker("rmi", REF, check=False)


@pytest.fixture()
def state(tmp_path, signed_bundle):
    state = tmp_path / "state"
    yield state
    run_cli("rmall", "--purge", "--yes", bundle=signed_bundle[0], state_dir=state)


def containers(state: Path) -> list[str]:
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    dep = StateStore(LocalHost(), str(state)).deployment_id
    return docker("ps", "-aq", "--filter", f"label=io.sealbox.deployment={dep}").split()


def skippable_pad(size: int) -> bytes:
    """A zstd skippable frame of `size` bytes in all: decoders pass over it."""
    assert size >= 8
    return struct.pack("<II", 0x184D2A50, size - 8) + os.urandom(size - 8)


def test_swapped_archive_with_a_skippable_pad_loads_nothing_and_the_rerun_runs_the_signed_id(
    signed_bundle, tmp_path, state
):
    bundle, signed_id, archive = signed_bundle
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    genuine = (bundle / archive).read_bytes()
    # the attacker's image, tagged with the bundle's name, padded to the genuine size so the
    # size check passes and zstd has produced the whole tar long before the file ends
    evil_tar, evil_id = image_archive(REF)
    evil = zstandard.ZstdCompressor().compress(evil_tar)
    evil += skippable_pad(len(genuine) - len(evil))
    assert len(evil) == len(genuine)
    (copy / archive).write_bytes(evil)

    res = run_cli("in", "trust-app", "-y", bundle=copy, state_dir=state)
    assert res.rc == 1, res.stderr
    assert len(res.error_lines()) == 1 and "sha256 mismatch" in res.error_lines()[0]
    assert archive in res.error_lines()[0]
    assert image_of(REF) == ""  # nothing tagged under the bundle's name
    assert image_of(evil_id) == ""  # the attacker's image never registered
    assert containers(state) == []  # nothing created

    (copy / archive).write_bytes(genuine)  # the genuine archive restored
    res = run_cli("in", "trust-app", "-y", bundle=copy, state_dir=state)
    assert res.rc == 0, res.stderr
    (name,) = containers(state)
    assert docker("container", "inspect", "--format", "{{.Image}}", name) == signed_id
    assert image_of(REF) == signed_id


def test_another_image_under_the_bundles_tag_does_not_run(signed_bundle, state):
    bundle, signed_id, archive = signed_bundle
    # the signed image is present, and another build moved the shared tag to its own image
    subprocess.run(
        f"zstd -dcq --long=31 {bundle / archive} | docker load -q",
        shell=True,
        check=True,
        capture_output=True,
    )
    assert image_of(signed_id) == signed_id
    docker("tag", BASE, REF)
    assert image_of(REF) != signed_id
    res = run_cli("in", "trust-app", "-y", bundle=bundle, state_dir=state)
    assert res.rc == 0, res.stderr
    (name,) = containers(state)
    assert docker("container", "inspect", "--format", "{{.Image}}", name) == signed_id
    # `li` says which image the container runs
    res = run_cli("li", "--json", bundle=bundle, state_dir=state)
    assert res.rc == 0, res.stderr
    (row,) = res.json()["instances"]
    assert row["image_id"] == signed_id and row["signed_id"] == signed_id
    assert row["health"] == "healthy"
