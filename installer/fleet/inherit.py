"""The values a dependent host inherits from its providers on other hosts: the variables its
modules' templates use, read from the providers' state (or, on a dry run, what a provider not yet
installed will use)."""

from __future__ import annotations

from typing import Any, Protocol

import jinja2
from jinja2 import meta

from installer.bundle.opened import VerifiedBundle
from installer.deploy.render import sandbox
from installer.deploy.state import StateStore
from installer.fleet.inventory import Inventory
from installer.fleet.wiring import HostPlan
from installer.spec.model import ModuleSpec, Variable


def referenced_variables(bundle: VerifiedBundle, spec: ModuleSpec) -> set[str]:
    """Variables a module's templates, command and environment use (jinja2's own parser, over
    the verified template text; parsing runs nothing)."""
    env = sandbox()
    found: set[str] = set()
    sources: list[str] = list(spec.command) + list(spec.environment.values())
    for cfg in spec.configs:
        text = bundle.templates.get(cfg.template)
        if text is not None:
            sources.append(text)
    for src in sources:
        try:
            found |= meta.find_undeclared_variables(env.parse(src))
        except jinja2.TemplateSyntaxError:
            continue
    return found


def planned_value(var: Variable, provider: str) -> Any:
    """What a provider not yet installed will use for ``var``: its plain default, or for a
    generated secret a stand-in that says where it will come from (never stored: dry runs only)."""
    if var.generate:
        # of the generator's shape (a secret is checked like any value: letters and digits,
        # 16 or more), and plainly not a real one: "generatedonHOST..."
        tag = "generatedon" + "".join(c for c in provider if c.isascii() and c.isalnum())
        size = max(var.generate, 16)
        return (tag * (size // len(tag) + 1))[:size]
    if var.default is not None and "{" not in str(var.default):
        return var.default
    return None


class _Providers(Protocol):
    """What the inheritance needs of Fleet (typed here: importing it would make a cycle)."""

    inventory: Inventory

    @property
    def verified(self) -> VerifiedBundle: ...

    @property
    def specs(self) -> dict[str, ModuleSpec]: ...

    def store(self, name: str) -> StateStore: ...


def inherited_values(fleet: _Providers, hp: HostPlan, dry_run: bool = False) -> dict[str, Any]:
    """Values of the providers' variables this host's modules use, read from the providers'
    state (skipping what the inventory sets explicitly). A dry run on a fresh fleet has no
    provider state yet: it shows what the provider will use (see ``planned_value``)."""
    explicit = set(fleet.inventory.vars) | set(hp.host.vars)
    used: set[str] = set()
    for m in hp.modules:
        used |= referenced_variables(fleet.verified, fleet.specs[m])
    placements = fleet.inventory.placements()
    values: dict[str, Any] = {}
    for dep in sorted(hp.elsewhere):
        hosts = placements.get(dep, [])
        if len(hosts) != 1:
            continue  # an external service: the user set its variables
        names = {v.name for v in fleet.specs[dep].variables} & used
        names -= explicit | set(hp.wired)
        if not names:
            continue
        remembered = fleet.store(hosts[0]).load().remembered()
        spec_vars = {v.name: v for v in fleet.specs[dep].variables}
        for n in sorted(names):
            if n in remembered:
                values[n] = remembered[n]
            elif dry_run:
                planned = planned_value(spec_vars[n], hosts[0])
                if planned is not None:
                    values[n] = planned
    return values
