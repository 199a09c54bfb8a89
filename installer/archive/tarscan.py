"""Check the image IDs inside a `docker save` tar while it streams past, without a second read.

An image ID is the sha256 of the image's config JSON. A `docker save` tar holds that config as
`<hex>.json` (docker < 25) or `blobs/sha256/<hex>` (OCI layout, docker >= 25), and its
`manifest.json` names the config of every image it carries. So the archive will load exactly
the expected images when (1) for every expected ID a member with that name hashes to that ID
and (2) `manifest.json` names no other config. Only these few small members are buffered;
layer data is skipped by offset.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Optional

from installer.archive.streams import ArchiveError
from installer.i18n import _

BLOCK = 512
MAX_SMALL = 16 << 20  # configs and manifest.json are kilobytes; refuse absurd ones


def _hex(image_id: str) -> str:
    return image_id.split(":", 1)[1] if ":" in image_id else image_id


def _octal(field: bytes) -> int:
    field = field.rstrip(b"\0 ").strip()
    if not field:
        return 0
    if field[0] & 0x80:  # GNU base-256 for sizes >= 8 GiB
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    return int(field, 8)


class ImageIdScanner:
    """An archive Inspector: feed it the uncompressed tar, `finish` raises on a mismatch."""

    def __init__(self, path: str, expected_ids: Iterable[str]) -> None:
        self.path = path
        self.expected = {_hex(i) for i in expected_ids}
        self._wanted = {f"{h}.json": h for h in self.expected}
        self._wanted.update({f"blobs/sha256/{h}": h for h in self.expected})
        self.found: dict[str, str] = {}  # expected hex -> sha256 of the member content
        self.manifest_configs: Optional[list[str]] = None
        self._buf = b""  # pending header bytes
        self._skip = 0  # bytes of the current member (plus padding) still to pass
        self._capture: Optional[tuple[str, int, list[bytes]]] = None  # name, size, pieces
        self._long_name: Optional[str] = None
        self._ended = False

    # feeding ------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos = 0
        while pos < len(view) and not self._ended:
            if self._skip:
                take = min(self._skip, len(view) - pos)
                if self._capture is not None:
                    self._capture[2].append(bytes(view[pos : pos + take]))
                self._skip -= take
                pos += take
                if self._skip == 0 and self._capture is not None:
                    self._member_done()
                continue
            need = BLOCK - len(self._buf)
            self._buf += bytes(view[pos : pos + need])
            pos += min(need, len(view) - pos)
            if len(self._buf) == BLOCK:
                header, self._buf = self._buf, b""
                self._header(header)

    def _header(self, header: bytes) -> None:
        if header == b"\0" * BLOCK:
            self._ended = True  # end-of-archive marker
            return
        name = header[0:100].split(b"\0", 1)[0].decode("utf-8", "replace")
        prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8", "replace")
        if prefix and header[257:262] == b"ustar":
            name = f"{prefix}/{name}"
        size = _octal(header[124:136])
        kind = header[156:157]
        padded = (size + BLOCK - 1) // BLOCK * BLOCK
        if self._long_name is not None:
            name, self._long_name = self._long_name, None
        name = name[2:] if name.startswith("./") else name
        self._skip = padded
        if kind == b"L":  # GNU long name: the next member's name is this content
            self._capture = ("\0longname", size, [])
        elif kind in (b"0", b"\0") and (name in self._wanted or name == "manifest.json"):
            if size > MAX_SMALL:
                raise ArchiveError(
                    _("{path}: {name} is {size} bytes; not a docker save tar").format(
                        path=self.path, name=name, size=size
                    )
                )
            self._capture = (name, size, [])
        else:
            self._capture = None
        if padded == 0 and self._capture is not None:
            self._member_done()

    def _member_done(self) -> None:
        assert self._capture is not None
        name, size, pieces = self._capture
        self._capture = None
        content = b"".join(pieces)[:size]
        if name == "\0longname":
            self._long_name = content.rstrip(b"\0").decode("utf-8", "replace")
        elif name == "manifest.json":
            try:
                doc = json.loads(content)
                self.manifest_configs = [str(img["Config"]) for img in doc]
            except (ValueError, KeyError, TypeError):
                raise ArchiveError(
                    _("{path}: manifest.json inside the archive is unreadable").format(
                        path=self.path
                    )
                ) from None
        else:
            self.found[self._wanted[name]] = hashlib.sha256(content).hexdigest()

    # verdict ------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        out = []
        for want in sorted(self.expected):
            got = self.found.get(want)
            if got is None:
                out.append(f"image sha256:{want[:12]} (from the manifest) is not in the archive")
            elif got != want:
                out.append(f"image config {want[:12]} in the archive hashes to {got[:12]}")
        if self.manifest_configs is None:
            out.append("no manifest.json in the archive (not a docker save tar)")
        else:
            others = sorted(
                {c.rsplit("/", 1)[-1].replace(".json", "") for c in self.manifest_configs}
                - self.expected
            )
            if others:
                out.append(
                    "the archive holds image(s) the manifest does not list: "
                    + ", ".join(f"sha256:{o[:12]}" for o in others)
                )
        return out

    def finish(self) -> None:
        problems = self.problems()
        if problems:
            raise ArchiveError(
                _(
                    "{path}: wrong image ID: {problems}; the bundle is inconsistent, rebuild it"
                ).format(path=self.path, problems=problems[0])
            )
