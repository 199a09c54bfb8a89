"""Desired vs actual -> actions. Actions are values: the CLI can print them before they run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from installer.deploy.desired import DesiredInstance, DesiredModule
from installer.runtime.container import Container

LOAD, CREATE, RECREATE, START, NOOP, REMOVE = (
    "load",
    "create",
    "recreate",
    "start",
    "noop",
    "remove",
)


@dataclass(frozen=True)
class Action:
    kind: str
    module: str
    container: str = ""
    instance: Optional[int] = None
    reason: str = ""

    def describe(self) -> str:
        target = self.container or self.module
        return f"{self.kind:<8} {target}" + (f"  ({self.reason})" if self.reason else "")


@dataclass
class ModulePlan:
    desired: DesiredModule
    load_image: bool
    actions: list[Action] = field(default_factory=list)

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind != NOOP]


@dataclass
class Plan:
    modules: list[ModulePlan] = field(default_factory=list)

    @property
    def actions(self) -> list[Action]:
        return [a for m in self.modules for a in m.actions]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.kind != NOOP]


def instance_action(want: DesiredInstance, have: Optional[Container]) -> Action:
    """The config-hash decision, per instance (docker-compose's convergence rule)."""
    name, module, idx = want.container, want.module, want.index
    wanted_hash = want.runspec.config_hash()
    if have is None:
        return Action(CREATE, module, name, idx, "not present")
    if not have.managed:
        return Action(RECREATE, module, name, idx, "a container with this name is not ours")
    if have.config_hash != wanted_hash:
        return Action(RECREATE, module, name, idx, "configuration changed")
    if have.image_id != want.runspec.image_id:
        return Action(RECREATE, module, name, idx, "image changed")
    if not have.running:
        return Action(START, module, name, idx, f"container is {have.status}")
    return Action(NOOP, module, name, idx, "up to date")


def module_plan(
    desired: DesiredModule,
    existing: dict[str, Container],
    image_present: bool,
) -> ModulePlan:
    """`existing` maps container name -> container for this module's containers on the host."""
    plan = ModulePlan(desired, load_image=not image_present)
    if not image_present:
        plan.actions.append(Action(LOAD, desired.spec.name, reason=desired.image.file))
    wanted = {i.container for i in desired.instances}
    for inst in desired.instances:
        plan.actions.append(instance_action(inst, existing.get(inst.container)))
    for name, cont in sorted(existing.items()):
        if name not in wanted:
            plan.actions.append(
                Action(REMOVE, desired.spec.name, name, cont.instance, "extra instance")
            )
    return plan
