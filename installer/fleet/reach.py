"""Before any change across hosts: can each host reach what its modules are wired to?

A dependent host connects, through its own Host, to every address its modules' ``wired_to``
names on *another* host (the license server on A, MySQL on B). A firewall between them is then
an error in seconds, naming both hosts, the address and the port, instead of a health timeout.

Two moments, one check: before the run starts (``preflight``) for providers already serving --
when the dependent cannot connect but the provider's host can connect to that same address, the
service runs and something between the hosts drops or rejects the traffic -- and, for providers
installed by the same run, at the start of the dependent's job, which begins right after its
providers are healthy (``installer.fleet.run`` orders the jobs).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from installer.errors import HostError
from installer.fleet.wiring import HostPlan
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.reach import Endpoint, connect, endpoints
from installer.spec.model import ModuleSpec


class DependencyUnreachable(HostError):
    """A host cannot connect to a service it is wired to on another host (exit 3)."""


@dataclass(frozen=True)
class Link:
    """One wired address a host's module needs from another machine."""

    consumer: str  # inventory host name
    consumer_address: str
    module: str
    endpoint: Endpoint
    provider_host: Optional[str] = None  # None: a service outside the inventory

    def message(self, why: str) -> str:
        ep = self.endpoint
        here = f"{self.consumer} ({self.consumer_address})"
        there = f"{self.provider_host} ({ep.address})" if self.provider_host else ep.address
        what = (
            _("{what} on {host}").format(what=ep.what, host=self.provider_host)
            if self.provider_host
            else ep.what
        )
        return _(
            "{here} cannot reach {what} at {where} ({host_var}, {port_var}) for {module}: "
            "{why}; open TCP port {port} from {here} to {there} in the firewall, or check "
            "that {service} runs there"
        ).format(
            here=here,
            what=what,
            where=ep.where,
            host_var=ep.host_var,
            port_var=ep.port_var,
            module=self.module,
            why=why,
            port=ep.port,
            there=there,
            service=ep.what,
        )


def port_defaults(specs: Mapping[str, ModuleSpec]) -> dict[str, Any]:
    """Plain (non-template) defaults of every variable: the ports a provider listens on when
    nothing overrides them."""
    return {
        v.name: v.default
        for s in specs.values()
        for v in s.variables
        if isinstance(v.default, int) and not isinstance(v.default, bool)
    }


def links_of(
    hp: HostPlan,
    names: list[str],
    specs: Mapping[str, ModuleSpec],
    placements: Mapping[str, list[str]],
    values: Mapping[str, Any],
) -> list[Link]:
    """The cross-host addresses the modules ``names`` on this host are wired to."""
    out: list[Link] = []
    seen: set[tuple[str, int]] = set()
    for m in names:
        for ep in endpoints(specs[m], specs, values):
            if ep.provider is None or ep.provider not in hp.elsewhere:
                continue  # on this host: the health wait checks it
            if (ep.address, ep.port) in seen:
                continue
            seen.add((ep.address, ep.port))
            where = placements.get(ep.provider, [])
            provider_host = where[0] if len(where) == 1 else None
            out.append(Link(hp.host.name, hp.host.lan_address, m, ep, provider_host))
    return out


def first_failure(host: Host, links: list[Link]) -> Optional[tuple[Link, str]]:
    for link in links:
        why = connect(host, link.endpoint.address, link.endpoint.port)
        if why is not None:
            return link, why
    return None


def require_reachable(host: Host, links: list[Link]) -> None:
    """Raise DependencyUnreachable for the first wired address the host cannot connect to."""
    failed = first_failure(host, links)
    if failed is not None:
        link, why = failed
        raise DependencyUnreachable(link.message(why))


def served_there(provider: Host, link: Link) -> bool:
    """Does the provider's own host connect to the address? Then the service runs."""
    return connect(provider, link.endpoint.address, link.endpoint.port) is None


def blocked_hosts(
    names: list[str],
    links_for: Callable[[str], list[Link]],
    host: Callable[[str], Host],
    parallel: int = 8,
    timings: Optional[dict[str, float]] = None,
) -> dict[str, str]:
    """host -> message, for hosts that cannot reach a provider that is serving already.

    A failed connect counts only when the provider's own host connects to the same address
    (the service runs; the path between the hosts is closed). A provider not running yet is
    checked again when the dependent's job starts, after the provider is healthy. A host that
    cannot be reached at all is left to its own job, which reports it. ``timings``, when
    given, gets each host's check time (a refused host's result shows it)."""

    def check(name: str) -> Optional[tuple[Link, str]]:
        started = time.monotonic()
        try:
            return _check(name)
        finally:
            if timings is not None:
                timings[name] = time.monotonic() - started

    def _check(name: str) -> Optional[tuple[Link, str]]:
        try:
            links = links_for(name)
            if not links:
                return None
            h = host(name)
            opener = getattr(h, "connect", None)  # SSH hosts connect lazily; fail here, early
            if opener is not None:
                opener()
            return first_failure(h, links)
        except Exception:  # noqa: BLE001 - an unreachable host is its own job's report
            return None

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        found = dict(zip(names, pool.map(check, names)))
    blocked: dict[str, str] = {}
    for name, failed in found.items():
        if failed is None:
            continue
        link, why = failed
        try:
            serving = link.provider_host is None or served_there(host(link.provider_host), link)
        except Exception:  # noqa: BLE001 - provider unreachable: its own job says so
            serving = False
        if serving:
            blocked[name] = link.message(why)
    return blocked
