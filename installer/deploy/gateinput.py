"""What every gate is handed: one value, built once by the engine after the plan.

compose hands ``execute_convergence_plan`` the plan it built; Sealbox's gates get the same:
the plan, the values it was made with, the state before this run, the opened bundle, the host,
the options and the facts the engine read. No gate reaches back into the engine or plans again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle
from installer.deploy.options import InstallOptions
from installer.deploy.plan import ModulePlan, Plan
from installer.deploy.state import State, StateStore
from installer.deploy.variables import Resolved
from installer.events import Reporter
from installer.facts.runtime import DockerFacts
from installer.hosts.base import Host
from installer.runtime.container import Container
from installer.spec.model import ModuleSpec


@dataclass(frozen=True)
class GateInput:
    plan: Plan
    resolved: Resolved  # the values the plan was rendered with, and where each came from
    state: State  # the host's state before this run
    bundle: VerifiedBundle
    host: Host
    store: StateStore
    options: InstallOptions  # skip_checks already merged with the ones the state remembers
    containers: tuple[Container, ...]  # this deployment's containers, as the plan saw them
    docker: DockerFacts
    report: Reporter
    facts: Optional[Any] = None  # the run's host facts snapshot, where the engine has one

    @property
    def names(self) -> list[str]:
        """The modules this install covers, in install order."""
        return [mp.desired.spec.name for mp in self.plan.modules]

    @property
    def changing(self) -> list[ModulePlan]:
        """The module plans with something to do."""
        return [mp for mp in self.plan.modules if mp.changes]

    @property
    def specs(self) -> dict[str, ModuleSpec]:
        return self.bundle.specs

    @property
    def manifest(self) -> Manifest:
        return self.bundle.manifest
