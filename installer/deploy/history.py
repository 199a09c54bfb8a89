"""The host's history: one JSON line per install / upgrade / rollback / remove / restore.

Append-only (``<state>/history.jsonl``): a line is never rewritten, so a crash leaves every
earlier entry as it was. Written through the Host, so a remote host keeps its own history.
"""

from __future__ import annotations

import json
import os
import pwd
import time
from typing import Any, Optional

from installer.deploy.state import StateStore

HISTORY_FILE = "history.jsonl"


def who() -> str:
    """The person behind the run: sudo's caller when there is one, else the user."""
    user = os.environ.get("SUDO_USER")
    if user:
        return user
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class History:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.path = f"{store.root}/{HISTORY_FILE}"

    def record(
        self,
        action: str,
        *,
        product: str,
        version: str,
        modules: list[str],
        result: str,
        backups: Optional[list[str]] = None,
        detail: str = "",
        previous: str = "",
    ) -> dict[str, Any]:
        entry = {
            "at": round(time.time(), 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "user": who(),
            "action": action,
            "product": product,
            "version": version,
            "previous": previous,
            "modules": list(modules),
            "result": result,
            "backups": list(backups or []),
            "detail": detail,
        }
        self.store.host.makedirs(self.store.root, 0o700)
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        try:
            before = self.store.host.read(self.path)
        except FileNotFoundError:
            before = b""
        if before and not before.endswith(b"\n"):
            before += b"\n"  # a torn last line (a crash mid-write) stays apart from this one
        # earlier lines are kept byte for byte; the write is atomic (temp file + rename)
        self.store.host.write(self.path, before + line, 0o600)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        try:
            raw = self.store.host.read(self.path)
        except FileNotFoundError:
            return []
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash: the earlier ones stand
            if isinstance(doc, dict):
                out.append(doc)
        return out
