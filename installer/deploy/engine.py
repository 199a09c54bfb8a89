"""The engine's entry points: what is available, what is installed, install and remove.

A Deployment ties a bundle to one host and its state. It plans first (installer.deploy.planner),
hands the plan as one value to every gate (installer.deploy.gates), then applies module by
module in dependency order (installer.deploy.install). One run per host at a time: the run lock
is the Host's, so a remote host is locked as this machine is.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Union

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle, as_verified
from installer.deploy import upgrade_run, views
from installer.deploy.apply import Applier
from installer.deploy.gates import (
    DRY_RUN_GATES,
    ENGINE_GATES,
    PLAN_GATES,
    ArchInput,
    Gate,
    GateInput,
    gate_facts,
)
from installer.deploy.history import History
from installer.deploy.options import InstallOptions, InstallResult, InstanceStatus
from installer.deploy.plan import Plan
from installer.deploy.planner import Planned, Planner, check_names
from installer.deploy.remove import Remover
from installer.deploy.render import Renderer
from installer.deploy.state import State, StateStore
from installer.deploy.variables import Resolved
from installer.errors import HostError, UsageError
from installer.events import Reporter, make
from installer.facts.snapshot import (
    ARCH_FACTS,
    PODMAN_CHECK_FACTS,
    PORT_FACTS,
    ROOT_FACTS,
    RUNTIMES,
    HostFacts,
    engine_facts,
    runtime_facts,
)
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.docker import ContainerRuntime
from installer.spec.model import ModuleSpec
from installer.spec.order import dependents

__all__ = ["Deployment", "Gate", "InstallOptions", "InstallResult", "InstanceStatus"]

LOCK_FILE = ".lock"


def plan_facts(runtime: str) -> tuple[str, ...]:
    """What the planner reads (root, the engine, LAN address, GPUs); the port gate declares
    the rest."""
    return tuple(k for k in engine_facts(runtime) if k not in PORT_FACTS)


PLAN_FACTS = plan_facts("docker")


class Deployment:
    """`bundle`: an opened VerifiedBundle, or a folder to open with the default pins. `gates`:
    the engine's list (installer.deploy.gates) unless a caller passes another on purpose."""

    def __init__(
        self,
        bundle: Union[VerifiedBundle, str],
        host: Host,
        *,
        store: Optional[StateStore] = None,
        reporter: Optional[Reporter] = None,
        gates: Optional[Sequence[Gate]] = None,
        runtime: str = "docker",
        ulimits: Sequence[str] = (),
    ) -> None:
        if runtime not in RUNTIMES:
            raise UsageError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
        self.runtime_choice = runtime  # docker | podman | auto: the host's facts decide auto
        self.bundle = as_verified(bundle)
        self.bundle_dir = self.bundle.root
        self.host = host
        self.store = store or StateStore(host)
        self.report = make(reporter)
        self.gates = list(ENGINE_GATES if gates is None else gates)
        self.manifest: Manifest = self.bundle.manifest
        self.specs: dict[str, ModuleSpec] = self.bundle.specs
        self.renderer = Renderer(self.bundle.templates)
        self.facts = self._snapshot()  # this run's snapshot of the host: one round trip
        self.runtime = ContainerRuntime(
            host,
            self.store.deployment_id,
            staging_dir=f"{self.store.root}/images",
            facts=lambda: self.facts.docker,
            ulimits=ulimits,
        )
        self.planner = Planner(
            self.specs,
            self.manifest,
            self.renderer,
            self.store,
            self.runtime,
            host,
            self.report,
        )
        self.remover = Remover(host, self.runtime, self.store, self.specs, self.report)

    # helpers ----------------------------------------------------------------------------
    def _snapshot(self) -> HostFacts:
        return HostFacts(self.host, runtime=self._runtime_for_run())

    def _runtime_for_run(self) -> str:
        """auto: the runtime the installed modules run on, where the state names one (a host
        with both engines keeps its containers where they are)."""
        if self.runtime_choice != "auto":
            return self.runtime_choice
        try:
            return self.store.load().runtime or "auto"
        except HostError:  # not root: the facts say what runs here
            return "auto"

    def same_runtime(self, state: State) -> None:
        """Refuse to act on modules installed on the other engine: `li` would call them
        missing, `in` would start a second copy, `rmall --purge` would orphan them."""
        kind = self.facts.runtime_kind
        if state.modules and state.runtime and state.runtime != kind:
            raise UsageError(
                _(
                    "the modules in {root} on {host} run on {was}, not {now}: run with "
                    "--runtime {was} (or runtime: {was} in the inventory), or remove them first"
                ).format(root=self.store.root, host=self.host.name, was=state.runtime, now=kind)
            )
        state.runtime = kind

    def check_names(self, names: list[str]) -> None:
        check_names(self.specs, names)

    def require_root(self, what: str) -> None:
        self.facts.gather(ROOT_FACTS)  # a no-op when the run gathered its facts already
        if not self.facts.is_root:
            raise HostError(
                _(
                    "'{what}' needs root on {name} (it runs Docker and writes {root}): run it with sudo"
                ).format(what=what, name=self.host.name, root=self.store.root)
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One Sealbox run per host at a time, on this machine and over SSH alike."""
        with self.host.lock(f"{self.store.root}/{LOCK_FILE}"):
            yield

    def read_facts(self, names: list[str], *, for_gates: bool = True) -> HostFacts:
        """The one place the engine reads the host's facts for a run: a fresh snapshot,
        gathered in one round trip with what every gate declares it reads (GATE_FACTS), then
        handed to the planner and every gate (none gathers on its own)."""
        self.facts = self._snapshot()
        gated = gate_facts(self.gates, self.specs, self.store.root, names) if for_gates else []
        if gated and self.facts.runtime == "podman":  # envcheck's Podman items, same trip
            gated = [*gated, *PODMAN_CHECK_FACTS]
        self.facts.gather(plan_facts(self.facts.runtime) + tuple(gated))
        return self.facts

    def _root_and_docker(self) -> None:
        """rm/rmall read no more than these: root and Docker, one round trip."""
        self.facts = self._snapshot()
        self.facts.gather(ROOT_FACTS + runtime_facts(self.runtime_choice))

    def _record(self, action: str, modules: list[str], detail: str) -> None:
        History(self.store).record(
            action,
            product=self.manifest.product,
            version=self.manifest.version,
            modules=modules,
            result="ok",
            detail=detail,
        )

    # read-only views --------------------------------------------------------------------
    def available(self) -> list[dict[str, Any]]:
        """The bundle's modules; 'installed' is None where the state cannot be read (not root)."""
        return views.available(self.specs, self.store, self.host)

    def arch_view(self) -> dict[str, Any]:
        """The architectures the bundle carries and the one this host reports (`se`)."""
        self.facts.gather(ARCH_FACTS)
        found = self.facts.arch
        carried = self.manifest.architectures()
        return {
            "architectures": carried,
            "host_arch": found.arch if found else None,
            "host_arch_overridden": bool(found and found.overridden),
            "host_arch_carried": bool(found and found.arch in carried),
        }

    def status(self) -> list[InstanceStatus]:
        """Installed instances from the state, checked against the real containers and probes."""
        return views.status(self.specs, self.store, self.runtime, self.host)

    # install ----------------------------------------------------------------------------
    def plan(
        self, names: list[str], options: InstallOptions, state: State
    ) -> tuple[Plan, Resolved]:
        planned = self.planner.plan(names, options, state, self.facts)
        return planned.plan, planned.resolved

    def plan_gates(self, facts: HostFacts) -> None:
        """The bundle against the host before any plan (its architecture: issue 22)."""
        inp = ArchInput(self.bundle, self.host, facts, self.report)
        for gate in PLAN_GATES:
            gate(inp)

    def gate_input(
        self, planned: Planned, state: State, options: InstallOptions, facts: HostFacts
    ) -> GateInput:
        # Checks skipped by name at an earlier install of these modules stay skipped (they
        # are in the state, and the gate prints each one again), so a re-run need not
        # repeat every --skip-check.
        remembered = [
            item
            for mp in planned.plan.modules
            if mp.desired.spec.name in state.modules
            for item in state.modules[mp.desired.spec.name].skipped_checks
        ]
        if remembered:
            merged = sorted(set(options.skip_checks) | set(remembered))
            options = dataclasses.replace(options, skip_checks=merged)
        return GateInput(
            plan=planned.plan,
            resolved=planned.resolved,
            state=state,
            bundle=self.bundle,
            host=self.host,
            store=self.store,
            options=options,
            containers=planned.containers,
            docker=self.runtime.facts,
            report=self.report,
            facts=facts,
        )

    def install(self, names: list[str], options: Optional[InstallOptions] = None) -> InstallResult:
        options = options or InstallOptions()
        started = time.monotonic()
        self.check_names(names)
        facts = self.read_facts(names, for_gates=not options.dry_run)
        if not options.dry_run:
            self.require_root("in")
        _ = self.runtime.facts  # Docker missing or down: stop here with the fix
        self.plan_gates(facts)
        with self.locked():
            state = self.store.load()
            self.same_runtime(state)
            planned = self.planner.plan(names, options, state, facts)
            inp = self.gate_input(planned, state, options, facts)
            up = upgrade_run.assess_plan(self, planned, state, options)  # refusals first
            for gate in self.gates:
                if not options.dry_run or gate in DRY_RUN_GATES:
                    gate(inp)
            result = InstallResult(planned.plan, upgrade=up.to_dict() if up else None)
            if options.dry_run:
                return result
            applier = Applier(
                self.host,
                self.runtime,
                self.bundle_dir,
                self.report,
                specs=self.specs,
                values=planned.resolved.values,
                log_dir=f"{self.store.root}/logs",
            )
            upgrade_run.run(self, planned, state, inp.options, up, applier, result)
            result.seconds = time.monotonic() - started
            return result

    def check_environment(self, names: list[str], options: InstallOptions) -> None:
        """The gates up to the envcheck gate, changing nothing: a fleet runs it on every host before the
        first change, so one run shows every host's failures (a dependent host used to be
        skipped unchecked when its provider's host failed). A no-op when this deployment's
        gates leave the envcheck gate out."""
        from installer.deploy.preflight import envcheck_gate

        if envcheck_gate not in self.gates:
            return
        self.check_names(names)
        facts = self.read_facts(names)
        _ = self.runtime.facts
        self.plan_gates(facts)
        with self.locked():
            state = self.store.load()
            self.same_runtime(state)
            planned = self.planner.plan(names, options, state, facts)
            upgrade_run.assess_plan(self, planned, state, options, say=False)  # refusals
            inp = self.gate_input(planned, state, options, facts)
            for gate in self.gates:  # the plan's own errors (exit 2) before the host's (exit 3)
                gate(inp)
                if gate is envcheck_gate:
                    break

    # remove -----------------------------------------------------------------------------
    def remove(self, name: str, *, purge: bool = False, force: bool = False) -> list[str]:
        self.check_names([name])
        self._root_and_docker()
        self.require_root("rm")
        _unused = self.runtime.facts
        with self.locked():
            state = self.store.load()
            self.same_runtime(state)
            users = [d for d in dependents(self.specs, name) if d in state.modules]
            if users and not force:
                raise UsageError(
                    _(
                        "{users} depend(s) on {name} and are installed: remove them first, or pass --force"
                    ).format(users=", ".join(users), name=name)
                )
            removed = self.remover.module(state, name, purge)
            self.store.save(state)
            self._record("remove", [name], "purged" if purge else "")
            return removed

    def remove_all(self, *, purge: bool = False) -> list[str]:
        self._root_and_docker()
        self.require_root("rmall")
        _ = self.runtime.facts
        with self.locked():
            state = self.store.load()
            self.same_runtime(state)
            removed = self.remover.everything(state, purge)
            if not purge:  # a purge removes the history with the rest of the state
                self._record("remove", sorted(self.specs), "all modules")
        if purge:  # the lock file and the (now empty) state folder go last, outside the lock
            self.host.remove(f"{self.store.root}/{LOCK_FILE}")
            self.host.run(["rmdir", self.store.root])
        return removed
