"""Streaming decompression of image archives, hashing the compressed bytes as they are read.

One read of the file feeds both the checksum and `docker load`, with no uncompressed copy on
disk. The last decompressed piece is held back until the checksum is confirmed, so a corrupt
archive never completes a `docker load` (docker only registers an image once it has read the
whole tar).
"""

from __future__ import annotations

import hashlib
import lzma
import os
from typing import BinaryIO, Callable, Iterator, Optional, Protocol

import zstandard

from installer.errors import RuntimeFailure

CHUNK = 1 << 20
DEFAULT_ZSTD_LEVEL = 6  # measured: see installer/bundle/README.md, "Compression"
SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.zstd")

Progress = Callable[[int, int], None]  # compressed bytes read, total

# Bundles are written with long-distance matching over a 1 GiB window (images that share a
# base store it once in effect); the decoder must be allowed that window. Memory use at
# install is at most this much, on servers that have >= 32 GB.
ZSTD_WINDOW_LOG = 30
ZSTD_MAX_WINDOW = 1 << 31


class Inspector(Protocol):
    """Sees every decompressed piece before it is released; `finish` raises to refuse."""

    def feed(self, data: bytes) -> None: ...

    def finish(self) -> None: ...


class ArchiveError(RuntimeFailure):
    """The archive is unreadable, truncated or does not match its checksum."""


def compression_of(path: str) -> str:
    for suffix, kind in (
        (".tar.zst", "zstd"),
        (".tar.zstd", "zstd"),
        (".tar.xz", "xz"),
        (".tar.gz", "gzip"),
        (".tgz", "gzip"),
        (".tar", "none"),
    ):
        if path.endswith(suffix):
            return kind
    raise ArchiveError(f"{path}: unknown archive type; expected one of {', '.join(SUFFIXES)}")


class _Decompressor:
    """A uniform push interface over zstd, xz, gzip and plain tar."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "zstd":
            self._obj = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
        elif kind == "xz":
            self._obj = lzma.LZMADecompressor()
        elif kind == "gzip":
            import zlib

            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            self._obj = None

    def feed(self, data: bytes) -> bytes:
        if self._obj is None:
            return data
        return self._obj.decompress(data)

    def finish(self) -> bytes:
        """Check the stream really ended; a truncated archive raises here."""
        if self.kind == "xz" and not self._obj.eof:
            raise EOFError("xz stream ended early")
        if self.kind == "gzip":
            if not self._obj.eof:
                raise EOFError("gzip stream ended early")
            return self._obj.flush()
        if self.kind == "zstd":
            # zstandard's decompressobj has `eof` since 0.20; a partial frame leaves it False.
            if not getattr(self._obj, "eof", True):
                raise EOFError("zstd stream ended early")
        return b""


def stream_decompressed(
    path: str,
    *,
    expected_sha256: Optional[str] = None,
    progress: Optional[Progress] = None,
    fh: Optional[BinaryIO] = None,
    inspector: Optional[Inspector] = None,
) -> Iterator[bytes]:
    """Yield the uncompressed tar of `path`, verifying `expected_sha256` of the file on the way.

    `inspector` (e.g. the image-ID check of installer.bundle.tarscan) sees the same bytes and
    can refuse the archive before its last piece is released.
    """
    kind = compression_of(path)
    try:
        total = os.path.getsize(path)
        source = fh or open(path, "rb")
    except FileNotFoundError:
        raise ArchiveError(
            f"{path}: image archive missing from the bundle; copy the bundle again"
        ) from None
    digest = hashlib.sha256()
    dec = _Decompressor(kind)
    held: Optional[bytes] = None
    done = 0
    try:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            try:
                out = dec.feed(chunk)
            except (zstandard.ZstdError, lzma.LZMAError, OSError, EOFError, Exception) as exc:
                raise ArchiveError(
                    f"{path}: corrupt archive ({exc}); copy the bundle again"
                ) from None
            if progress:
                progress(done, total)
            if out:
                if inspector is not None:
                    inspector.feed(out)
                if held is not None:
                    yield held
                held = out
        try:
            tail = dec.finish()
        except EOFError as exc:
            raise ArchiveError(
                f"{path}: truncated archive ({exc}); copy the bundle again"
            ) from None
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ArchiveError(
                f"{path}: sha256 mismatch (got {digest.hexdigest()[:16]}..., manifest says "
                f"{expected_sha256[:16]}...); the file is damaged or truncated, copy the bundle again"
            )
        if inspector is not None:
            if tail:
                inspector.feed(tail)
            inspector.finish()
        if held is not None:
            yield held
        if tail:
            yield tail
    finally:
        if fh is None:
            source.close()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


DECOMPRESS_COMMANDS = {
    "zstd": "zstd -dcq --long=31",
    "xz": "xz -dcq",
    "gzip": "gzip -dc",
    "none": "cat",
}
"""Shell decompressors by archive type: C tools on the target host, fed compressed bytes."""


def stream_verified(
    path: str,
    *,
    expected_sha256: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> Iterator[bytes]:
    """Yield the file's raw bytes, hashing them; the last chunk only once the hash matches.

    Fed to `DECOMPRESSOR | docker load`: without the last chunk the tar is incomplete and
    `docker load` registers nothing, so a damaged archive never yields an image.
    """
    try:
        total = os.path.getsize(path)
        source = open(path, "rb")
    except FileNotFoundError:
        raise ArchiveError(
            f"{path}: image archive missing from the bundle; copy the bundle again"
        ) from None
    digest = hashlib.sha256()
    held: Optional[bytes] = None
    done = 0
    with source:
        for chunk in iter(lambda: source.read(CHUNK), b""):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
            if held is not None:
                yield held
            held = chunk
    if expected_sha256 and digest.hexdigest() != expected_sha256:
        raise ArchiveError(
            f"{path}: sha256 mismatch (got {digest.hexdigest()[:16]}..., manifest says "
            f"{expected_sha256[:16]}...); the file is damaged or truncated, copy the bundle again"
        )
    if held is not None:
        yield held
