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
import shutil
import signal
import subprocess
import threading
from typing import BinaryIO, Callable, Iterator, Optional, Protocol

import zstandard

from installer.errors import RuntimeFailure
from installer.runtime.targuard import TarGuard, TarShapeError

CHUNK = 1 << 20
DEFAULT_ZSTD_LEVEL = 6  # measured: see installer/bundle/README.md, "Compression"
SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.zstd")

Progress = Callable[[int, int], None]  # compressed bytes read, total

# Bundles are written with long-distance matching over a 1 GiB window (images that share a
# base store it once in effect); the decoder must be allowed that window. Memory use at
# install is at most this much, on servers that have >= 32 GB.
ZSTD_WINDOW_LOG = 30
ZSTD_MAX_WINDOW = 1 << 31


# C decompressors the controller may use for the stream route: fed and read by us, so the
# same hash and tar guard apply. --long=31: bundles use a 1 GiB window (long-distance
# matching); without it zstd refuses such frames.
DECOMPRESS_TOOLS = {
    "zstd": ["zstd", "-dcq", "--long=31"],
    "xz": ["xz", "-dcq"],
    "gzip": ["gzip", "-dc"],
}


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
            # Bundles are one zstd frame (installer.bundle.create); anything after it (another
            # frame, a skippable frame padding a replaced archive) is refused, not skipped.
            if getattr(self._obj, "unused_data", b""):
                raise EOFError("data after the end of the zstd frame")
        return b""


class _Reading:
    """What a decompressing read found besides the bytes: the file's sha256 and any fault."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.broken: Optional[str] = None


def _python_pieces(
    source: BinaryIO, kind: str, state: _Reading, on_read: Callable[[int], None]
) -> Iterator[bytes]:
    """Decompress in this process (zstandard / lzma / zlib: the tools' C libraries)."""
    dec = _Decompressor(kind)
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        state.digest.update(chunk)
        on_read(len(chunk))
        if state.broken is not None:
            continue  # hash the rest: a replaced file is reported as such, not as corrupt
        try:
            out = dec.feed(chunk)
        except Exception as exc:  # zstd, lzma, zlib errors: a corrupt stream
            state.broken = f"corrupt archive ({exc})"
            continue
        if out:
            yield out
    if state.broken is None:
        try:
            tail = dec.finish()
        except EOFError as exc:
            state.broken = f"truncated archive ({exc})"
            return
        if tail:
            yield tail


def _tool_pieces(
    source: BinaryIO, tool: list[str], state: _Reading, on_read: Callable[[int], None]
) -> Iterator[bytes]:
    """Decompress with the C tool in a process group of its own, fed (and hashed) by a thread.

    The hash (hashlib releases the GIL) and the tool run beside the pipe to docker instead of
    in front of it. The tool only ever sees bytes this process read and hashed, and what it
    writes passes the same tar guard as the python route's output.
    """
    proc = subprocess.Popen(
        tool,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    read_error: list[BaseException] = []
    stopping = threading.Event()

    def feed() -> None:
        try:
            for chunk in iter(lambda: source.read(CHUNK), b""):
                state.digest.update(chunk)
                proc.stdin.write(chunk)  # type: ignore[union-attr]
                on_read(len(chunk))
        except BrokenPipeError:
            while not stopping.is_set():  # the tool gave up by itself: hash the rest
                chunk = source.read(CHUNK)
                if not chunk:
                    break
                state.digest.update(chunk)
        except BaseException as exc:  # handed to the consumer below
            read_error.append(exc)
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    err = b""
    try:
        fd = proc.stdout.fileno()
        while True:
            out = os.read(fd, CHUNK)
            if not out:
                break
            yield out
        feeder.join()
        err = proc.stderr.read()
        rc = proc.wait()
    finally:
        stopping.set()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait()
        feeder.join()
        proc.stdout.close()
        proc.stderr.close()
    if read_error:
        raise read_error[0]
    if rc != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        state.broken = (
            f"corrupt or truncated archive ({lines[-1] if lines else f'{tool[0]} exit {rc}'})"
        )


def decompress_tool(kind: str) -> Optional[list[str]]:
    """This machine's C decompressor for `kind`, if it has one (else python decompresses)."""
    argv = DECOMPRESS_TOOLS.get(kind)
    return argv if argv and shutil.which(argv[0]) else None


def stream_decompressed(
    path: str,
    *,
    expected_sha256: Optional[str] = None,
    progress: Optional[Progress] = None,
    fh: Optional[BinaryIO] = None,
    inspector: Optional[Inspector] = None,
    tool: Optional[list[str]] = None,
) -> Iterator[bytes]:
    """Yield the uncompressed tar of `path`, verifying `expected_sha256` of the file on the way.

    The tar's end is withheld (see installer.runtime.targuard) until the sha256 of the whole
    compressed file matches and `inspector` (e.g. the image-ID check of
    installer.bundle.tarscan, which sees the same bytes) has accepted it: a consumer such as
    `docker load` that sees the stream stop early has an incomplete tar and registers nothing.
    `tool` (see `decompress_tool`) decompresses in a C process instead of in python; the
    checks are the same.
    """
    kind = compression_of(path)
    try:
        total = os.path.getsize(path)
        source = fh or open(path, "rb")
    except FileNotFoundError:
        raise ArchiveError(
            f"{path}: image archive missing from the bundle; copy the bundle again"
        ) from None
    state = _Reading()
    guard = TarGuard()
    pending = b""  # decompressed bytes not yet released
    released = 0
    done = [0]

    def on_read(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total)

    def take(out: bytes) -> None:
        if inspector is not None:
            inspector.feed(out)
        try:
            guard.feed(out)
        except TarShapeError as exc:
            raise ArchiveError(f"{path}: not a docker save archive ({exc})") from None

    if tool is not None and kind != "none":
        pieces = _tool_pieces(source, tool, state, on_read)
    else:
        pieces = _python_pieces(source, kind, state, on_read)
    try:
        for out in pieces:
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
        got = state.digest.hexdigest()
        if expected_sha256 and got != expected_sha256:
            raise ArchiveError(
                f"{path}: sha256 mismatch (got {got[:16]}..., manifest says "
                f"{expected_sha256[:16]}...); the file is damaged, truncated or replaced: copy the "
                "bundle again"
            )
        if state.broken is not None:
            raise ArchiveError(f"{path}: {state.broken}; copy the bundle again")
        if inspector is not None:
            inspector.finish()
        if pending:
            yield pending
    finally:
        pieces.close()
        if fh is None:
            source.close()


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
