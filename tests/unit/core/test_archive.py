"""Streaming decompression: checksum in the same read, corrupt and truncated archives refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import shutil
import tarfile

import pytest
import zstandard

from installer.archive.streams import ArchiveError, compression_of, stream_decompressed


def make_tar(size=300_000) -> bytes:
    buf = io.BytesIO()
    payload = bytes(range(256)) * (size // 256)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("layer.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


COMPRESSORS = {
    ".tar.zst": lambda d: zstandard.ZstdCompressor(write_checksum=True).compress(d),
    ".tar.xz": lzma.compress,
    ".tar.gz": gzip.compress,
    ".tar": lambda d: d,
}


@pytest.fixture(params=["zstd-process", "in-process"])
def decompressor(request, monkeypatch):
    """Both ways a .tar.zst is decompressed: this machine's zstd process, python's zstandard."""
    if request.param == "in-process":
        monkeypatch.setattr("installer.archive.streams.zstd_tool", lambda: None)
    elif shutil.which("zstd") is None:
        pytest.skip("no zstd command here")
    return request.param


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_round_trip_and_checksum(tmp_path, suffix, decompressor):
    tar = make_tar()
    data = COMPRESSORS[suffix](tar)
    path = tmp_path / f"img{suffix}"
    path.write_bytes(data)
    seen = []
    out = b"".join(
        stream_decompressed(
            str(path),
            expected_sha256=hashlib.sha256(data).hexdigest(),
            progress=lambda done, total: seen.append((done, total)),
        )
    )
    assert out == tar
    assert seen[-1] == (len(data), len(data))


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.xz", ".tar.gz"])
def test_truncated_archive_refused(tmp_path, suffix, decompressor):
    data = COMPRESSORS[suffix](make_tar())
    path = tmp_path / f"img{suffix}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated|corrupt"):
        b"".join(stream_decompressed(str(path)))


def test_flipped_byte_refused_before_the_last_piece(tmp_path):
    """Uncompressed archives have no inner checksum: the sha256 must stop the stream's tail."""
    tar = make_tar(3_000_000)
    good = hashlib.sha256(tar).hexdigest()
    bad = bytearray(tar)
    bad[1000] ^= 0xFF
    path = tmp_path / "img.tar"
    path.write_bytes(bytes(bad))
    received = 0
    with pytest.raises(ArchiveError, match="sha256 mismatch"):
        for piece in stream_decompressed(str(path), expected_sha256=good):
            received += len(piece)
    assert received < len(tar)  # the consumer never saw the whole tar


def test_missing_and_unknown_archives(tmp_path):
    with pytest.raises(ArchiveError, match="missing from the bundle"):
        list(stream_decompressed(str(tmp_path / "nope.tar.zst")))
    with pytest.raises(ArchiveError, match="unknown archive type"):
        compression_of("image.zip")
