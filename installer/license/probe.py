"""The license server's own answer, per host: serving or not and why, days left, seats in use.

Asked from inside the license-server container on that host (``docker exec`` through the Host),
so it works on this machine and over SSH alike, needs nothing on the host but Docker, and reaches
the server whatever its network mode. The server's status carries no secret; only the fields
``li`` shows are kept.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from installer.license.store import server_of

# The image runs Debian's python3 (it *is* the Python license server).
_ASK = (
    "import sys,urllib.request as u;"
    "print(u.urlopen('http://127.0.0.1:%s/v1/status' % sys.argv[1], timeout=5).read().decode())"
)


def _summary(status: dict[str, Any]) -> dict[str, Any]:
    seats = {
        name: {"in_use": g.get("in_use", 0), "limit": g.get("limit", 0)}
        for name, g in sorted((status.get("grants") or {}).items())
    }
    lic = status.get("license") or {}
    return {
        "serving": bool(status.get("serving")),
        "reason": status.get("reason"),
        "days_left": status.get("days_left"),
        "license_id": lic.get("license_id"),
        "seats": seats,
    }


def license_state(dep: Any) -> Optional[dict[str, Any]]:
    """None when no license server of this deployment runs on ``dep.host``; else its state, or
    ``{"serving": False, "reason": ...}`` when it does not answer. ``dep``: a Deployment."""
    server = server_of(dep.specs)  # the spec that declares license: {role: server}
    if server is None:
        return None
    running = [c for c in dep.runtime.ours() if c.module == server.module and c.running]
    if not running:
        return None
    cont = running[0]
    spec = dep.specs.get(server.module)
    rec = dep.store.load().modules.get(server.module)
    port = None
    if rec is not None and rec.instances:
        port = next(iter(rec.instances[0].ports.values()), None)
    if spec is not None and spec.network != "host" and spec.ports:
        port = spec.ports[0].container_port or port
    if port is None:
        return {"container": cont.name, "serving": False, "reason": "no port recorded"}
    argv = [dep.runtime.cli, "exec", cont.name, "python3", "-c", _ASK, str(port)]
    res = dep.host.run(argv, timeout=20)
    if not res.ok:
        return {
            "container": cont.name,
            "serving": False,
            "reason": f"the license server does not answer: {res.first_error_line()}",
        }
    try:
        status = json.loads(res.stdout)
    except ValueError:
        return {"container": cont.name, "serving": False, "reason": "unreadable status reply"}
    return {"container": cont.name, **_summary(status)}


def describe(state: Optional[dict[str, Any]]) -> str:
    """One line for ``li``."""
    if state is None:
        return "no license server here"
    if not state.get("serving"):
        return f"NOT serving: {state.get('reason') or 'no reason given'}"
    seats = ", ".join(f"{m} {s['in_use']}/{s['limit']}" for m, s in state.get("seats", {}).items())
    days = state.get("days_left")
    return (
        f"serving {state.get('license_id') or ''}".rstrip()
        + (f", {days} day(s) left" if days is not None else "")
        + (f"; seats in use: {seats}" if seats else "")
    )
