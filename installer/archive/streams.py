"""Streaming decompression of image archives, hashing the compressed bytes as they are read.

One read of the file feeds both the checksum and `docker load`, with no uncompressed copy on
disk. The end of the tar is held back until the checksum is confirmed (installer.runtime.
targuard), so a damaged or replaced archive never completes a `docker load`: docker registers
an image only once its tar reader has reached the end of the archive.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import shutil
import threading
from subprocess import PIPE, Popen
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Optional, Protocol, cast

import zstandard

from installer.archive.regular import NotRegular, open_regular
from installer.archive.targuard import TarGuard, TarShapeError
from installer.errors import RuntimeFailure
from installer.i18n import _

if TYPE_CHECKING:
    import zlib  # imported where used (gzip only); the name is for the cast in finish()

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Linux), named here for Pythons before 3.10
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
    raise ArchiveError(
        _("{path}: unknown archive type; expected one of {suffixes}").format(
            path=path, suffixes=", ".join(SUFFIXES)
        )
    )


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


class _Release:
    """What of the decompressed tar may go to the consumer now: every piece is shown to the
    inspector and the tar guard first; the guard's limit says how much is released."""

    def __init__(self, path: str, inspector: Optional[Inspector]) -> None:
        self.path = path
        self.inspector = inspector
        self.guard = TarGuard()
        self.pending = b""  # decompressed bytes not yet released
        self.released = 0

    def take(self, out: bytes) -> Iterator[bytes]:
        if self.inspector is not None:
            self.inspector.feed(out)
        try:
            self.guard.feed(out)
        except TarShapeError as exc:
            raise ArchiveError(
                _("{path}: not a docker save archive ({exc})").format(path=self.path, exc=exc)
            ) from None
        n = self.guard.safe_limit() - self.released  # how much of pending + out may go now
        if n <= len(self.pending):
            if n > 0:
                yield self.pending[:n]
            self.pending = self.pending[max(n, 0) :] + out
        else:
            if self.pending:
                yield self.pending
            cut = n - len(self.pending)
            yield memoryview(out)[:cut]  # type: ignore[misc]
            self.pending = out[cut:]
        self.released += max(n, 0)

    def finish(self, tail: bytes = b"") -> Iterator[bytes]:
        """The checks passed: the rest (and the decompressor's tail) may go."""
        if tail:  # seen by the inspector and the guard, released with the rest
            if self.inspector is not None:
                self.inspector.feed(tail)
            try:
                self.guard.feed(tail)
            except TarShapeError as exc:
                raise ArchiveError(
                    _("{path}: not a docker save archive ({exc})").format(path=self.path, exc=exc)
                ) from None
            self.pending += tail
        if self.inspector is not None:
            self.inspector.finish()
        if self.pending:
            yield self.pending


def _mismatch(path: str, got: str, want: str) -> ArchiveError:
    return ArchiveError(
        f"{path}: sha256 mismatch (got {got[:16]}..., manifest says {want[:16]}...); the file is "
        "damaged, truncated or replaced: copy the bundle again"
    )


def zstd_tool() -> Optional[str]:
    """This machine's zstd command (decompresses in its own process, beside the hash)."""
    return shutil.which("zstd")


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
    A .tar.zst is decompressed by this machine's `zstd` process where there is one (fed the
    very bytes that are hashed, read once; python only hashes, guards and copies), else by
    python's zstandard.
    """
    kind = compression_of(path)
    try:
        source = fh or open_regular(path)
        total = os.path.getsize(path)
    except FileNotFoundError:
        raise ArchiveError(
            _("{path}: image archive missing from the bundle; copy the bundle again").format(
                path=path
            )
        ) from None
    except NotRegular as exc:  # a FIFO swapped in after the bundle was opened: refuse, never wait
        raise ArchiveError(f"{path}: {exc}") from None
    try:
        tool = zstd_tool() if kind == "zstd" else None
        if tool is not None:
            yield from _via_process(
                [tool, "-dcq", "--long=31"], path, source, total, expected_sha256, progress,
                inspector,
            )  # fmt: skip
        else:
            yield from _in_process(kind, path, source, total, expected_sha256, progress, inspector)
    finally:
        if fh is None:
            source.close()


def _in_process(
    kind: str,
    path: str,
    source: BinaryIO,
    total: int,
    expected_sha256: Optional[str],
    progress: Optional[Progress],
    inspector: Optional[Inspector],
) -> Iterator[bytes]:
    digest = hashlib.sha256()
    dec = _Decompressor(kind)
    gate = _Release(path, inspector)
    done = 0
    broken: Optional[str] = None
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
        if out:
            yield from gate.take(out)
    tail = b""
    if broken is None:
        try:
            tail = dec.finish()
        except EOFError as exc:
            broken = f"truncated archive ({exc})"
    if expected_sha256 and digest.hexdigest() != expected_sha256:
        raise _mismatch(path, digest.hexdigest(), expected_sha256)
    if broken is not None:
        raise ArchiveError(
            _("{path}: {broken}; copy the bundle again").format(path=path, broken=broken)
        )
    yield from gate.finish(tail)


def _via_process(
    argv: list[str],
    path: str,
    source: BinaryIO,
    total: int,
    expected_sha256: Optional[str],
    progress: Optional[Progress],
    inspector: Optional[Inspector],
) -> Iterator[bytes]:
    """A feeder thread reads the file once, hashes it and writes it to the decompressor's
    stdin; this generator reads the tar from its stdout through the guard. The hash (hashlib
    drops the GIL) and the decompression run beside the copy into docker load."""
    proc = Popen(argv, stdin=PIPE, stdout=PIPE, stderr=PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    for pipe in (proc.stdin, proc.stdout):
        try:  # 1 MiB pipes: one wake-up per chunk instead of sixteen
            fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, CHUNK)
        except OSError:
            pass
    digest = hashlib.sha256()
    done = [0]
    failed: list[BaseException] = []
    stdin = proc.stdin

    def feed() -> None:
        writing = True
        try:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                digest.update(chunk)
                done[0] += len(chunk)
                if writing:
                    try:
                        stdin.write(chunk)
                    except (BrokenPipeError, ValueError):
                        writing = False  # it stopped (corrupt data): hash the rest anyway
        except BaseException as exc:  # noqa: BLE001 - reported by the generator
            failed.append(exc)
        finally:
            try:
                stdin.close()
            except (BrokenPipeError, ValueError):
                pass

    errors: list[bytes] = []
    drain = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    feeder = threading.Thread(target=feed, daemon=True)
    drain.start()
    feeder.start()
    gate = _Release(path, inspector)
    out_fd = proc.stdout.fileno()
    try:
        while True:
            out = os.read(out_fd, CHUNK)
            if not out:
                break
            if progress:
                progress(done[0], total)
            yield from gate.take(out)
        feeder.join()
        rc = proc.wait()
        drain.join()
        if failed:
            raise failed[0]
        if progress:
            progress(done[0], total)
        if expected_sha256 and digest.hexdigest() != expected_sha256:
            raise _mismatch(path, digest.hexdigest(), expected_sha256)
        if rc != 0:
            said = b"".join(errors).decode("utf-8", "replace").strip().splitlines()
            raise ArchiveError(
                _("{path}: corrupt or truncated archive ({said}); copy the bundle again").format(
                    path=path, said=said[-1] if said else f"exit {rc}"
                )
            )
        yield from gate.finish()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        feeder.join(10)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
