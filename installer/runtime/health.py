"""Health probes run from the host's side: TCP connect, HTTP answer, or a command in the container.

Every probe is a bash one-liner run through the Host (``/dev/tcp``, no curl, no Python on the
target), so this machine and an SSH host take the same path. An HTTP probe reads the whole
answer before it closes the connection: closing after the status line made the service's
second write fail with a ``BrokenPipeError`` traceback in its own log.

The health contract for services (README, "Health contract"): 2xx means healthy. A non-2xx
answer says why in its body -- JSON ``{"reason": "...", "fatal": true}`` (``retry: false`` is
the same as ``fatal: true``) or a plain-text body -- and the installer shows that reason.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Optional

from installer.hosts.base import Host

PROBE_TIMEOUT = 3.0
MAX_ANSWER = 65536  # bytes of an HTTP answer kept; the rest is read and dropped
REASON_CHARS = 300


@dataclass(frozen=True)
class HealthAnswer:
    """What one probe saw. ``reason`` is the service's own words when it gave any."""

    ok: bool
    seen: str  # short text for status tables: "HTTP 503 ...", "port 5535 closed"
    reason: Optional[str] = None
    fatal: bool = False  # ``fatal: true`` / ``retry: false``: waiting longer changes nothing
    retry: bool = False  # ``retry: true``: still progressing, keep waiting (up to the timeout)
    answered: bool = False  # something listened and answered (any HTTP status, open port)


def tcp_script(address: str, port: int) -> str:
    """Open fd 3 to ``address:port`` (bash resolves /dev/tcp after quote removal)."""
    return "exec 3<>" + shlex.quote(f"/dev/tcp/{address}/{int(port)}")


def http_script(address: str, port: int, path: str) -> str:
    """GET ``path``; print the whole answer (bounded), reading it to the end before closing."""
    request = f"GET {path} HTTP/1.0\\r\\nHost: {address}\\r\\nConnection: close\\r\\n\\r\\n"
    return (
        f"{tcp_script(address, port)} || exit 7; "
        f"printf {shlex.quote(request)} >&3; "
        f"head -c {MAX_ANSWER} <&3; cat <&3 >/dev/null"
    )


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_CHARS else flat[: REASON_CHARS - 3] + "..."


def parse_reason(body: str) -> tuple[Optional[str], bool, bool]:
    """(reason, fatal, retry) from a health body: JSON ``reason``/``fatal``/``retry``, else
    the first 300 characters of a text body."""
    text = body.strip()
    if not text:
        return None, False, False
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return _one_line(text), False, False
    if not isinstance(doc, dict):
        return None, False, False  # JSON, but not the contract's object
    reason = doc.get("reason")
    fatal = doc.get("fatal") is True or doc.get("retry") is False
    retry = doc.get("retry") is True and not fatal
    if isinstance(reason, str) and reason.strip():
        return _one_line(reason), fatal, retry
    return None, fatal, retry


def parse_http(raw: str) -> HealthAnswer:
    """An HTTP/1.x answer as printed by ``http_script``."""
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    status_line = head.split("\n", 1)[0].strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return HealthAnswer(False, f"not an HTTP answer: {_one_line(raw)[:80]!r}", answered=True)
    status = int(parts[1])
    if 200 <= status < 300:
        return HealthAnswer(True, f"HTTP {status}", answered=True)
    reason, fatal, retry = parse_reason(body)
    seen = f"HTTP {status}" + (f": {reason}" if reason else "")
    return HealthAnswer(False, seen, reason, fatal, retry, answered=True)


def check(
    host: Host,
    kind: str,
    *,
    port: Optional[int] = None,
    path: str = "/",
    container: str = "",
    command: tuple[str, ...] = (),
    address: str = "127.0.0.1",
    cli: str = "docker",
) -> HealthAnswer:
    """One probe through the host (``cli``: the engine's program, for command probes)."""
    if kind == "command":
        res = host.run([cli, "exec", container, *command], timeout=PROBE_TIMEOUT * 5)
        if res.ok:
            return HealthAnswer(True, "command ok", answered=True)
        return HealthAnswer(False, res.first_error_line(), answered=res.rc not in (124, 137))
    assert port is not None
    limit = f"{PROBE_TIMEOUT:g}"
    if kind == "tcp":
        res = host.run(["timeout", limit, "bash", "-c", tcp_script(address, port)])
        return HealthAnswer(
            res.ok, f"port {port} {'open' if res.ok else 'closed'}", answered=res.ok
        )
    res = host.run(["timeout", limit, "bash", "-c", http_script(address, port, path)])
    if not res.stdout.strip():
        return HealthAnswer(False, f"no answer on port {port}")
    return parse_http(res.stdout)


def probe(
    host: Host,
    kind: str,
    *,
    port: Optional[int] = None,
    path: str = "/",
    container: str = "",
    command: tuple[str, ...] = (),
    cli: str = "docker",
) -> tuple[bool, str]:
    """One probe: (healthy, what was seen) -- for status tables."""
    ans = check(host, kind, port=port, path=path, container=container, command=command, cli=cli)
    return ans.ok, ans.seen
