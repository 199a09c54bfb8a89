"""Resumable uploads over real SSH connections that get cut, and loads into a host's own dockerd."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import struct
import subprocess
import threading

import pytest
import zstandard

from installer.archive.streams import ArchiveError
from installer.bundle.manifest import ImageEntry
from installer.hosts.ssh import ConnectionLostError
from installer.runtime.load import load_archive
from installer.transfer import sha256_file, upload
from tests.e2e.ssh.conftest import image_archive

pytestmark = pytest.mark.e2e

SIZE = 48 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("upload") / "images.tar.zst"
    with open(path, "wb") as fh:
        for _ in range(SIZE // (1 << 20)):
            fh.write(os.urandom(1 << 20))
    return str(path)


def remote_sha(h, path: str) -> str:
    return h.exec(["sha256sum", path]).stdout.decode().split()[0]


def test_upload_verifies_and_skips_second_time(ssh_hosts, connect, big_file) -> None:
    h = ssh_hosts[1]
    host = connect(h, "deploy")  # through sudo: the target dir is root's
    dst = "/var/lib/sealbox/images/a.tar.zst"
    res = host_upload = upload(host, big_file, dst)
    assert not res.skipped and res.sent == SIZE and res.resumed_from == 0
    assert remote_sha(h, dst) == sha256_file(big_file) == host_upload.sha256
    assert not os.path.exists(h.path(dst + ".part"))
    again = upload(host, big_file, dst)
    assert again.skipped and again.sent == 0


def test_killed_session_then_rerun_resumes(ssh_hosts, connect, big_file) -> None:
    h = ssh_hosts[0]
    dst = "/var/lib/sealbox/images/killed.tar.zst"
    killed: list[int] = []

    def cut_at_40_percent(done: int, total: int) -> None:
        if not killed and done >= total * 0.4:
            killed.append(done)
            assert h.kill_sessions() >= 1

    with pytest.raises(ConnectionLostError) as err:
        upload(connect(h), big_file, dst, progress=cut_at_40_percent)
    assert "\n" not in str(err.value)
    part = os.path.getsize(h.path(dst + ".part"))
    assert 0 < part < SIZE

    res = upload(connect(h), big_file, dst)  # a new run, as the engineer would start it
    assert res.resumed_from > 0 and res.sent < SIZE  # did not restart from zero
    assert res.resumed_from + res.sent == SIZE
    assert remote_sha(h, dst) == sha256_file(big_file)


def test_cut_cable_then_same_call_reconnects_and_resumes(ssh_hosts, connect, big_file) -> None:
    h = ssh_hosts[0]
    dst = "/var/lib/sealbox/images/cable.tar.zst"
    state = {"cut": False}
    restore = threading.Timer(4.0, h.link, args=(True,))

    def cut_at_30_percent(done: int, total: int) -> None:
        if not state["cut"] and done >= total * 0.3:
            state["cut"] = True
            h.link(False)
            restore.start()

    host = connect(h, keepalive=1, dead_link_timeout=2, connect_timeout=3, connect_retries=4)
    try:
        res = upload(host, big_file, dst, progress=cut_at_30_percent, retries=3)
    finally:
        restore.cancel()
        h.link(True)
    assert state["cut"] and res.attempts >= 2
    assert 0 < res.resumed_from < SIZE and res.sent == SIZE - res.resumed_from
    assert remote_sha(h, dst) == sha256_file(big_file)


def _main_engine_has(image_id: str) -> bool:
    res = subprocess.run(["docker", "image", "inspect", image_id], capture_output=True)
    return res.returncode == 0


def _entry(tag: str, image_id: str, name: str, data: bytes) -> ImageEntry:
    return ImageEntry(tag, image_id, f"images/{name}", hashlib.sha256(data).hexdigest())


@contextlib.contextmanager
def _without_zstd(h):
    """This host has no zstd: hidden in the host's private mount namespace."""
    h.exec(["mount", "--bind", "/dev/null", "/usr/bin/zstd"])
    try:
        yield
    finally:
        h.exec(["umount", "/usr/bin/zstd"])


