"""The engine's gates: the checks every install passes before it changes anything.

One explicit, ordered list, imported directly: a gate that cannot be imported makes the engine
itself fail to import (a loud error), never a silently missing check. Every `Deployment` uses
this list unless its caller passes another one on purpose (tests of a single gate).

The bundle's signature and files are checked earlier still, when the bundle is opened
(installer.bundle.opened): nothing of a bundle is parsed before that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from installer.bundle.gate import bundle_gate
from installer.deploy.preflight import envcheck_facts, envcheck_gate
from installer.license.gate import license_facts, license_gate

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.engine import Deployment, InstallOptions

Gate = Callable[["Deployment", "list[str]", "InstallOptions"], None]
"""A pre-install check that raises to stop the install before any change."""

ENGINE_GATES: tuple[Gate, ...] = (
    bundle_gate,  # the opened bundle's archives are on hand, and disk for the images to load
    envcheck_gate,  # the host passes the checks of the modules about to change
    license_gate,  # a licensed module may run on this machine
)

GATE_FACTS: dict[Gate, Callable[[Deployment, list[str]], list[str]]] = {
    envcheck_gate: envcheck_facts,
    license_gate: license_facts,
}
"""The host facts a gate reads (from the engine's snapshot), so one round trip serves the
engine and every gate (issue 17: facts gathered once per host and run)."""


def gate_facts(gates: Sequence[Gate], dep: Deployment, names: list[str]) -> list[str]:
    """The facts ``gates`` will read for an install of ``names`` (and their dependencies)."""
    from installer.spec.order import install_order

    order = install_order(dep.specs, names)
    return [key for gate in gates if gate in GATE_FACTS for key in GATE_FACTS[gate](dep, order)]
