"""How much of a tar stream may reach `docker load` before the archive's sha256 is confirmed.

`docker load` (Go's archive/tar) registers images only after its tar reader reaches the end of
the archive: EOF exactly at a header boundary, or a zero header block (then EOF or a second
zero block). Every tar structure is made of 512-byte blocks, so a stream cut *inside* a block,
at or before the first zero header block, always fails in Go with "unexpected EOF", whatever
member it cuts. `TarGuard` walks the headers as the bytes pass and says how many bytes are safe
to release; the rest is held until the checksum matches. Withholding the last compressed chunk
is not enough: an attacker ends the file with a zstd skippable frame, and the decompressor has
already produced the whole tar.

The walk must agree with Go on where each header is, or an attacker could hide an end marker
from us: so it honours PAX `size` records and treats header-only types (links, devices,
directories, FIFOs) as having no data whatever their size field says, as Go does, and it refuses
old GNU sparse members (extra header blocks not counted in the size), which `docker save` never
writes.
"""

from __future__ import annotations

from typing import Optional

BLOCK = 512
ZERO = bytes(BLOCK)
HEADER_ONLY = frozenset(b"123456")  # Go's isHeaderOnlyType: link, symlink, char, block, dir, fifo
MAX_AFTER_END = 1 << 20  # bytes accepted after the end marker (record padding); more is refused


class TarShapeError(ValueError):
    """The stream is not a tar `docker load` reads the way we walk it."""


def _number(field: bytes) -> int:
    """A tar numeric field: octal, padded with NULs or spaces, or GNU base-256."""
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            raise TarShapeError("negative size in a tar header")
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.strip(b" \0")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarShapeError("unreadable size in a tar header") from None


def _pax_size(records: bytes) -> Optional[int]:
    """The `size` record of a PAX extended header, if any ("<len> size=<n>\\n")."""
    found = None
    pos = 0
    while pos < len(records):
        space = records.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(records[pos:space])
        except ValueError:
            raise TarShapeError("unreadable PAX header") from None
        if length <= 0:
            raise TarShapeError("unreadable PAX header")
        key, _, value = records[space + 1 : pos + length].rstrip(b"\n").partition(b"=")
        if key == b"size":
            try:
                found = int(value)
            except ValueError:
                raise TarShapeError("unreadable PAX size") from None
        pos += length
    return found


class TarGuard:
    """Feed it the uncompressed tar in order; `safe_limit()` is how many bytes may be released."""

    def __init__(self) -> None:
        self.seen = 0
        self.end: Optional[int] = None  # offset of the first zero header block
        self._next_header = 0  # offset where the next header block starts
        self._header = b""  # a header block being collected
        self._pax: Optional[bytearray] = None  # content of a PAX 'x' member being collected
        self._pax_left = 0
        self._pending_size: Optional[int] = None  # PAX size for the next member

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        n = len(view)
        while pos < n and self.end is None:
            offset = self.seen + pos
            if offset < self._next_header:  # inside a member's data (and padding)
                take = min(self._next_header - offset, n - pos)
                if self._pax is not None and self._pax_left > 0:
                    grab = min(take, self._pax_left)
                    self._pax += view[pos : pos + grab]
                    self._pax_left -= grab
                pos += take
                if self.seen + pos == self._next_header and self._pax is not None:
                    self._pending_size = _pax_size(bytes(self._pax))
                    self._pax = None
                continue
            need = BLOCK - len(self._header)
            take = min(need, n - pos)
            self._header += bytes(view[pos : pos + take])
            pos += take
            if len(self._header) == BLOCK:
                self._on_header(self._header, self.seen + pos - BLOCK)
                self._header = b""
        self.seen += n
        if self.end is not None and self.seen - self.end > MAX_AFTER_END:
            raise TarShapeError("data after the end of the tar")

    def _on_header(self, header: bytes, at: int) -> None:
        if header == ZERO:
            self.end = at
            return
        kind = header[156]
        if kind == ord("S"):
            raise TarShapeError("GNU sparse member (docker save never writes one)")
        size = _number(header[124:136])
        if self._pending_size is not None:
            size, self._pending_size = self._pending_size, None
        if kind in HEADER_ONLY:
            size = 0
        if kind == ord("x"):
            if size > 1 << 20:
                raise TarShapeError("PAX header over 1 MiB")
            self._pax, self._pax_left = bytearray(), size
        self._next_header = at + BLOCK + (size + BLOCK - 1) // BLOCK * BLOCK
        if size == 0 and self._pax is not None:
            self._pending_size = None
            self._pax = None

    def safe_limit(self) -> int:
        """Bytes that may go to docker: never the end marker, never a whole-block prefix."""
        limit = self.seen if self.end is None else min(self.seen, self.end)
        if limit % BLOCK == 0:
            limit -= 1
        return max(limit, 0)
