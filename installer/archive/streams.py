"""Streaming decompression of image archives, hashing the compressed bytes as they are read.

One read of the file feeds both the checksum and `docker load`, with no uncompressed copy on
disk. The end of the tar is held back until the checksum is confirmed (installer.runtime.
targuard), so a damaged or replaced archive never completes a `docker load`: docker registers
an image only once its tar reader has reached the end of the archive.
"""

from __future__ import annotations

import hashlib
import lzma
import os
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Optional, Protocol, cast

import zstandard

from installer.archive.regular import NotRegular, open_regular
from installer.archive.targuard import TarGuard, TarShapeError
from installer.errors import RuntimeFailure

if TYPE_CHECKING:
    import zlib  # imported where used (gzip only); the name is for the cast in finish()

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


class _DecompressObj(Protocol):
    """What zstandard's, lzma's and zlib's decompress objects have in common."""

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes) -> bytes: ...


class _Decompressor:
    """A uniform push interface over zstd, xz, gzip and plain tar."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._obj: Optional[_DecompressObj]
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
        if self._obj is None:  # plain tar: nothing buffered, nothing to check
            return b""
        if self.kind == "xz" and not self._obj.eof:
            raise EOFError("xz stream ended early")
        if self.kind == "gzip":
            if not self._obj.eof:
                raise EOFError("gzip stream ended early")
            return cast("zlib._Decompress", self._obj).flush()  # set so in __init__
        if self.kind == "zstd":
            # zstandard's decompressobj has `eof` since 0.20; a partial frame leaves it False.
            if not getattr(self._obj, "eof", True):
                raise EOFError("zstd stream ended early")
            # Bundles are one zstd frame (installer.bundle.create); anything after it (another
            # frame, a skippable frame padding a replaced archive) is refused, not skipped.
            if getattr(self._obj, "unused_data", b""):
                raise EOFError("data after the end of the zstd frame")
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

    The tar's end is withheld (see installer.archive.targuard) until the sha256 of the whole
    compressed file matches and `inspector` (e.g. the image-ID check of
    installer.archive.tarscan, which sees the same bytes) has accepted it: a consumer such as
    `docker load` that sees the stream stop early has an incomplete tar and registers nothing.
    """
    kind = compression_of(path)
    try:
        source = fh or open_regular(path)
        total = os.path.getsize(path)
    except FileNotFoundError:
        raise ArchiveError(
            f"{path}: image archive missing from the bundle; copy the bundle again"
        ) from None
    except NotRegular as exc:  # a FIFO swapped in after the bundle was opened: refuse, never wait
        raise ArchiveError(f"{path}: {exc}") from None
    digest = hashlib.sha256()
    dec = _Decompressor(kind)
    guard = TarGuard()
    pending = b""  # decompressed bytes not yet released
    released = 0
    done = 0
    broken: Optional[str] = None

    def take(out: bytes) -> None:
        if inspector is not None:
            inspector.feed(out)
        try:
            guard.feed(out)
        except TarShapeError as exc:
            raise ArchiveError(f"{path}: not a docker save archive ({exc})") from None

    try:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
            if broken is not None:
                continue  # hash the rest: a replaced file is reported as such, not as corrupt
            try:
                out = dec.feed(chunk)
            except Exception as exc:  # zstd, lzma, zlib errors: a corrupt stream
                broken = f"corrupt archive ({exc})"
                continue
            if not out:
                continue
            take(out)
            n = guard.safe_limit() - released  # how much of pending + out may go now
            if n <= len(pending):
                if n > 0:
                    yield pending[:n]
                pending = pending[max(n, 0) :] + out
            else:
                if pending:
                    yield pending
                cut = n - len(pending)
                yield memoryview(out)[:cut]  # type: ignore[misc]
                pending = out[cut:]
            released += max(n, 0)
        tail = b""
        if broken is None:
            try:
                tail = dec.finish()
            except EOFError as exc:
                broken = f"truncated archive ({exc})"
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise ArchiveError(
                f"{path}: sha256 mismatch (got {digest.hexdigest()[:16]}..., manifest says "
                f"{expected_sha256[:16]}...); the file is damaged, truncated or replaced: copy the "
                "bundle again"
            )
        if broken is not None:
            raise ArchiveError(f"{path}: {broken}; copy the bundle again")
        if tail:
            take(tail)
            pending += tail
        if inspector is not None:
            inspector.finish()
        if pending:
            yield pending
    finally:
        if fh is None:
            source.close()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
