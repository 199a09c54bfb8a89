"""The tar guard: what may reach `docker load` before the archive's sha256 is confirmed.

Go's tar reader (docker load) ends cleanly at a header boundary, after one or two zero blocks,
and anywhere in a member's padding (installer/archive/targuard.py has the rules); a released
prefix must be none of these. `go_clean_end` below is an independent model of Go's Reader.Next
used by the property test.
"""

from __future__ import annotations

import io
import struct
import tarfile

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        assert limit >= released  # what was released stays released
        assert limit == 0 or limit % BLOCK != 0
        assert limit <= len(data)
        released = limit
    return guard


# -- a model of Go's archive/tar Reader.Next on a cut stream (reader.go, Go 1.20) -------------
def _go_number(field: bytes) -> int:
    if field[0] & 0x80:
        return (
            -1 if field[0] & 0x40 else int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        )
    text = field.strip(b" \0")
    return int(text, 8) if text else 0


def _go_pax(records: bytes) -> dict[bytes, bytes]:
    out = {}
    while records:
        n_text, _, rest = records.partition(b" ")
        n = int(n_text)
        rec, records = records[:n], records[n:]
        key, _, value = rec[len(n_text) + 1 : -1].partition(b"=")
        out[key] = value
    return out


def go_clean_end(stream: bytes) -> bool:
    """True when Go's reader, handed exactly ``stream`` and reading every member's contents,
    finishes with io.EOF (docker load then registers what it saw) rather than an error."""
    pos, n = 0, len(stream)
    pax: dict[bytes, bytes] = {}
    while True:
        if pos == n:  # R1: io.ReadFull read 0 bytes of a header
            return True
        if n - pos < BLOCK:
            return False  # ErrUnexpectedEOF inside a header
        hdr = stream[pos : pos + BLOCK]
        pos += BLOCK
        if hdr == bytes(BLOCK):  # R2
            if pos == n:
                return True
            return n - pos >= BLOCK and stream[pos : pos + BLOCK] == bytes(BLOCK)
        kind = hdr[156]
        size = _go_number(hdr[124:136])
        if kind not in b"xgLK":
            size = int(pax.get(b"size", size))
            pax = {}
        if chr(kind) in "123456":
            size = 0
        if n - pos < size:  # R3: data owed
            return False
        content, pos = stream[pos : pos + size], pos + size
        pad = -size % BLOCK
        if n - pos < pad:  # R4: EOF inside the padding is io.EOF
            return True
        pos += pad
        if kind == ord("x"):
            pax = _go_pax(content)
        elif kind == ord("g"):
            pax = {}


def _header(name: str, kind: bytes, size: int, size_field: int | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    buf = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    if size_field is not None:  # a size field that differs from the bytes that follow
        buf[124:136] = b"%011o\0" % size_field
        buf[148:156] = b"        "
        buf[148:156] = b"%06o\0 " % sum(buf)
    return bytes(buf)


def _pax_records(size: int) -> bytes:
    body = b"size=%d\n" % size
    for width in range(1, 8):
        if len(str(len(body) + 1 + width)) == width:
            return b"%d " % (len(body) + 1 + width) + body
    raise AssertionError


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


MEMBER = st.one_of(
    st.tuples(st.just("file"), st.integers(0, 1600)),
    st.tuples(st.just("dir"), st.integers(0, 1600)),  # header-only type with a size field
    st.tuples(st.just("pax"), st.integers(0, 1600)),  # 'x' with a size record, then the file
    st.tuples(st.just("global"), st.integers(0, 1600)),  # 'g' with a size record: no effect
    st.tuples(st.just("longname"), st.integers(1, 700)),  # GNU 'L' before a file
)


def build_archive(members: list[tuple[str, int]]) -> bytes:
    out = bytearray()
    for i, (kind, size) in enumerate(members):
        name = f"m{i}"
        if kind == "file":
            out += _header(name, tarfile.REGTYPE, size) + _pad(b"f" * size)
        elif kind == "dir":
            out += _header(name, tarfile.DIRTYPE, 0, size_field=size)
        elif kind == "pax":
            rec = _pax_records(size)
            out += _header("pax", b"x", len(rec)) + _pad(rec)
            out += _header(name, tarfile.REGTYPE, 0, size_field=7) + _pad(b"p" * size)
        elif kind == "global":
            rec = _pax_records(size)
            out += _header("g", b"g", len(rec)) + _pad(rec)
        else:
            out += _header("././@LongLink", b"L", size) + _pad(b"n" * (size - 1) + b"\0")
            out += _header(name, tarfile.REGTYPE, 3) + _pad(b"abc")
    return bytes(out) + bytes(2 * BLOCK)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=st.lists(MEMBER, min_size=1, max_size=6), piece=st.integers(1, 3000))
def test_no_released_prefix_is_a_complete_archive_for_go(members, piece):
    """The property the proof in targuard.py claims, over generated archives (regular files,
    header-only types with a size field, PAX and global PAX headers, GNU long names) fed in
    pieces of every size: every limit the guard gives (after each piece) is a cut where Go's
    reader fails, and the whole archive itself is read to its end by the model."""
    data = build_archive(members)
    assert go_clean_end(data)  # the model reads the genuine archive to its end
    guard = TarGuard()
    for i in range(0, len(data), piece):
        guard.feed(data[i : i + piece])
        limit = guard.safe_limit()
        assert limit == 0 or not go_clean_end(data[:limit]), (limit, len(data))
    assert guard.end is not None


def test_the_old_guard_released_a_complete_archive():
    """Issue 18, item 2, the reported case: one byte before the end marker lies in the last
    member's padding, which Go reads as a clean end."""
    data = tar_of({"manifest.json": b"[]", "layer.tar": bytes(5000)})
    end = member_ends(data)[-1]
    assert go_clean_end(data[: end - 1])  # the old limit: a complete archive for Go
    guard = feed_in_pieces(data, 4096)
    assert not go_clean_end(data[: guard.safe_limit()])


@pytest.mark.parametrize("piece", [1, 100, 511, 512, 513, 4096, 1 << 20])
def test_never_releases_a_clean_end_or_the_end_marker(piece):
    data = tar_of({"a.json": b"{}" * 300, "layer.tar": bytes(5000), "manifest.json": b"[]"})
    guard = feed_in_pieces(data, piece)
    end = member_ends(data)[-1]  # where the zero blocks start
    assert guard.end == end
    # everything up to the last data byte of the last member, less that byte
    assert guard.safe_limit() == end - BLOCK + 2 - 1  # manifest.json: 2 data bytes
    assert not go_clean_end(data[: guard.safe_limit()])


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


@pytest.mark.parametrize("in_process", [False, True], ids=["zstd-process", "in-process"])
def test_skippable_frame_pad_gets_no_complete_tar_through(tmp_path, monkeypatch, in_process):
    """The attack from the issue: a replaced archive ending with a zstd skippable frame. The
    whole tar is decompressed before the pad is read; its end must still be withheld."""
    if in_process:
        monkeypatch.setattr("installer.archive.streams.zstd_tool", lambda: None)
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
    assert not go_clean_end(bytes(got))


def test_genuine_archive_streams_whole(tmp_path):
    import hashlib

    tar = tar_of({"manifest.json": b"[]", "layer.tar": bytes(100_000)})
    data = zstandard.ZstdCompressor().compress(tar)
    path = tmp_path / "images.tar.zst"
    path.write_bytes(data)
    out = b"".join(stream_decompressed(str(path), expected_sha256=hashlib.sha256(data).hexdigest()))
    assert out == tar
