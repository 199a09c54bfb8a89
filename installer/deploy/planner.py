"""Plan an install: resolve the values, pick instances and GPUs, compare with the host.

Pure apart from reading the host (its containers, images and GPUs): nothing is changed here.
The result is one value the gates and the applier are handed (compose's convergence plans).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from installer.bundle.manifest import Manifest
from installer.deploy.desired import DesiredModule, desired_module
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
from installer.i18n import _
from installer.runtime.container import Container
from installer.runtime.docker import ContainerRuntime
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
            _("unknown module {unknown}; the bundle has: {specs}").format(
                unknown=", ".join(unknown), specs=", ".join(sorted(specs))
            )
        )


def by_module(containers: tuple[Container, ...]) -> dict[str, dict[str, Container]]:
    out: dict[str, dict[str, Container]] = {}
    for cont in containers:
        if cont.module:
            out.setdefault(cont.module, {})[cont.name] = cont
    return out


ACCELERATOR_WORDS = {
    "nvidia": ("GPU", "nvidia-smi lists none; check the NVIDIA driver"),
    "ascend": ("Ascend NPU", "npu-smi info lists none; check the Ascend NPU driver"),
}
"""How the planner's errors name each kind and say where to look (the driver's own tool)."""


def gpus_for(
    host: Host,
    facts: HostFacts,
    spec: ModuleSpec,
    count: int,
    explicit: Optional[list[str]],
    previous: Optional[ModuleRecord],
) -> list[str]:
    """One accelerator of the spec's kind per instance (an NVIDIA GPU index or an Ascend NPU
    chip's device number): --gpus, else the ones recorded, else the host's, round robin."""
    acc = spec.accelerator
    if acc.kind == "none" or acc.count == 0:
        if explicit:
            raise UsageError(
                _("module {name} uses no GPU or NPU; drop --gpus").format(name=spec.name)
            )
        return []
    if explicit is not None:
        gpus = explicit
    elif previous is not None and previous.gpus:
        gpus = previous.gpus
    else:
        gpus = facts.accelerator_indexes(acc.kind)
    word, why = ACCELERATOR_WORDS.get(acc.kind, (acc.kind, "check its driver"))
    if gpus and len(gpus) < count and explicit is not None:
        raise UsageError(
            _(
                "--gpus {explicit} gives {n_explicit} {word}(s) for {count} instances of {name}; name one {word} per instance"
            ).format(
                explicit=",".join(explicit),
                n_explicit=len(explicit),
                word=word,
                count=count,
                name=spec.name,
            )
        )
    if acc.required and not gpus:
        raise HostError(
            _(
                "module {module} needs an accelerator ({word}) and none was found on {host} ({why})"
            ).format(module=spec.name, word=word, host=host.name, why=why)
        )
    return [gpus[i % len(gpus)] for i in range(count)] if gpus else []


@dataclass(frozen=True)
class Planner:
    specs: dict[str, ModuleSpec]
    manifest: Manifest
    renderer: Renderer
    store: StateStore
    runtime: ContainerRuntime
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
            raise UsageError(
                _("--instances {count}: {name} allows 1 to {max_instances}").format(
                    count=count, name=name, max_instances=spec.max_instances
                )
            )
        return count

    def plan(
        self, names: list[str], options: InstallOptions, state: State, facts: HostFacts
    ) -> Planned:
        check_names(self.specs, names)
        order = [
            n for n in install_order(self.specs, names) if n in names or n not in options.elsewhere
        ]
        resolved = self._resolve(order, state, options, facts)
        # The deployment's containers are read beside the image lookups: neither needs the other.
        with ThreadPoolExecutor(max_workers=1) as pool:
            ours = pool.submit(self.runtime.ours)
            wanted = self._desired(order, names, options, state, facts, resolved)
            containers = tuple(ours.result())
        existing = by_module(containers)
        plan = Plan()
        for name, desired, image_present in wanted:
            plan.modules.append(module_plan(desired, existing.get(name, {}), image_present))
        explain_recreates(
            plan, resolved.values, state.remembered(), existing, self.host, self.specs, self.report
        )
        return Planned(plan, resolved, containers)

    def _desired(
        self,
        order: list[str],
        names: list[str],
        options: InstallOptions,
        state: State,
        facts: HostFacts,
        resolved: Resolved,
    ) -> list[tuple[str, DesiredModule, bool]]:
        """Each module's desired shape, and whether its signed image is on the engine."""
        out = []
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
                ulimits=self.runtime.ulimits,
                arch=arch,
            )
            out.append((name, desired, self.runtime.image_id(desired.image.id) is not None))
        return out
