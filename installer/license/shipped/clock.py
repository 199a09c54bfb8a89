"""Clock rollback detection: a persisted high-water mark and other witnesses of time seen.

Setting the clock back is the cheap way to stretch an expired license. The server records the
latest time it has seen (atomically, at most every ``every`` seconds) and refuses to serve
when the clock is behind it by more than a tolerance that absorbs NTP steps. The mark is one
file the customer can delete or edit, so ``read_witnesses`` adds the server log's latest
timestamp and the newest file times in its data dirs, and reports a missing mark beside
existing history (the license's ``issued_at`` is the last witness, in ``verify.evaluate``).
Each time the mark is written the server logs a heartbeat line (``HighWater(on_write=...)``),
so the log witness is never older than the mark: an edited (older) mark is caught by the log.

ONE reader for everyone (the server, the install gate, ``license install`` on a host, the
fleet's ``license check``): ``read_witnesses`` over a ``read(path) -> bytes`` function (a local
open, or ``Host.read`` on any host), with one rule: the latest of the mark, the log and (where
the folder can be listed) the file times; ``high_water`` is its floor for callers that only
need the time.
"""

from __future__ import annotations

import calendar
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

Reader = Callable[[str], bytes]
"""Reads a whole file; raises FileNotFoundError when it is absent (``Host.read`` does)."""


def parse_mark(data: bytes) -> Optional[int]:
    """The mark's value (one integer line); None for an unreadable one."""
    try:
        return int(data.decode("ascii").strip() or "0")
    except (UnicodeDecodeError, ValueError):
        return None


class HighWater:
    def __init__(
        self, path: str, every: float = 30.0, on_write: Optional[Callable[[int], None]] = None
    ) -> None:
        self.path = path
        self.every = every
        self.on_write = on_write  # the heartbeat: called after each write of the mark
        self._value: Optional[int] = None
        self._written: Optional[int] = None

    def load(self) -> Optional[int]:
        """The mark on disk (None when never written or unreadable: first start)."""
        try:
            value = parse_mark(_read_local(self.path))
        except FileNotFoundError:
            return self._value
        if value is None:
            return self._value
        self._value = max(value, self._value or 0)
        self._written = value
        return self._value

    @property
    def value(self) -> Optional[int]:
        return self._value

    def advance(self, now: float) -> None:
        """Raise the mark to ``now`` (never lower it); persist when it moved enough."""
        t = int(now)
        if self._value is None or t > self._value:
            self._value = t
        if self._written is None or self._value - self._written >= self.every:
            self._persist(self._value)

    def _persist(self, value: int) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".hwm-")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(f"{value}\n")
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._written = value
        if self.on_write is not None:
            self.on_write(value)


# witnesses ----------------------------------------------------------------------------------
_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ", re.MULTILINE)
MARK_FILE = "clock.hwm"
LOG_FILE = "license_service.log"


def log_high(data: bytes) -> Optional[int]:
    """The latest timestamp among the log lines in ``data`` (the tail of the server log)."""
    best: Optional[int] = None
    for m in _STAMP.finditer(data):
        try:
            t = calendar.timegm(time.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            continue
        best = t if best is None or t > best else best
    return best


@dataclass
class Witnesses:
    """The times this server has provably seen, by witness name, plus whether the mark is
    gone while other history remains (deleting the mark is not a way to hide a rollback)."""

    seen: Dict[str, int] = field(default_factory=dict)
    mark_missing_with_history: List[str] = field(default_factory=list)

    def floor(self) -> Tuple[Optional[int], str]:
        """(latest time seen, by which witness)."""
        if not self.seen:
            return None, ""
        name = max(self.seen, key=lambda k: self.seen[k])
        return self.seen[name], name


def _read_local(path: str, tail: int = 0) -> bytes:
    with open(path, "rb") as fh:
        if tail:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - tail))
        return fh.read()


def _file_times(directories: List[str], state_dir: str) -> Tuple[Optional[int], List[str]]:
    """(newest file time, non-empty history files of the state dir) of local folders."""
    newest: Optional[int] = None
    history = []
    for directory in directories:
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if not entry.is_file(follow_symlinks=False) or entry.name.startswith(".hwm-"):
                continue
            if directory == state_dir and entry.name != MARK_FILE and entry.stat().st_size:
                history.append(entry.name)
            t = int(entry.stat(follow_symlinks=False).st_mtime)
            newest = t if newest is None or t > newest else newest
    return newest, history


def read_witnesses(
    state_dir: str,
    license_dir: str = "",
    tail: int = 65536,
    *,
    read: Optional[Reader] = None,
) -> Witnesses:
    """The witnesses of the server's state dir: the mark, the server log's latest line (and
    its rotated copy), and -- when the folders are local (``read`` not given) -- the newest
    file time in the state and license dirs. ``read``: how to read a file on the host that
    holds the state dir (``Host.read``); file times are then not read (no listing)."""
    local = read is None
    get: Reader = read if read is not None else _read_local
    w = Witnesses()
    history = []
    try:
        mark = parse_mark(get(f"{state_dir}/{MARK_FILE}"))
        if mark is not None:
            w.seen["high-water mark"] = mark
    except FileNotFoundError:
        pass
    for name in (LOG_FILE, LOG_FILE + ".1"):
        try:
            path = f"{state_dir}/{name}"
            data = _read_local(path, tail) if local else get(path)[-tail:]
        except FileNotFoundError:
            continue
        if data.strip():
            history.append(name)
        t = log_high(data)
        if t is not None:
            w.seen["server log"] = max(t, w.seen.get("server log", 0))
    if local:
        newest, history = _file_times([d for d in (state_dir, license_dir) if d], state_dir)
        if newest is not None:
            w.seen["file times"] = newest
    if "high-water mark" not in w.seen and history:
        w.mark_missing_with_history = sorted(history)
    return w


def high_water(read: Reader, state_dir: str) -> Optional[int]:
    """The latest time the license server on that host has provably seen (the controllers'
    view: the mark and the log, read through ``read``); None before its first run."""
    return read_witnesses(state_dir, read=read).floor()[0]
