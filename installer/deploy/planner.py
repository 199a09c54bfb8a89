"""Plan an install: resolve the values, pick instances and GPUs, compare with the host.

Pure apart from reading the host (its containers, images and GPUs): nothing is changed here.
The result is one value the gates and the applier are handed (compose's convergence plans).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from installer.bundle.manifest import Manifest
from installer.deploy.desired import desired_module
from installer.deploy.options import InstallOptions
from installer.deploy.plan import Plan, module_plan
from installer.deploy.render import Renderer
from installer.deploy.state import ModuleRecord, State, StateStore
from installer.deploy.variables import Resolved, resolve
from installer.deploy.whatchanged import explain_recreates
from installer.errors import HostError, UsageError
from installer.events import Reporter
from installer.facts.snapshot import HostFacts, TemplateFacts
from installer.hosts.base import Host
from installer.runtime.container import Container
from installer.runtime.docker import DockerRuntime
from installer.spec.model import ModuleSpec
from installer.spec.order import install_order


@dataclass(frozen=True)
class Planned:
    plan: Plan
    resolved: Resolved
    containers: tuple[Container, ...]  # this deployment's containers as the plan saw them


def check_names(specs: dict[str, ModuleSpec], names: list[str]) -> None:
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise UsageError(
            f"unknown module {', '.join(unknown)}; the bundle has: {', '.join(sorted(specs))}"
        )


def by_module(containers: tuple[Container, ...]) -> dict[str, dict[str, Container]]:
    out: dict[str, dict[str, Container]] = {}
    for cont in containers:
        if cont.module:
            out.setdefault(cont.module, {})[cont.name] = cont
    return out


def gpus_for(
    host: Host,
    facts: HostFacts,
    spec: ModuleSpec,
    count: int,
    explicit: Optional[list[str]],
    previous: Optional[ModuleRecord],
) -> list[str]:
    """One GPU per instance: --gpus, else the ones recorded, else the host's, round robin."""
    if spec.gpu == "none":
        if explicit:
            raise UsageError(f"module {spec.name} does not use GPUs; drop --gpus")
        return []
    if explicit is not None:
        gpus = explicit
    elif previous is not None and previous.gpus:
        gpus = previous.gpus
    else:
        gpus = facts.gpu_indexes
    if gpus and len(gpus) < count and explicit is not None:
        raise UsageError(
            f"--gpus {','.join(explicit)} gives {len(explicit)} GPU(s) for {count} instances of "
            f"{spec.name}; name one GPU per instance"
        )
    if spec.gpu == "required" and not gpus:
        raise HostError(
            f"module {spec.name} needs a GPU and none was found on {host.name} "
            f"(nvidia-smi -L lists none); check the NVIDIA driver"
        )
    return [gpus[i % len(gpus)] for i in range(count)] if gpus else []


@dataclass(frozen=True)
class Planner:
    specs: dict[str, ModuleSpec]
    manifest: Manifest
    renderer: Renderer
    store: StateStore
    runtime: DockerRuntime
    host: Host
    report: Reporter

    def _resolve(
        self, order: list[str], state: State, options: InstallOptions, facts: HostFacts
    ) -> Resolved:
        wanted = [self.specs[n] for n in order]
        return resolve(
            wanted,
            overrides=options.overrides,
            answers=options.answers,
            remembered=state.remembered(),
            default_context=lambda spec: {"network": spec.network, "facts": TemplateFacts(facts)},
            render_default=self.renderer.render_string,
            prompter=options.prompter,
            others=[s for n, s in self.specs.items() if n not in order],
        )

    def _count(self, name: str, names: list[str], options: InstallOptions, state: State) -> int:
        spec = self.specs[name]
        previous = state.modules.get(name)
        if name in names and options.instances is not None:
            count = options.instances
        elif previous is not None:
            count = len(previous.instances) or spec.instances
        else:
            count = spec.instances
        if not 1 <= count <= spec.max_instances:
            raise UsageError(f"--instances {count}: {name} allows 1 to {spec.max_instances}")
        return count

    def plan(
        self, names: list[str], options: InstallOptions, state: State, facts: HostFacts
    ) -> Planned:
        check_names(self.specs, names)
        order = [
            n for n in install_order(self.specs, names) if n in names or n not in options.elsewhere
        ]
        resolved = self._resolve(order, state, options, facts)
        containers = tuple(self.runtime.ours())
        existing = by_module(containers)
        plan = Plan()
        found = facts.arch  # the plan gate refused a host the bundle cannot serve
        arch = found.arch if found is not None else None
        for name in order:
            spec = self.specs[name]
            count = self._count(name, names, options, state)
            explicit = options.gpus if name in names else None
            gpus = gpus_for(self.host, facts, spec, count, explicit, state.modules.get(name))
            desired = desired_module(
                spec,
                self.specs,
                values=resolved.values,
                manifest=self.manifest,
                renderer=self.renderer,
                store=self.store,
                count=count,
                gpus=gpus,
                arch=arch,
            )
            image_present = self.runtime.image_id(desired.image.id) is not None
            plan.modules.append(module_plan(desired, existing.get(name, {}), image_present))
        explain_recreates(
            plan, resolved.values, state.remembered(), existing, self.host, self.specs, self.report
        )
        return Planned(plan, resolved, containers)
