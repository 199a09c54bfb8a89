"""The license server's own answer, per host: serving or not and why, days left, seats in use.

Asked from inside the license-server container on that host (``docker exec`` through the Host),
so it works on this machine and over SSH alike, needs nothing on the host but Docker, and reaches
the server whatever its network mode. The server's status carries no secret; only the fields
``li`` shows are kept.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from installer.i18n import _
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
        return _("no license server here")
    if not state.get("serving"):
        return _("NOT serving: {reason}").format(reason=state.get("reason") or _("no reason given"))
    seats = ", ".join(f"{m} {s['in_use']}/{s['limit']}" for m, s in state.get("seats", {}).items())
    days = state.get("days_left")
    text: str = _("serving {license_id}").format(license_id=state.get("license_id") or "").rstrip()
    if days is not None:
        text += _(", {days} day(s) left").format(days=days)
    if seats:
        text += _("; seats in use: {seats}").format(seats=seats)
    return text


# Without the bundle (support bundle, any host): the server the state recorded ------------------
_GET = (
    "import sys,urllib.request as u;"
    "sys.stdout.buffer.write(u.urlopen('http://127.0.0.1:%s%s' % (sys.argv[1], sys.argv[2]),"
    " timeout=20).read())"
)


def recorded_server(runtime: Any, state_store: Any) -> Optional[tuple[Any, int]]:
    """The running license-server container of this host's state and the port it listens on
    inside its network namespace; None when none runs. ``runtime``: a DockerRuntime."""
    from installer.license.store import server_recorded

    ref = server_recorded(state_store)
    if ref is None:
        return None
    running = [c for c in runtime.ours() if c.module == ref.module and c.running]
    if not running:
        return None
    cont = running[0]
    rec = state_store.load().modules.get(ref.module)
    port = None
    if rec is not None and rec.instances:
        port = next(iter(rec.instances[0].ports.values()), None)
    if (cont.raw.get("HostConfig") or {}).get("NetworkMode") != "host":
        exposed = sorted((cont.raw.get("Config") or {}).get("ExposedPorts") or {})
        port = int(exposed[0].split("/")[0]) if exposed else port
    return (cont, int(port)) if port else None


def ask_recorded(runtime: Any, state_store: Any, path: str) -> Optional[bytes]:
    """GET ``path`` from this host's license server on its loopback (where it shows details
    and the usage report); None when no license server runs here. Raises LicenseError when it
    does not answer."""
    from installer.errors import LicenseError

    found = recorded_server(runtime, state_store)
    if found is None:
        return None
    cont, port = found
    res = runtime.host.run(
        ["docker", "exec", cont.name, "python3", "-c", _GET, str(port), path], timeout=30
    )
    if not res.ok:
        raise LicenseError(
            f"license server {cont.name} on {runtime.host.name} did not answer {path}: "
            f"{res.first_error_line()}"
        )
    return res.stdout.encode("utf-8", "surrogateescape")
