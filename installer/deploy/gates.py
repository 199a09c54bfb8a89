"""The engine's gates: the checks every install passes before it changes anything.

One explicit, ordered list, imported directly: a gate that cannot be imported makes the engine
itself fail to import (a loud error), never a silently missing check. Every `Deployment` uses
this list unless its caller passes another one on purpose (tests of a single gate).

Each gate takes one value, ``GateInput`` (the plan, the values, the state, the opened bundle,
the host, the options, the facts) and raises to stop the install. The bundle's signature and
files are checked earlier still, when the bundle is opened (installer.bundle.opened): nothing
of a bundle is parsed before that.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from installer.bundle.gate import bundle_gate
from installer.deploy.archgate import ArchInput, arch_gate
from installer.deploy.gateinput import GateInput
from installer.deploy.portclash import unique_ports_gate
from installer.deploy.portfree import free_ports_gate
from installer.deploy.preflight import envcheck_facts, envcheck_gate
from installer.deploy.secretguard import secrets_gate
from installer.facts.snapshot import PORT_FACTS
from installer.license.gate import license_facts, license_gate
from installer.spec.model import ModuleSpec
from installer.spec.order import install_order

Gate = Callable[[GateInput], None]
"""A pre-install check that raises to stop the install before any change."""

PlanGate = Callable[[ArchInput], None]
"""A check of the bundle against the host that must pass before a plan can be made."""

PLAN_GATES: tuple[PlanGate, ...] = (
    arch_gate,  # the bundle carries images for the host's architecture (exit 3; issue 22)
)
"""Run first, also on --dry-run: the plan picks each image (signed ID, archive) by the host's
architecture, so a host the bundle cannot serve is refused before anything is planned."""

ENGINE_GATES: tuple[Gate, ...] = (
    unique_ports_gate,  # no port wanted twice by the plan and what is installed beside it
    secrets_gate,  # no new generated secret over data made with the lost one
    bundle_gate,  # the opened bundle's archives are on hand, and disk for the images to load
    envcheck_gate,  # the host passes the checks of the modules about to change
    license_gate,  # a licensed module may run on this machine
    free_ports_gate,  # the ports about to be bound are free, or ours
)

DRY_RUN_GATES: frozenset[Gate] = frozenset({unique_ports_gate, secrets_gate})
"""The gates a --dry-run also passes: they judge the plan and the data, and write nothing
(the license gate may put a license in place; the host checks belong to the real run)."""

GateFacts = Callable[[Mapping[str, ModuleSpec], str, list[str]], list[str]]
"""(specs, state root, module names) -> the host facts a gate may read for that install."""

GATE_FACTS: dict[Gate, GateFacts] = {
    envcheck_gate: envcheck_facts,
    license_gate: license_facts,
    free_ports_gate: lambda _specs, _root, _names: list(PORT_FACTS),  # listeners and owners
}
"""The host facts a gate reads (from the engine's snapshot), so one round trip serves the
engine and every gate (issue 17: facts gathered once per host and run)."""


def gate_facts(
    gates: Sequence[Gate], specs: Mapping[str, ModuleSpec], root: str, names: list[str]
) -> list[str]:
    """The facts ``gates`` will read for an install of ``names`` (and their dependencies)."""
    order = install_order(dict(specs), names)
    return [
        key for gate in gates if gate in GATE_FACTS for key in GATE_FACTS[gate](specs, root, order)
    ]


__all__ = [
    "DRY_RUN_GATES",
    "ENGINE_GATES",
    "GATE_FACTS",
    "PLAN_GATES",
    "ArchInput",
    "Gate",
    "GateInput",
    "PlanGate",
    "gate_facts",
]
