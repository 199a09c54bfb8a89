"""Which variable carries a provider's address to its dependents: derived from `wired_to`.

One answer for every deployment path: the SSH fleet sets it to the provider host's LAN address
(`installer.fleet.wiring`), the cluster renderer to the provider's Service name
(`installer.k8s.values`), a single host keeps the variable's default. A dependent's
`wired_to: [{host: redis_host, port: redis_port}]` names the provider by its port variable:
the module that declares `redis_port` provides, and `redis_host` carries its address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from installer.spec.model import ModuleSpec


@dataclass(frozen=True)
class Wire:
    """`consumer` reaches `provider` at (`host_var`, `port_var`)."""

    consumer: str
    provider: str
    host_var: str
    port_var: str


def wires(specs: Mapping[str, ModuleSpec]) -> list[Wire]:
    """Every `wired_to` entry of the bundle whose port variable a module declares."""
    owner = {var.name: spec.name for spec in specs.values() for var in spec.variables}
    out = []
    for spec in specs.values():
        for w in spec.wired_to:
            provider = owner.get(w.port_var)
            if provider is not None and provider != spec.name:
                out.append(Wire(spec.name, provider, w.host_var, w.port_var))
    return out


def address_variables(specs: Mapping[str, ModuleSpec]) -> dict[str, tuple[str, ...]]:
    """provider module -> the variables that carry its address (usually one)."""
    out: dict[str, tuple[str, ...]] = {}
    for w in wires(specs):
        if w.host_var not in out.get(w.provider, ()):
            out[w.provider] = out.get(w.provider, ()) + (w.host_var,)
    return out


def cluster_addresses(specs: Mapping[str, ModuleSpec]) -> dict[str, str]:
    """Address variable -> the provider's name (its Service name in a cluster)."""
    return {var: provider for provider, vs in address_variables(specs).items() for var in vs}
