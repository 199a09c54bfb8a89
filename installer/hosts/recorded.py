"""RecordedHost: a Host that answers from recorded outputs, for unit tests of parsers and plans.

It also records every command and write it was asked for, so tests compare data (the commands
we would run) instead of side effects.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping, Optional, Union

from installer.hosts.base import Command, LockHeld, Result, command_text
from installer.i18n import _

Answer = Union[Result, Callable[[str], Result]]


class RecordedHost:
    """Answers commands by exact text or by prefix; unknown commands give rc 127."""

    def __init__(
        self,
        answers: Optional[Mapping[str, Union[str, Answer]]] = None,
        files: Optional[Mapping[str, bytes]] = None,
        name: str = "recorded",
    ) -> None:
        self.name = name
        self.answers = dict(answers or {})
        self.files = dict(files or {})
        self.commands: list[str] = []
        self.stdin_bytes: dict[str, int] = {}
        self.removed: list[str] = []  # paths remove() was asked for, in order
        self.held: set[str] = set()  # lock paths held now (by this test or a "second run")

    @property
    def is_local(self) -> bool:
        return False

    @property
    def sees_controller_files(self) -> bool:
        return False

    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        """Recorded as ``lock PATH`` / ``unlock PATH``; a path in ``held`` is refused."""
        if path in self.held:
            raise LockHeld(
                _("another Sealbox run holds {path} on {name}; wait for it").format(
                    path=path, name=self.name
                )
            )
        self.commands.append(f"lock {path}")
        self.held.add(path)
        try:
            yield
        finally:
            self.held.discard(path)
            self.commands.append(f"unlock {path}")

    def _answer(self, text: str) -> Result:
        self.commands.append(text)
        keys = sorted(self.answers, key=len, reverse=True)
        for key in keys:
            if text == key or text.startswith(key):
                ans = self.answers[key]
                if isinstance(ans, str):
                    return Result(text, 0, ans, "")
                if isinstance(ans, Result):
                    return Result(text, ans.rc, ans.stdout, ans.stderr)
                return ans(text)
        return Result(text, 127, "", f"{text.split()[0] if text else ''}: command not found")

    def run(
        self,
        cmd: Command,
        *,
        input: Optional[bytes] = None,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> Result:
        return self._answer(command_text(cmd))

    def run_streaming_input(
        self, cmd: Command, chunks: Iterable[bytes], *, timeout: Optional[float] = None
    ) -> Result:
        text = command_text(cmd)
        self.stdin_bytes[text] = sum(len(c) for c in chunks)
        return self._answer(text)

    def read(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    def write(self, path: str, data: bytes, mode: int = 0o600) -> None:
        self.files[path] = data

    def exists(self, path: str) -> bool:
        return path in self.files or any(p.startswith(path.rstrip("/") + "/") for p in self.files)

    def put(self, src: Union[str, BinaryIO], dst: str, mode: int = 0o644) -> None:
        if isinstance(src, str):
            with open(src, "rb") as fh:
                self.files[dst] = fh.read()
        else:
            self.files[dst] = src.read()

    def remove(self, path: str, recursive: bool = False) -> None:
        self.removed.append(path)
        for p in [p for p in self.files if p == path or (recursive and p.startswith(path + "/"))]:
            del self.files[p]

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        return None
