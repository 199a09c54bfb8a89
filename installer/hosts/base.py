"""The Host protocol: everything that touches a machine goes through it.

Keeping every command and file access behind this small interface lets each feature work over
SSH unchanged and lets unit tests hand in a recorded host.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import (
    BinaryIO,
    ContextManager,
    Iterable,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Union,
    runtime_checkable,
)

from installer.errors import HostError

Command = Union[str, Sequence[str]]
"""A command: an argv list (quoted for us) or a string given to ``sh -c``."""


def command_text(cmd: Command) -> str:
    """The shell text of a command, for logs and for remote execution."""
    if isinstance(cmd, str):
        return cmd
    return shlex.join(list(cmd))


@dataclass(frozen=True)
class Result:
    """What a command returned. ``rc`` 127 means the command was not found."""

    cmd: str
    rc: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def not_found(self) -> bool:
        return self.rc == 127

    def first_error_line(self) -> str:
        """The most telling line of stderr (or stdout), for one-line error messages."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return f"exit code {self.rc}"


class LockHeld(HostError):
    """Another run holds the host's run lock."""


LOCK_BUSY_RC = 75  # what a lock command exits with when another holder has the lock


@runtime_checkable
class Host(Protocol):
    """A machine we act on. ``name`` is how it is shown to the user."""

    name: str

    def run(
        self,
        cmd: Command,
        *,
        input: Optional[bytes] = None,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> Result:
        """Run a command and capture its output; never raises for a non-zero exit."""
        ...

    def run_streaming_input(
        self,
        cmd: Command,
        chunks: Iterable[bytes],
        *,
        timeout: Optional[float] = None,
    ) -> Result:
        """Run a command feeding ``chunks`` to its stdin as they are produced (no temp file)."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of a file; raises FileNotFoundError when it does not exist."""
        ...

    def write(self, path: str, data: bytes, mode: int = 0o600) -> None:
        """Write a file atomically (temp file + rename) with the given mode."""
        ...

    def exists(self, path: str) -> bool: ...

    def put(self, src: Union[str, BinaryIO], dst: str, mode: int = 0o644) -> None:
        """Copy a local file (path or open binary file) to ``dst`` on the host."""
        ...

    def remove(self, path: str, recursive: bool = False) -> None:
        """Remove a file (or a tree with ``recursive``); missing paths are not an error."""
        ...

    def makedirs(self, path: str, mode: int = 0o755) -> None: ...

    def lock(self, path: str) -> ContextManager[None]:
        """Hold an exclusive lock on the file ``path`` (created, with its folder) for the
        ``with`` block; raise ``LockHeld`` at once when another holder has it. The lock goes
        with the holder: a controller that dies or loses its connection releases it."""
        ...

    @property
    def sees_controller_files(self) -> bool:
        """True when this host reads the controller's files at the same paths (this machine):
        a bundle file is used where it is, never copied to it."""
        ...

    @property
    def is_local(self) -> bool: ...
