"""``docker save`` of a bundle's images into one compressed archive (vendor side): zstd on all
cores with long-distance matching (or xz), hashed and counted as it is written."""

from __future__ import annotations

import hashlib
import lzma
import os
import subprocess
from typing import BinaryIO, Optional

import zstandard

from installer.archive.streams import CHUNK, DEFAULT_ZSTD_LEVEL, ZSTD_WINDOW_LOG
from installer.bundle.delta import filter_save
from installer.errors import RuntimeFailure, UsageError
from installer.i18n import _


class _HashingWriter:
    """A file wrapper that hashes and counts what the compressor writes: one pass, no re-read."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()

    def close(self) -> None:
        self.raw.close()

    @property
    def closed(self) -> bool:
        return self.raw.closed


def _compressor(out: _HashingWriter, compression: str, level: Optional[int]) -> BinaryIO:
    if compression == "zstd":
        params = zstandard.ZstdCompressionParameters.from_level(
            level or DEFAULT_ZSTD_LEVEL,
            threads=-1,
            enable_ldm=True,
            window_log=ZSTD_WINDOW_LOG,
            write_checksum=True,
        )
        # zstandard's stub asks for IO[bytes]; the writer only needs write/flush/close (and
        # `closed`), which _HashingWriter has.
        return zstandard.ZstdCompressor(compression_params=params).stream_writer(out)  # type: ignore[arg-type]
    if compression == "xz":
        return lzma.LZMAFile(out, "wb", preset=level if level is not None else 6)  # type: ignore[return-value,arg-type]
    raise UsageError(
        _("--compression {compression}: choose zstd or xz").format(compression=compression)
    )


def save_images(
    refs: list[str],
    dest: str,
    compression: str = "zstd",
    level: Optional[int] = None,
    omit: frozenset[str] = frozenset(),
) -> tuple[str, int, int]:
    """docker save REFS | compress > dest; returns (sha256 of dest, compressed size, tar size).

    Several refs make one multi-image tar in which shared layers appear once. `omit`: the
    layers (diff IDs) a delta bundle leaves out (installer.bundle.delta)."""
    tmp = dest + ".part"
    proc = subprocess.Popen(
        ["docker", "save", *refs], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    raw_size = 0
    assert proc.stdout is not None
    try:
        with open(tmp, "wb") as raw:
            hashed = _HashingWriter(raw)  # type: ignore[arg-type]
            comp = _compressor(hashed, compression, level)
            if omit:
                raw_size = filter_save(proc.stdout, comp, omit).raw  # type: ignore[arg-type]
                for _padding in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                    pass  # docker's record padding after the tar's end
            else:
                for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):  # type: ignore[union-attr]
                    raw_size += len(chunk)
                    comp.write(chunk)
            if isinstance(comp, lzma.LZMAFile):
                comp.close()
            else:
                comp.flush(zstandard.FLUSH_FRAME)  # type: ignore[call-arg]
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeFailure(
                _("docker save {refs} failed: {err}").format(refs=" ".join(refs), err=err.strip())
            )
    except BaseException:
        proc.kill()
        proc.wait()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.replace(tmp, dest)
    return hashed.digest.hexdigest(), hashed.size, raw_size