@pytest.mark.parametrize("kind", ["tar.gz", "tar.zst", "tar.zst-no-zstd"])
def test_load_into_the_hosts_own_dockerd(docker_hosts, connect, tmp_path, kind) -> None:
    h = docker_hosts[0]
    tag = f"sealbox-test/{kind.replace('.', '-')}:{os.urandom(3).hex()}"
    tar, image_id = image_archive(tag)
    if kind == "tar.gz":
        data, name = gzip.compress(tar), "img.tar.gz"
    else:
        data, name = zstandard.ZstdCompressor().compress(tar), "img.tar.zst"
    local = tmp_path / name
    local.write_bytes(data)
    hidden = kind.endswith("no-zstd")
    steps: list[str] = []
    with _without_zstd(h) if hidden else contextlib.nullcontext():
        res = load_archive(
            connect(h, "deploy"),
            str(local),
            [_entry(tag, image_id, name, data)],
            on_step=steps.append,
        )
    assert steps == (["stream"] if hidden else ["upload", "load"])
    assert res.route == ("stream" if hidden else "host")
    assert tag in res.loaded.refs
    inspect = h.exec(["docker", "image", "inspect", "-f", "{{.Id}}", tag])
    assert inspect.stdout.decode().strip() == image_id
    assert not _main_engine_has(image_id)  # the main engine never saw it
    assert not os.path.exists(h.path(f"/var/lib/sealbox/images/{name}"))  # archive cleaned up
    h.exec(["docker", "rmi", tag])


def test_no_zstd_host_refuses_a_tampered_archive_and_tags_nothing(
    docker_hosts, connect, tmp_path
) -> None:
    """Issue 11 item 6: the stream route (host without zstd) checks the archive's sha256 like
    every route, and docker never gets the end of the tar of a file that fails it -- not even
    when the file ends with a zstd skippable frame after the attacker's complete tar."""
    h = docker_hosts[0]
    tag = f"sealbox-test/tamper:{os.urandom(3).hex()}"
    genuine_tar, genuine_id = image_archive(tag)
    genuine = zstandard.ZstdCompressor().compress(genuine_tar)
    evil_tar, evil_id = image_archive(tag)  # another image under the same name
    evil = zstandard.ZstdCompressor().compress(evil_tar)
    evil += struct.pack("<II", 0x184D2A50, 2 << 20) + bytes(2 << 20)  # skippable-frame pad
    entry = _entry(tag, genuine_id, "img.tar.zst", genuine)
    (tmp_path / "evil").mkdir()
    bad, good = tmp_path / "evil" / "img.tar.zst", tmp_path / "img.tar.zst"
    bad.write_bytes(evil)
    good.write_bytes(genuine)
    steps: list[str] = []
    with _without_zstd(h):
        with pytest.raises(ArchiveError) as err:
            load_archive(connect(h, "deploy"), str(bad), [entry], on_step=steps.append)
        assert steps == ["stream"]
        assert "sha256 mismatch" in str(err.value) and "\n" not in str(err.value)
        for ref in (tag, evil_id, genuine_id):  # nothing tagged, the attacker's image absent
            assert h.exec(["docker", "image", "inspect", ref], check=False).returncode != 0
        assert h.exec(["docker", "ps", "-aq"]).stdout.strip() == b""  # nothing run
        res = load_archive(connect(h, "deploy"), str(good), [entry])
    assert res.route == "stream"
    inspect = h.exec(["docker", "image", "inspect", "-f", "{{.Id}}", tag])
    assert inspect.stdout.decode().strip() == genuine_id
    h.exec(["docker", "rmi", tag])


def test_corrupt_archive_fails_the_load(docker_hosts, connect, tmp_path) -> None:
    h = docker_hosts[0]
    tar, image_id = image_archive("sealbox-test/corrupt:1")
    data = bytearray(gzip.compress(tar))
    data[len(data) // 2] ^= 0xFF
    local = tmp_path / "bad.tar.gz"
    local.write_bytes(bytes(data))
    from installer.errors import RuntimeFailure

    # the manifest's sha256 is that of the damaged file: only the host's gunzip can notice
    entry = _entry("sealbox-test/corrupt:1", image_id, "bad.tar.gz", bytes(data))
    with pytest.raises(RuntimeFailure) as err:
        load_archive(connect(h), str(local), [entry])
    assert "\n" not in str(err.value) and "bad.tar.gz" in str(err.value)
    # the upload verified (sha256 of what we sent); the archive stays for inspection
    kept = h.path("/var/lib/sealbox/images/bad.tar.gz")
    with open(kept, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == hashlib.sha256(bytes(data)).hexdigest()
    os.unlink(kept)
    assert h.exec(["docker", "image", "inspect", image_id], check=False).returncode != 0
