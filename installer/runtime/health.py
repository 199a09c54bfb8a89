"""Health probes run from the host's side: TCP connect, HTTP status, or a command in the container.

On this machine Python sockets are used; on a remote host a bash /dev/tcp probe, so targets need
no curl and no Python.
"""

from __future__ import annotations

import http.client
import socket
from typing import Optional

from installer.hosts.base import Host

PROBE_TIMEOUT = 3.0


def _local_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False


def _local_http(port: int, path: str) -> tuple[bool, str]:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read(300).decode("utf-8", "replace")
        conn.close()
        return 200 <= resp.status < 300, f"HTTP {resp.status} {body.strip()[:200]}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"no answer on port {port} ({exc.__class__.__name__})"


def remote_http_script(port: int, path: str) -> str:
    return (
        f"exec 3<>/dev/tcp/127.0.0.1/{port} || exit 7; "
        f"printf 'GET {path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3; "
        'read -r proto code rest <&3; echo "$code $rest"; '
        'case "$code" in 2??) exit 0;; *) exit 1;; esac'
    )


def probe(
    host: Host,
    kind: str,
    *,
    port: Optional[int] = None,
    path: str = "/",
    container: str = "",
    command: tuple[str, ...] = (),
) -> tuple[bool, str]:
    """One probe: (healthy, what was seen)."""
    if kind == "command":
        res = host.run(["docker", "exec", container, *command], timeout=PROBE_TIMEOUT * 5)
        return res.ok, res.first_error_line() if not res.ok else "command ok"
    assert port is not None
    if host.is_local:
        if kind == "tcp":
            ok = _local_tcp(port)
            return ok, f"port {port} {'open' if ok else 'closed'}"
        return _local_http(port, path)
    if kind == "tcp":
        res = host.run(["timeout", "5", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"])
        return res.ok, f"port {port} {'open' if res.ok else 'closed'}"
    res = host.run(["timeout", "5", "bash", "-c", remote_http_script(port, path)])
    return (
        res.ok,
        f"HTTP {res.stdout.strip()[:200]}" if res.stdout.strip() else f"no answer on port {port}",
    )
