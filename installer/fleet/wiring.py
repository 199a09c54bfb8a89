"""Cross-host wiring and host order, computed from the inventory and the bundle's module specs.

Wiring: a module whose dependency runs on *another* host gets that host's address in the
dependency's address variables (derived from the dependents' ``wired_to`` by
``installer.spec.address``, the answer Kubernetes uses too) and the provider's port variables
when the provider's host sets them -- unless the
variable is set explicitly (inventory ``vars`` or the host's own ``vars``). A dependency on the
same host needs no wiring (127.0.0.1 under host networking, the module's default).

Order: host B waits for host A when a module on B depends on a module on A. The engine's
install returns only when every container is healthy, so "A finished" means "A's services are
healthy". A cycle between hosts is an error that names the modules causing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from installer.errors import SpecError
from installer.fleet.inventory import Inventory, InventoryHost
from installer.i18n import _
from installer.spec.address import address_variables
from installer.spec.model import ModuleSpec
from installer.spec.order import dependency_closure


@dataclass
class HostPlan:
    """What one host gets: its modules, the engine overrides, and the hosts it waits for."""

    host: InventoryHost
    modules: list[str]
    overrides: dict[str, Any] = field(default_factory=dict)
    wired: dict[str, str] = field(default_factory=dict)  # variable -> "host (module)"
    elsewhere: frozenset[str] = frozenset()
    after: list[str] = field(default_factory=list)  # hosts that must be healthy first


@dataclass
class FleetPlan:
    hosts: dict[str, HostPlan]

    def waves(self) -> list[list[str]]:
        """Hosts grouped by depth: each wave only depends on earlier ones (for display)."""
        depth: dict[str, int] = {}

        def d(name: str) -> int:
            if name not in depth:
                depth[name] = 1 + max((d(a) for a in self.hosts[name].after), default=-1)
            return depth[name]

        out: dict[int, list[str]] = {}
        for name in self.hosts:
            out.setdefault(d(name), []).append(name)
        return [out[i] for i in sorted(out)]


def _provider(
    inv: Inventory, module: str, consumer: InventoryHost, placements: Mapping[str, list[str]]
) -> Optional[str]:
    hosts = placements.get(module, [])
    if consumer.name in hosts:
        return consumer.name
    if len(hosts) == 1:
        return hosts[0]
    return None


def plan_fleet(
    inv: Inventory, specs: Mapping[str, ModuleSpec], *, modules_only: bool = True
) -> FleetPlan:
    """Validate placements against the bundle and compute wiring and order for every host."""
    problems: list[str] = []
    src = inv.source
    placements = inv.placements()
    for h in inv.hosts.values():
        for m, pl in h.modules.items():
            spec = specs.get(m)
            if spec is None:
                problems.append(
                    f"{src}: hosts.{h.name}.modules.{m}: unknown module; the bundle has: "
                    f"{', '.join(sorted(specs))}"
                )
            elif pl.instances is not None and pl.instances > spec.max_instances:
                problems.append(
                    f"{src}: hosts.{h.name}.modules.{m}.instances: {m} allows 1 to "
                    f"{spec.max_instances}"
                )
            elif spec is not None and pl.gpus and spec.gpu == "none":
                problems.append(f"{src}: hosts.{h.name}.modules.{m}.gpus: {m} uses no GPU")
    if problems:
        raise SpecError("\n".join(problems))

    plans: dict[str, HostPlan] = {}
    addresses = address_variables(specs)
    for h in inv.hosts.values():
        names = list(h.modules)
        explicit = {**inv.vars, **h.vars}
        hp = HostPlan(h, names)
        needed = dependency_closure(specs, names) - set(names) if names else set()
        wired: dict[str, Any] = {}
        elsewhere: set[str] = set()
        for dep in sorted(needed):
            provider = _provider(inv, dep, h, placements)
            address_vars = addresses.get(dep, ())
            if provider is None:
                where = placements.get(dep, [])
                if address_vars and all(v in explicit for v in address_vars):
                    elsewhere.add(dep)  # an external service the user points at himself
                    continue
                what = (
                    f"{dep} runs on several hosts ({', '.join(where)})"
                    if where
                    else f"no host in the inventory runs {dep}"
                )
                fix = (
                    f"set {' and '.join(address_vars)} in hosts.{h.name}.vars"
                    if address_vars
                    else f"add {dep} to a host"
                )
                problems.append(
                    f"{src}: hosts.{h.name}.modules: {', '.join(names)} need(s) {dep}, but "
                    f"{what}; {fix}"
                )
                continue
            if provider == h.name:
                continue  # installed here by the engine, in dependency order
            elsewhere.add(dep)
            if provider not in hp.after:
                hp.after.append(provider)
            p = inv.hosts[provider]
            for var in address_vars:
                if var not in explicit:
                    wired[var] = p.lan_address
                    hp.wired[var] = f"{p.lan_address} ({dep} on {provider})"
            for port in specs[dep].ports:
                if port.variable and port.variable not in explicit:
                    value = p.vars.get(port.variable, inv.vars.get(port.variable))
                    if value is not None:
                        wired[port.variable] = value
                        hp.wired[port.variable] = f"{value} ({dep} on {provider})"
        hp.elsewhere = frozenset(elsewhere)
        hp.overrides = {**inv.vars, **wired, **h.vars}
        plans[h.name] = hp
    if problems:
        raise SpecError("\n".join(problems))
    _check_cycles(plans, src)
    return FleetPlan(plans)


def _check_cycles(plans: Mapping[str, HostPlan], src: str) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name) :] + [name]
            raise SpecError(
                _(
                    "{src}: hosts wait for each other: {cycle}; place each dependency so that no two hosts need a module from each other"
                ).format(src=src, cycle=" -> ".join(cycle))
            )
        state[name] = "visiting"
        for a in plans[name].after:
            visit(a, path + [name])
        state[name] = "done"

    for name in plans:
        visit(name, [])
