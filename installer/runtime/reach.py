"""Can this host reach an address a module is wired to? A TCP connect run on the host itself.

The module spec names the variables (``wired_to: [{host, port}]``); their values say where the
service will connect. The test runs through the Host with bash's ``/dev/tcp`` under
``timeout`` (targets need only a shell), so it sees what the service will see from that
machine: a firewall between two hosts shows up here, in seconds, not as a health timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from installer.hosts.base import Host
from installer.runtime.health import tcp_script
from installer.spec.model import ModuleSpec

CONNECT_TIMEOUT = 3.0


@dataclass(frozen=True)
class Endpoint:
    """One wired address, with what serves it when the bundle has it."""

    host_var: str
    address: str
    port_var: str
    port: int
    provider: Optional[str] = None  # module whose port variable is ``port_var``
    health_path: Optional[str] = None  # provider's HTTP health path on that port

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def what(self) -> str:
        return self.provider or f"{self.host_var}:{self.port_var}"


def provider_of(specs: Mapping[str, ModuleSpec], port_var: str) -> Optional[tuple[str, str]]:
    """(module, HTTP health path or '') of the module that listens on ``port_var``."""
    for spec in specs.values():
        for p in spec.ports:
            if p.variable == port_var:
                h = spec.health
                path = h.path if h.type == "http" and h.port == p.name else ""
                return spec.name, path
    return None


def endpoints(
    spec: ModuleSpec, specs: Mapping[str, ModuleSpec], values: Mapping[str, Any]
) -> list[Endpoint]:
    """The module's wired addresses with their current values (unset ones are skipped)."""
    out = []
    for w in spec.wired_to:
        address, port = values.get(w.host_var), values.get(w.port_var)
        if address in (None, "") or port in (None, ""):
            continue
        prov = provider_of(specs, w.port_var)
        out.append(
            Endpoint(
                w.host_var,
                str(address),
                w.port_var,
                int(port),
                prov[0] if prov else None,
                (prov[1] or None) if prov else None,
            )
        )
    return out


def describe_failure(rc: int, stderr: str) -> str:
    """Why a connect failed, in the words a firewall admin uses."""
    text = stderr.lower()
    if rc in (124, 137):
        return f"no answer within {CONNECT_TIMEOUT:g}s (packets dropped: a firewall filters it)"
    if "refused" in text:
        return "connection refused (nothing listens there, or a firewall rejects it)"
    if "no route" in text or "unreachable" in text:
        return "no route to host"
    if "name or service not known" in text or "unknown host" in text:
        return "the host name does not resolve"
    line = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    return line or f"connect failed (exit code {rc})"


def connect(host: Host, address: str, port: int) -> Optional[str]:
    """None when ``address:port`` accepts a TCP connection from ``host``; else why not."""
    res = host.run(
        ["timeout", f"{CONNECT_TIMEOUT:g}", "bash", "-c", tcp_script(address, port)],
        timeout=CONNECT_TIMEOUT + 10,
    )
    return None if res.ok else describe_failure(res.rc, res.stderr)
