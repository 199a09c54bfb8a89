"""A fact: one read-only observation of a host, declared once (a command or a file, a parser,
a default), and the parsed value with the raw output kept for support.

The commands use only sh and standard tools (coreutils, grep, iproute2, ...), so a target needs
no Python and no agent. A missing command is itself a fact ("not installed"): the parser turns
the raw result into a value, or the fact's default plus a reason.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from installer.hosts.base import Result

Parser = Callable[[Result], Any]


class Unavailable(Exception):
    """The fact could not be read; the message says why in words a field engineer knows."""


@dataclass(frozen=True)
class Fact:
    """One read-only observation. Exactly one of ``command`` (sh text) or ``path`` is set."""

    key: str
    parser: Parser
    default: Any = None
    command: Optional[str] = None
    path: Optional[str] = None
    about: str = ""
    may_hang: bool = False
    """Talks to a daemon (dockerd, NVIDIA driver, chronyd): run under `timeout` on the target."""
    builtin: bool = False
    """The command uses shell builtins only (loops over /sys, /proc): it runs inside the gathering
    shell with no fork, its stderr dropped. Paths in it are written ``$R/...`` (the fact root)."""
    lines: int = 0
    """For a file: read at most this many lines (0 = all); -1 = up to the first empty line."""

    @property
    def shell(self) -> str:
        """The sh text that reads this fact (a file read becomes `cat`) - for scripts and logs."""
        if self.command is not None:
            return self.command
        return f"cat {shlex.quote(self.path or '')}"

    def evaluate(self, raw: Result) -> FactResult:
        """Parse a raw result; a parser error never escapes, it becomes the reason."""
        try:
            return FactResult(self.key, self.parser(raw), None, raw)
        except Unavailable as exc:
            return FactResult(self.key, self.default, str(exc), raw)
        except Exception as exc:  # unexpected output shape: say so, keep the raw for support
            return FactResult(
                self.key, self.default, f"unparseable output ({type(exc).__name__}: {exc})", raw
            )


@dataclass(frozen=True)
class FactResult:
    """A parsed fact: ``value`` (or the default), ``error`` when it could not be read, raw."""

    key: str
    value: Any
    error: Optional[str]
    raw: Result = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "command": self.raw.cmd,
            "rc": self.raw.rc,
            "stdout": self.raw.stdout,
            "stderr": self.raw.stderr,
            "value": plain(self.value),
            "error": self.error,
        }


def plain(value: Any) -> Any:
    """A value as JSON-ready data (typed fact values are small dataclasses)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
