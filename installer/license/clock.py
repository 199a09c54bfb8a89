"""Clock rollback detection: a persisted high-water mark of the latest time seen.

Setting the clock back is the cheap way to stretch an expired license. The server records the
latest time it has seen (atomically, at most every ``every`` seconds) and refuses to serve
when the clock is behind it by more than a tolerance that absorbs NTP steps.
"""

from __future__ import annotations

import os
import tempfile
from typing import Optional


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
