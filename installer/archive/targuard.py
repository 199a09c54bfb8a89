"""How much of a tar stream may reach `docker load` before the archive's sha256 is confirmed.

`docker load` registers images only when Go's `archive/tar` reader (Reader.Next) answers
`io.EOF` for the next member: a clean end of the archive. A stream that stops early (the check
failed, the rest is never sent) must therefore stop where Go answers an error instead. `TarGuard`
walks the headers as the bytes pass and says how many bytes may be released; the rest is held
until the checksum matches. Withholding the last compressed chunk is not enough: an attacker
ends the file with a zstd skippable frame, and the decompressor has already produced the tar.

Where Go ends cleanly (Go 1.x `archive/tar/reader.go`, the rules the proof uses). Let member i
have its header block at h_i, its data end d_i = h_i + 512 + size_i (size 0 for header-only
types, whatever the field says) and the next header at n_i = h_i + 512 + pad512(size_i). For
a stream cut after L bytes:

  R1 `readHeader`: `io.ReadFull` of a header block returns io.EOF only when it reads 0 bytes,
     so L = h (a header boundary) is a clean end; L inside a header block is ErrUnexpectedEOF.
  R2 after a zero block the second block is read the same way: L = end + 512 is a clean end,
     L inside the second block is ErrUnexpectedEOF; two zero blocks are a clean end.
  R3 member data: `regFileReader.Read` turns EOF with bytes still owed into ErrUnexpectedEOF,
     and `discard` (data the consumer skipped) does the same; so any L in [h_i + 512, d_i)
     with size_i > 0 fails. PAX and GNU long-name contents are read the same way
     (`readSpecialFile` -> io.ReadAll keeps ErrUnexpectedEOF).
  R4 padding: `tryReadFull(tr.blk[:tr.pad])` returns io.EOF when the data runs out inside the
     padding (even after 0 bytes), and Next passes it on as the end of the archive: any L in
     [d_i, n_i] is a clean end. (This is the case the first version of this guard missed: it
     withheld one byte before the end marker, which sits in the last member's padding.)

So the clean ends are exactly the header boundaries, the points after one or two zero blocks,
and every point of a member's padding (its data end included). Every other L lies in an open
interval (h_i, d_i) of some member i, where R1 and R3 give ErrUnexpectedEOF.

The guard's rule: release at most `safe_limit()`, which is the bytes seen so far when that
point lies strictly inside (h, d) of the member being walked (for a header block not yet
complete: once a non-zero byte shows it is no end marker), else d - 1 of the last member
whose header was read (0 before any), and never anything past the first zero header block.
d - 1 lies in (h, d) because d >= h + 512. (At exactly h + 512 with data owed the guard still
holds one byte back, so every released cut lies inside a 512-byte block.) Hence no released prefix is a clean end for Go, so a
stream cut at any point it released is an incomplete archive (the one exception is the empty
prefix, which Go reads as an empty archive: `docker load` registers nothing from it). The limit
only grows as bytes arrive, so what was released once stays a safe cut.

The walk must agree with Go on where each header is, or an attacker could hide a clean end from
us: it honours PAX `size` records as Go's Next does (an 'x' header's records apply to the next
header that is not 'x', 'g', 'L' or 'K'; a later 'x' replaces them; a 'g' header ends the
sequence), reads each meta header's own contents by its own size field, treats header-only types
(links, devices, directories, FIFOs) as having no data whatever their size field says, and
refuses what `docker save` never writes and would make the physical layout harder to follow:
old GNU sparse members and PAX GNU.sparse records. Where the walk and Go could still differ (a
bad checksum, an unparsable number or PAX record) Go stops with an error at that header, so
nothing after it can complete an archive. tests/unit/core/test_targuard.py checks the rule
with hypothesis over generated archives, against a model of Go's reader.
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
        if field[0] & 0x40:  # Go: the sign bit of base-256 is 0x40
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
        if key.startswith(b"GNU.sparse."):
            raise TarShapeError("PAX GNU sparse member (docker save never writes one)")
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
        self._pax: Optional[bytearray] = None  # content of a PAX 'x'/'g' member being read
        self._pax_kind = 0
        self._pax_left = 0
        self._pending_size: Optional[int] = None  # PAX size for the next regular header
        self._data_end = 0  # d of the member being walked (0: no header read yet)

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
                    self._end_pax()
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

    def _end_pax(self) -> None:
        """A PAX member's contents are complete: 'x' sets the pending records, 'g' clears them
        (Go's Next returns the global header, and the next call starts with no records)."""
        assert self._pax is not None
        size = _pax_size(bytes(self._pax))
        self._pending_size = size if self._pax_kind == ord("x") else None
        self._pax = None

    def _on_header(self, header: bytes, at: int) -> None:
        if header == ZERO:
            self.end = at
            return
        kind = header[156]
        if kind == ord("S"):
            raise TarShapeError("GNU sparse member (docker save never writes one)")
        size = _number(header[124:136])  # meta headers are read by their own size (Go)
        if kind in (ord("x"), ord("g")):
            if size > 1 << 20:
                raise TarShapeError("PAX header over 1 MiB")
            self._pax, self._pax_kind, self._pax_left = bytearray(), kind, size
        elif kind not in (ord("L"), ord("K")):  # the member itself: PAX records apply here
            if self._pending_size is not None:
                size = self._pending_size
            self._pending_size = None
            if kind in HEADER_ONLY:
                size = 0
        self._data_end = at + BLOCK + size
        self._next_header = at + BLOCK + (size + BLOCK - 1) // BLOCK * BLOCK
        if size == 0 and self._pax is not None:
            self._end_pax()

    def safe_limit(self) -> int:
        """Bytes that may go to docker: a cut there is never a clean end for Go (the proof is
        in the module docstring): inside a header block or before a member's data end."""
        if self.end is None:
            if self._header.strip(b"\0"):  # inside a header block (h, h + 512) that is no
                return self.seen  # end marker (a zero one may become it: hold it back)
            if self.seen < self._data_end:  # inside (h, d): h + 512 <= seen < d
                # h + 512 itself is safe by R3; one byte less keeps every cut inside a block
                return self.seen - 1 if self.seen % BLOCK == 0 else self.seen
        return max(self._data_end - 1, 0)  # in padding, at a boundary, or past the end marker
