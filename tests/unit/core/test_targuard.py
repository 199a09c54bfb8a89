"""The tar guard: what may reach `docker load` before the archive's sha256 is confirmed.

Go's tar reader (docker load) ends cleanly only at a block boundary where a header would start
or at a zero header block; a prefix cut inside a block, before the end marker, always fails.
"""

from __future__ import annotations

import io
import struct
import tarfile

import pytest
import zstandard

from installer.archive.streams import ArchiveError, stream_decompressed
from installer.archive.targuard import BLOCK, TarGuard, TarShapeError


def tar_of(members: dict[str, bytes], fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def member_ends(data: bytes) -> list[int]:
    """Offsets where Go could stop cleanly: every header start, found with Python's tarfile."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [m.offset for m in tf.getmembers()] + [tf.offset]


def feed_in_pieces(data: bytes, piece: int) -> TarGuard:
    guard = TarGuard()
    released = 0
    for i in range(0, len(data), piece):
        guard.feed(data[i : i + piece])
        limit = guard.safe_limit()
        assert limit >= 0 and limit % BLOCK != 0
        assert limit <= len(data)
        released = max(released, limit)
    return guard


@pytest.mark.parametrize("piece", [1, 100, 511, 512, 513, 4096, 1 << 20])
def test_never_releases_a_clean_end_or_the_end_marker(piece):
    data = tar_of({"a.json": b"{}" * 300, "layer.tar": bytes(5000), "manifest.json": b"[]"})
    guard = feed_in_pieces(data, piece)
    end = member_ends(data)[-1]  # where the zero blocks start
    assert guard.end == end
    assert guard.safe_limit() == end - 1  # everything but the last byte before the end marker


def test_pax_size_and_header_only_types_follow_go():
    # a PAX 'size' record overrides the header's size field
    pax = tar_of({"big": b"x" * 2000}, fmt=tarfile.PAX_FORMAT)
    guard = feed_in_pieces(pax, 700)
    assert guard.end == member_ends(pax)[-1]
    # a directory header whose size field claims data: Go reads no data for it
    hdr = bytearray(tarfile.TarInfo("d/").tobuf(tarfile.USTAR_FORMAT))
    info = tarfile.TarInfo("d/")
    info.type = tarfile.DIRTYPE
    hdr = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    hdr[124:136] = b"%011o\0" % 1024
    hdr[148:156] = b"        "
    hdr[148:156] = b"%06o\0 " % sum(hdr)
    data = bytes(hdr) + bytes(1024)  # Go: the zero block right after is the end
    guard = TarGuard()
    guard.feed(data)
    assert guard.end == BLOCK


def test_gnu_sparse_and_junk_after_the_end_are_refused():
    info = tarfile.TarInfo("s")
    info.type = tarfile.GNUTYPE_SPARSE
    with pytest.raises(TarShapeError):
        TarGuard().feed(info.tobuf(tarfile.GNU_FORMAT))
    guard = TarGuard()
    with pytest.raises(TarShapeError, match="after the end"):
        guard.feed(tar_of({"a": b"1"}) + bytes(2 << 20))


def skippable_frame(size: int) -> bytes:
    return struct.pack("<II", 0x184D2A50, size) + bytes(size)


def test_skippable_frame_pad_gets_no_complete_tar_through(tmp_path):
    """The attack from the issue: a replaced archive ending with a zstd skippable frame. The
    whole tar is decompressed before the pad is read; its end must still be withheld."""
    evil = tar_of({"manifest.json": b"[]", "layer.tar": bytes(100_000)})
    data = zstandard.ZstdCompressor().compress(evil) + skippable_frame(3 << 20)
    path = tmp_path / "images.tar.zst"
    path.write_bytes(data)
    got = bytearray()
    with pytest.raises(ArchiveError, match="sha256 mismatch"):
        for piece in stream_decompressed(str(path), expected_sha256="0" * 64):
            got += piece
    assert len(got) < member_ends(evil)[-1]  # docker never sees the end of the tar
    assert len(got) % BLOCK != 0  # and the cut is inside a block: Go says "unexpected EOF"


def test_genuine_archive_streams_whole(tmp_path):
    import hashlib

    tar = tar_of({"manifest.json": b"[]", "layer.tar": bytes(100_000)})
    data = zstandard.ZstdCompressor().compress(tar)
    path = tmp_path / "images.tar.zst"
    path.write_bytes(data)
    out = b"".join(stream_decompressed(str(path), expected_sha256=hashlib.sha256(data).hexdigest()))
    assert out == tar
