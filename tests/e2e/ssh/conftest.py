"""Fixtures for SSH and transfer tests: sandbox hosts (netns + sshd [+ dockerd]) on this machine."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from typing import Callable, Iterator

import pytest

from installer.hosts.ssh import SSHHost
from tests.e2e.testhosts import SandboxHost, sandbox_hosts_fixture

ssh_hosts = sandbox_hosts_fixture(2, docker=False, scope="module")
docker_hosts = sandbox_hosts_fixture(1, docker=True, scope="module")


@pytest.fixture
def known_hosts(tmp_path, ssh_hosts) -> str:
    """A known_hosts file that knows both sandbox hosts."""
    path = tmp_path / "known_hosts"
    path.write_text("".join(h.known_hosts_line() for h in ssh_hosts))
    return str(path)


@pytest.fixture
def connect(tmp_path) -> Iterator[Callable[..., SSHHost]]:
    """``connect(h, user, **kw)``: an SSHHost with the run's client key, closed afterwards."""
    opened: list[SSHHost] = []

    def _connect(h: SandboxHost, user: str = "root", **kw) -> SSHHost:
        if "known_hosts" not in kw:
            path = tmp_path / f"kh-{h.name}"
            path.write_text(h.known_hosts_line())
            kw["known_hosts"] = str(path)
        kw.setdefault("key_filename", h.client_key)
        kw.setdefault("use_agent", False)
        kw.setdefault("look_for_keys", False)
        kw.setdefault("connect_retries", 0)
        host = SSHHost(f"{user}@{h.address}", **kw)
        opened.append(host)
        return host

    yield _connect
    for host in opened:
        host.close()


def image_archive(tag: str) -> tuple[bytes, str]:
    """A minimal ``docker save`` tar built in Python (no registry, no main engine): one layer
    with a unique file, so the image ID exists nowhere else."""

    def tar_of(files: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    layer = tar_of({"sealbox-test.txt": f"{tag} {os.urandom(16).hex()}\n".encode()})
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/sealbox-test.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "sealbox test"}],
        }
    ).encode()
    image_id = hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        [{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": ["layer0/layer.tar"]}]
    ).encode()
    archive = tar_of(
        {f"{image_id}.json": config, "layer0/layer.tar": layer, "manifest.json": manifest}
    )
    return archive, "sha256:" + image_id
