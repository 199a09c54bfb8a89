"""Clock rollback detection: a persisted high-water mark and other witnesses of time seen.

Setting the clock back is the cheap way to stretch an expired license. The server records the
latest time it has seen (atomically, at most every ``every`` seconds) and refuses to serve
when the clock is behind it by more than a tolerance that absorbs NTP steps. The mark is one
file the customer can delete, so ``read_witnesses`` adds the server log's latest timestamp and
the newest file times in its data dirs, and reports a missing mark beside existing history
(the license's ``issued_at`` is the last witness, in ``verify.evaluate``).
"""

from __future__ import annotations

import calendar
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


class HighWater:
    def __init__(self, path: str, every: float = 30.0) -> None:
        self.path = path
        self.every = every
        self._value: Optional[int] = None
        self._written: Optional[int] = None

    def load(self) -> Optional[int]:
        """The mark on disk (None when never written or unreadable: first start)."""
        try:
            with open(self.path, encoding="ascii") as fh:
                value = int(fh.read().strip() or "0")
        except (FileNotFoundError, ValueError):
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


def read_witnesses(state_dir: str, license_dir: str = "", tail: int = 65536) -> Witnesses:
    """Witnesses from a local state dir (the server's view): the mark, the server log's latest
    line (and its rotated copy), and the newest file time in the state and license dirs."""
    w = Witnesses()
    mark = os.path.join(state_dir, MARK_FILE)
    try:
        with open(mark, encoding="ascii") as fh:
            w.seen["high-water mark"] = int(fh.read().strip() or "0")
    except (FileNotFoundError, ValueError):
        pass
    for name in (LOG_FILE, LOG_FILE + ".1"):
        try:
            with open(os.path.join(state_dir, name), "rb") as fh:
                fh.seek(max(0, os.fstat(fh.fileno()).st_size - tail))
                t = log_high(fh.read())
        except FileNotFoundError:
            continue
        if t is not None:
            w.seen["server log"] = max(t, w.seen.get("server log", 0))
    history = []
    for directory in filter(None, (state_dir, license_dir)):
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
            w.seen["file times"] = max(t, w.seen.get("file times", 0))
    if "high-water mark" not in w.seen and history:
        w.mark_missing_with_history = sorted(history)
    return w
