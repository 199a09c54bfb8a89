"""Resume offsets and the upload/load scripts, run against LocalHost in a temp dir."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess

import pytest

from installer.errors import UsageError
from installer.hosts.local import LocalHost
from installer.hosts.recorded import RecordedHost
from installer.runtime.load import ZstdMissingError, archive_format, load_command
from installer.transfer import resume_offset, upload
from installer.transfer.upload import TransferError, _parse_state

SHA = "a" * 64


@pytest.mark.parametrize(
    "part,meta,total,want",
    [
        (None, None, 100, 0),
        (0, SHA, 100, 0),
        (40, SHA, 100, 40),
        (100, SHA, 100, 100),
        (40, "b" * 64, 100, 0),  # part of another archive
        (40, None, 100, 0),  # part without its hash: unknown origin
        (140, SHA, 100, 0),  # longer than the archive
    ],
)
def test_resume_offset(part, meta, total, want) -> None:
    assert resume_offset(part, meta, SHA, total) == want


def test_parse_state_ignores_noise() -> None:
    state = _parse_state(f"motd line\npart 123\nmeta {SHA}\n")
    assert state == {"part": "123", "meta": SHA}


@pytest.fixture
def archive(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "img.tar.gz"
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest()


def test_upload_fresh_then_skip(tmp_path, archive) -> None:
    src, data, sha = archive
    dst = tmp_path / "remote" / "img.tar.gz"
    seen: list[tuple[int, int]] = []
    res = upload(LocalHost(), str(src), str(dst), progress=lambda d, t: seen.append((d, t)))
    assert dst.read_bytes() == data and not res.skipped
    assert res.resumed_from == 0 and res.sent == len(data) and res.sha256 == sha
    assert seen[-1] == (len(data), len(data))
    assert not os.path.exists(str(dst) + ".part") and not os.path.exists(str(dst) + ".part.sha256")
    again = upload(LocalHost(), str(src), str(dst), sha256=sha)
    assert again.skipped and again.sent == 0


def test_upload_resumes_from_part(tmp_path, archive) -> None:
    src, data, sha = archive
    dst = tmp_path / "img.tar.gz"
    (tmp_path / "img.tar.gz.part").write_bytes(data[:1_000_000])
    (tmp_path / "img.tar.gz.part.sha256").write_text(sha)
    res = upload(LocalHost(), str(src), str(dst))
    assert res.resumed_from == 1_000_000 and res.sent == len(data) - 1_000_000
    assert dst.read_bytes() == data


def test_upload_restarts_when_part_is_from_another_archive(tmp_path, archive) -> None:
    src, data, _ = archive
    dst = tmp_path / "img.tar.gz"
    (tmp_path / "img.tar.gz.part").write_bytes(b"x" * 1000)
    (tmp_path / "img.tar.gz.part.sha256").write_text("b" * 64)
    res = upload(LocalHost(), str(src), str(dst))
    assert res.resumed_from == 0 and dst.read_bytes() == data


def test_corrupt_part_fails_verification_and_is_removed(tmp_path, archive) -> None:
    src, data, sha = archive
    dst = tmp_path / "img.tar.gz"
    (tmp_path / "img.tar.gz.part").write_bytes(b"\xff" * 1000)  # claims to be our prefix
    (tmp_path / "img.tar.gz.part.sha256").write_text(sha)
    with pytest.raises(TransferError, match="did not verify"):
        upload(LocalHost(), str(src), str(dst))
    assert not dst.exists() and not (tmp_path / "img.tar.gz.part").exists()
    assert upload(LocalHost(), str(src), str(dst)).resumed_from == 0  # next run starts clean
    assert dst.read_bytes() == data


def test_archive_format() -> None:
    assert archive_format("a/b.tar.zst") == "zstd"
    assert archive_format("b.tgz") == "gzip"
    assert archive_format("b.tar.xz") == "xz"
    assert archive_format("b.tar") == "tar"
    with pytest.raises(UsageError):
        archive_format("b.zip")


def test_load_command_prefers_parallel_tools_and_refuses_zstd_without_zstd() -> None:
    host = RecordedHost(name="h")
    assert "pigz -dc" in load_command(host, "/x/a.tar.gz", {"pigz", "gzip"})
    assert "gzip -dc" in load_command(host, "/x/a.tar.gz", {"gzip"})
    assert "pixz -d" in load_command(host, "/x/a.tar.xz", {"pixz", "xz"})
    assert "zstd -dcq" in load_command(host, "/x/a.tar.zst", {"zstd"})
    assert load_command(host, "/x/a b.tar", set()) == "docker load -i '/x/a b.tar'"
    with pytest.raises(ZstdMissingError, match="stream route"):
        load_command(host, "/x/a.tar.zst", {"gzip", "xz"})


def _fake_docker(tmp_path, rc: int = 0) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(f'#!/bin/sh\ncat > "$SINK"\necho "Loaded image: x"\nexit {rc}\n')
    (bindir / "docker").chmod(0o755)
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "SINK": str(tmp_path / "sink")}


def test_load_command_pipes_and_reports_both_exit_codes(tmp_path) -> None:
    tar = b"pretend tar" * 1000
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(tar))
    text = load_command(RecordedHost(), str(tmp_path / "a.tar.gz"), {"gzip"})
    env = _fake_docker(tmp_path)
    ok = subprocess.run(["sh", "-c", text], env=env, capture_output=True)
    assert ok.returncode == 0 and b"Loaded image" in ok.stdout
    assert (tmp_path / "sink").read_bytes() == tar
    # a corrupt archive fails the command even though docker load "succeeded"
    (tmp_path / "a.tar.gz").write_bytes(b"\x1f\x8b garbage")
    bad = subprocess.run(["sh", "-c", text], env=env, capture_output=True)
    assert bad.returncode != 0 and b"image load failed" in bad.stderr


def test_load_command_fails_when_docker_load_fails(tmp_path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(b"t"))
    text = load_command(RecordedHost(), str(tmp_path / "a.tar.gz"), {"gzip"})
    bad = subprocess.run(["sh", "-c", text], env=_fake_docker(tmp_path, rc=1), capture_output=True)
    assert bad.returncode != 0


def test_short_stream_keeps_the_part_for_resume(tmp_path, archive) -> None:
    """A stream that ends early (dropped connection: cat sees EOF) must not verify-and-delete."""
    from installer.transfer.upload import RC_INCOMPLETE, _append_script, _finish_script

    src, data, sha = archive
    part, meta, dst = (str(tmp_path / n) for n in ("f.part", "f.part.sha256", "f"))
    text = f"{_append_script(part, meta, 0, sha)} && {{ {_finish_script(part, meta, dst, sha, 0o644, len(data))}; }}"
    res = LocalHost().run_streaming_input(text, [data[:12345]])
    assert res.rc == RC_INCOMPLETE
    assert os.path.getsize(part) == 12345 and not os.path.exists(dst)
    assert upload(LocalHost(), str(src), dst).resumed_from == 12345


@pytest.mark.parametrize(
    "fake_openssl",
    ["exit 127", "echo 'unknown option -r'", f"echo {'b' * 64} '*stdin'"],
    ids=["fails", "short-output", "wrong-hash"],
)
def test_host_hash_uses_openssl_else_sha256sum(tmp_path, archive, monkeypatch, fake_openssl):
    """The host hashes with openssl when it works, and falls back to sha256sum when it fails."""
    src, data, sha = archive
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "openssl").write_text(f"#!/bin/sh\ncat > /dev/null\n{fake_openssl}\n")
    (bindir / "openssl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    dst = tmp_path / "remote" / "img.tar.gz"
    if fake_openssl.startswith("echo bbb"):  # openssl answered: its (wrong) hash is what counts
        with pytest.raises(TransferError, match="did not verify"):
            upload(LocalHost(), str(src), str(dst))
        assert not dst.exists() and not os.path.exists(str(dst) + ".part")
        return
    res = upload(LocalHost(), str(src), str(dst))
    assert dst.read_bytes() == data and res.sha256 == sha and not res.skipped
    assert upload(LocalHost(), str(src), str(dst)).skipped  # the skip check hashes dst the same way


def test_kill_group_kills_a_process_group_under_dash(tmp_path):
    """The group kill runs under /bin/sh, which is dash on Debian hosts: dash's kill takes no
    "--" after the signal ("Illegal number: -"), so the old `kill -KILL -- -PGID` never killed
    anything there (issue 18, item 2)."""
    import time

    from installer.runtime.load import kill_group

    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        pgid_file = tmp_path / "load.pgid"
        pgid_file.write_text(f"{os.getpgid(proc.pid)}\n")
        kill_group(LocalHost(), str(pgid_file))
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == -9, "the process group is still running"
        assert not pgid_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
