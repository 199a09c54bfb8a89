"""The engine's entry points: what is available, what is installed, install and remove.

A Deployment ties a bundle to one host and its state. It plans first (pure), checks what would
block the plan (ports, GPUs, root), then applies module by module in dependency order,
recording each module in the host's state as soon as it is healthy, so an interrupted run
resumes by running the same command again.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle, as_verified
from installer.deploy.apply import Applier
from installer.deploy.desired import DesiredModule, desired_module
from installer.deploy.gates import ENGINE_GATES, Gate, gate_facts
from installer.deploy.plan import CREATE, RECREATE, START, Plan, module_plan
from installer.deploy.portclash import check_unique_ports
from installer.deploy.render import Renderer
from installer.deploy.secretguard import refuse_new_secrets_over_data
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.deploy.variables import Prompter, Resolved, resolve
from installer.deploy.whatchanged import explain_recreates
from installer.errors import HostError, UsageError
from installer.events import Event, Reporter, make
from installer.facts.snapshot import (
    DOCKER_FACTS,
    ENGINE_FACTS,
    ROOT_FACTS,
    HostFacts,
    TemplateFacts,
)
from installer.hosts.base import Host
from installer.runtime.container import Container
from installer.runtime.docker import DockerRuntime
from installer.runtime.health import probe
from installer.spec.model import ModuleSpec
from installer.spec.order import dependents, install_order

__all__ = ["Deployment", "Gate", "InstallOptions", "InstallResult", "InstanceStatus"]


@dataclass
class InstallOptions:
    overrides: Mapping[str, Any] = field(default_factory=dict)
    answers: Mapping[str, Any] = field(default_factory=dict)
    prompter: Optional[Prompter] = None
    instances: Optional[int] = None  # for the modules named on the command line
    gpus: Optional[list[str]] = None
    dry_run: bool = False
    skip_checks: list[str] = field(default_factory=list)
    # Dependencies another host provides (multi-host): not installed here; their address
    # variables are set in ``overrides`` (see installer.fleet.wiring).
    elsewhere: frozenset[str] = frozenset()


@dataclass
class InstallResult:
    plan: Plan
    applied: list[str] = field(default_factory=list)
    endpoints: list[tuple[str, str, int]] = field(default_factory=list)  # module, container, port
    loaded_images: int = 0
    seconds: float = 0.0


@dataclass
class InstanceStatus:
    module: str
    container: str
    image: str
    ports: dict[str, int]
    state: str
    health: str
    gpu: Optional[str] = None
    in_state: bool = True
    image_id: str = ""  # the image the container runs
    signed_id: str = ""  # the signed image ID it should run (from the state record)


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
    ) -> None:
        self.bundle = as_verified(bundle)
        self.bundle_dir = self.bundle.root
        self.host = host
        self.store = store or StateStore(host)
        self.report = make(reporter)
        self.gates = list(ENGINE_GATES if gates is None else gates)
        self.manifest: Manifest = self.bundle.manifest
        self.specs: dict[str, ModuleSpec] = self.bundle.specs
        self.renderer = Renderer(self.bundle.templates)
        self.facts = HostFacts(host)  # this run's snapshot of the host: one round trip
        self.runtime = DockerRuntime(
            host,
            self.store.deployment_id,
            staging_dir=f"{self.store.root}/images",
            facts=lambda: self.facts.docker,
        )
        self.pending_plan: Optional[Plan] = None

    # helpers ----------------------------------------------------------------------------
    def check_names(self, names: list[str]) -> None:
        unknown = [n for n in names if n not in self.specs]
        if unknown:
            raise UsageError(
                f"unknown module {', '.join(unknown)}; the bundle has: {', '.join(sorted(self.specs))}"
            )

    def require_root(self, what: str) -> None:
        self.facts.gather(ROOT_FACTS)  # a no-op when the run gathered its facts already
        if not self.facts.is_root:
            raise HostError(
                f"'{what}' needs root on {self.host.name} (it runs Docker and writes "
                f"{self.store.root}): run it with sudo"
            )

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One Sealbox run per host at a time. Local hosts only for now: a remote host is not
        locked, so two controllers driving the same host at once are not prevented."""
        if not self.host.is_local:
            yield
            return
        try:
            os.makedirs(self.store.root, mode=0o700, exist_ok=True)
            fh = open(os.path.join(self.store.root, ".lock"), "w")
        except PermissionError:
            raise HostError(
                f"cannot write {self.store.root} on {self.host.name}: run as root (sudo)"
            ) from None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise HostError(
                    f"another Sealbox run holds {self.store.root}/.lock on {self.host.name}; "
                    f"wait for it to finish"
                ) from None
            yield

    def _existing(self) -> dict[str, dict[str, Container]]:
        by_module: dict[str, dict[str, Container]] = {}
        for cont in self.runtime.ours():
            if cont.module:
                by_module.setdefault(cont.module, {})[cont.name] = cont
        return by_module

    # read-only views --------------------------------------------------------------------
    def available(self) -> list[dict[str, Any]]:
        """The bundle's modules; 'installed' is None where the state cannot be read (not root)."""
        readable = True
        try:
            state = self.store.load() if self.host.exists(self.store.state_file) else State()
        except HostError:
            state, readable = State(), False
        rows = []
        for name in install_order(self.specs, self.specs):
            spec = self.specs[name]
            rec = state.modules.get(name)
            rows.append(
                {
                    "name": name,
                    "version": spec.version,
                    "description": spec.description,
                    "depends_on": list(spec.depends_on),
                    "installed": (rec is not None) if readable else None,
                    "installed_version": rec.version if rec else None,
                    "gpu": spec.gpu,
                    "ports": {p.name: p.port for p in spec.ports},
                }
            )
        return rows

    def status(self) -> list[InstanceStatus]:
        """Installed instances from the state, checked against the real containers and probes."""
        state = self.store.load()
        containers = {c.name: c for c in self.runtime.ours()}
        rows: list[InstanceStatus] = []
        for name, rec in state.modules.items():
            spec = self.specs.get(name)
            for inst in rec.instances:
                cont = containers.pop(inst.container, None)
                health = "-"
                if cont is None:
                    st = "missing"
                else:
                    st = cont.status
                    if cont.running and spec is not None:
                        port = inst.ports.get(spec.health.port or "") if spec.health.port else None
                        ok, seen = probe(
                            self.host,
                            spec.health.type,
                            port=port,
                            path=spec.health.path,
                            container=inst.container,
                            command=spec.health.command,
                        )
                        health = "healthy" if ok else f"unhealthy: {seen}"
                    if inst.image_id and cont.image_id != inst.image_id:
                        health = (
                            f"wrong image: runs {cont.image_id[:19]}, signed {inst.image_id[:19]}"
                        )
                rows.append(
                    InstanceStatus(
                        name,
                        inst.container,
                        rec.image_ref,
                        inst.ports,
                        st,
                        health,
                        inst.gpu,
                        image_id=cont.image_id if cont is not None else "",
                        signed_id=inst.image_id,
                    )
                )
        for cont in containers.values():  # ours by label but not in the state record
            if cont.name.endswith("-sealbox-old"):
                continue
            rows.append(
                InstanceStatus(
                    cont.module or "?",
                    cont.name,
                    cont.image_ref,
                    {},
                    cont.status,
                    "not in state (run 'in' again or 'rm')",
                    None,
                    in_state=False,
                    image_id=cont.image_id,
                )
            )
        return rows

    # install ----------------------------------------------------------------------------
    def _resolve(self, order: list[str], state: State, options: InstallOptions) -> Resolved:
        facts = TemplateFacts(self.facts)
        wanted = [self.specs[n] for n in order]
        return resolve(
            wanted,
            overrides=options.overrides,
            answers=options.answers,
            remembered=state.remembered(),
            default_context=lambda spec: {"network": spec.network, "facts": facts},
            render_default=self.renderer.render_string,
            prompter=options.prompter,
            others=[s for n, s in self.specs.items() if n not in order],
        )

    def _gpus_for(
        self,
        spec: ModuleSpec,
        count: int,
        explicit: Optional[list[str]],
        previous: Optional[ModuleRecord],
    ) -> list[str]:
        if spec.gpu == "none":
            if explicit:
                raise UsageError(f"module {spec.name} does not use GPUs; drop --gpus")
            return []
        if explicit is not None:
            gpus = explicit
        elif previous is not None and previous.gpus:
            gpus = previous.gpus
        else:
            gpus = self.facts.gpu_indexes
        if gpus and len(gpus) < count and explicit is not None:
            raise UsageError(
                f"--gpus {','.join(explicit)} gives {len(explicit)} GPU(s) for {count} instances of "
                f"{spec.name}; name one GPU per instance"
            )
        if spec.gpu == "required" and not gpus:
            raise HostError(
                f"module {spec.name} needs a GPU and none was found on {self.host.name} "
                f"(nvidia-smi -L lists none); check the NVIDIA driver"
            )
        return [gpus[i % len(gpus)] for i in range(count)] if gpus else []

    def plan(
        self, names: list[str], options: InstallOptions, state: State
    ) -> tuple[Plan, Resolved]:
        self.check_names(names)
        order = [
            n for n in install_order(self.specs, names) if n in names or n not in options.elsewhere
        ]
        resolved = self._resolve(order, state, options)
        existing = self._existing()
        plan = Plan()
        for name in order:
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
            explicit = options.gpus if name in names else None
            gpus = self._gpus_for(spec, count, explicit, previous)
            desired = desired_module(
                spec,
                self.specs,
                values=resolved.values,
                manifest=self.manifest,
                renderer=self.renderer,
                store=self.store,
                count=count,
                gpus=gpus,
            )
            image_present = self.runtime.image_id(desired.image.id) is not None
            plan.modules.append(module_plan(desired, existing.get(name, {}), image_present))
        explain_recreates(
            plan, resolved.values, state.remembered(), existing, self.host, self.specs, self.report
        )
        return plan, resolved

    def check_ports(self, plan: Plan) -> None:
        """A port we are about to bind must be free or held by one of our own containers."""
        starting = {a.container for a in plan.changes if a.kind in (CREATE, RECREATE, START)}
        if not starting:
            return
        ours = [c for c in self.runtime.ours() if c.running]
        for mp in plan.modules:
            for inst in mp.desired.instances:
                if inst.container not in starting:
                    continue
                for pname, port in inst.ports.items():
                    lst = self.facts.port_blocker(port, ours)  # the one ownership rule
                    if lst is None:
                        continue
                    who = f"{lst.process} (pid {lst.pid})" if lst.pid else "another process"
                    raise HostError(
                        f"port {port} ({mp.desired.spec.name} {pname}) is already in use by {who} "
                        f"on {self.host.name}: stop it, or choose another port with --set "
                        f"{_port_variable(mp.desired.spec, pname)}=PORT"
                    )

    def install(self, names: list[str], options: Optional[InstallOptions] = None) -> InstallResult:
        options = options or InstallOptions()
        started = time.monotonic()
        self.check_names(names)
        self.facts = HostFacts(self.host)  # one snapshot per run, read by the gates too
        gated = [] if options.dry_run else gate_facts(self.gates, self, names)
        self.facts.gather(ENGINE_FACTS + tuple(gated))
        if not options.dry_run:
            self.require_root("in")
        _ = self.runtime.facts  # Docker missing or down: stop here with the fix
        with self.locked():
            state = self.store.load()
            plan, resolved = self.plan(names, options, state)
            check_unique_ports(plan, state, self.host.name, self.specs)
            refuse_new_secrets_over_data(
                plan, resolved, self.host, self.store.secrets_file, set(state.modules)
            )
            result = InstallResult(plan)
            if options.dry_run:
                return result
            self.pending_plan = plan  # gates that need more than the module names read it
            # Checks skipped by name at an earlier install of these modules stay skipped (they
            # are in the state, and the gate prints each one again), so a re-run need not
            # repeat every --skip-check.
            remembered = [
                item
                for mp in plan.modules
                if mp.desired.spec.name in state.modules
                for item in state.modules[mp.desired.spec.name].skipped_checks
            ]
            if remembered:
                merged = sorted(set(options.skip_checks) | set(remembered))
                options = dataclasses.replace(options, skip_checks=merged)
            for gate in self.gates:
                gate(self, [m.desired.spec.name for m in plan.modules], options)
            self.check_ports(plan)
            applier = Applier(
                self.host,
                self.runtime,
                self.bundle_dir,
                self.report,
                specs=self.specs,
                values=resolved.values,
                log_dir=f"{self.store.root}/logs",
            )
            # Every image first: a damaged archive stops the run before any container changes.
            for mp in plan.modules:
                if mp.load_image:
                    applier.load_image(mp.desired.spec, mp.desired.image, mp.desired.archive)
                    result.loaded_images += 1
            # Values are remembered before anything starts: a generated password must survive
            # a failed run, because the database may already have been initialised with it.
            state.variables.update(resolved.public())
            state.secrets.update(resolved.secret_values())
            self.store.save(state)
            for mp in plan.modules:
                spec = mp.desired.spec
                if mp.changes:
                    self.report(
                        Event("step", spec.name, f"{spec.name}: {len(mp.changes)} change(s)")
                    )
                applier.apply_instances(mp)
                self._record(state, mp.desired, options)
                self.store.save(state)
                if mp.changes:
                    result.applied.append(spec.name)
                for inst in mp.desired.instances:
                    for port in inst.ports.values():
                        result.endpoints.append((spec.name, inst.container, port))
            result.seconds = time.monotonic() - started
            return result

    def _record(self, state: State, desired: DesiredModule, options: InstallOptions) -> None:
        spec = desired.spec
        now = time.time()
        previous = state.modules.get(spec.name)
        skipped = sorted(
            set(options.skip_checks) | set(previous.skipped_checks if previous else [])
        )
        state.modules[spec.name] = ModuleRecord(
            name=spec.name,
            version=spec.version,
            bundle_version=self.manifest.version,
            image_ref=spec.image.ref,
            image_id=desired.image.id,
            instances=[
                InstanceRecord(
                    i.index,
                    i.container,
                    i.runspec.config_hash(),
                    i.runspec.image_id,
                    i.ports,
                    i.runspec.gpu,
                )
                for i in desired.instances
            ],
            gpus=list(desired.gpus),
            installed_at=previous.installed_at if previous else now,
            updated_at=now,
            skipped_checks=skipped,
        )
        self.store.record_event(state, "install", spec.name, f"bundle {self.manifest.version}")

    # remove -----------------------------------------------------------------------------
    def remove(self, name: str, *, purge: bool = False, force: bool = False) -> list[str]:
        self.check_names([name])
        self.facts = HostFacts(self.host)  # one snapshot per run: root and Docker, one trip
        self.facts.gather(ROOT_FACTS + DOCKER_FACTS)
        self.require_root("rm")
        _ = self.runtime.facts
        with self.locked():
            state = self.store.load()
            users = [d for d in dependents(self.specs, name) if d in state.modules]
            if users and not force:
                raise UsageError(
                    f"{', '.join(users)} depend(s) on {name} and are installed: remove them first, "
                    f"or pass --force"
                )
            removed = self._remove_module(state, name, purge)
            self.store.save(state)
            return removed

    def _remove_module(self, state: State, name: str, purge: bool) -> list[str]:
        removed = []
        rec = state.modules.get(name)
        names = {i.container for i in rec.instances} if rec else set()
        names |= {c.name for c in self.runtime.ours() if c.module == name}
        for cname in sorted(names):
            self.report(Event("step", name, f"removing {cname}", cname))
            # A clean stop first: a licensed service gives its license seat back on SIGTERM.
            self.runtime.stop(cname, timeout=10)
            self.runtime.remove(cname)
            self.runtime.remove(cname + "-sealbox-old")
            self.host.remove(self.store.config_dir(cname), recursive=True)
            removed.append(cname)
        spec = self.specs.get(name)
        if purge and spec is not None:
            for d in spec.data:
                indexes = [i.index for i in rec.instances] if (rec and d.per_instance) else [None]
                for path in sorted({self.store.data_dir(name, d.name, i) for i in indexes}):
                    self.report(Event("step", name, f"purging data {path}"))
                    self.host.remove(os.path.dirname(path), recursive=True)
            for var in spec.variables:
                state.variables.pop(var.name, None)
                state.secrets.pop(var.name, None)
        state.modules.pop(name, None)
        self.store.record_event(state, "remove", name, "purge" if purge else "")
        return removed

    def remove_all(self, *, purge: bool = False) -> list[str]:
        self.facts = HostFacts(self.host)  # one snapshot per run: root and Docker, one trip
        self.facts.gather(ROOT_FACTS + DOCKER_FACTS)
        self.require_root("rmall")
        _ = self.runtime.facts
        removed: list[str] = []
        with self.locked():
            state = self.store.load()
            installed = set(state.modules) | {c.module for c in self.runtime.ours() if c.module}
            known = [
                n for n in install_order(self.specs, [n for n in installed if n in self.specs])
            ]
            for name in reversed(known):
                removed += self._remove_module(state, name, purge)
            for cont in self.runtime.ours():  # modules the bundle no longer knows
                self.runtime.remove(cont.name)
                removed.append(cont.name)
            if purge:
                self.host.remove(os.path.join(self.store.root, "config"), recursive=True)
                self.host.remove(os.path.join(self.store.root, "data"), recursive=True)
                for f in (self.store.state_file, self.store.secrets_file):
                    self.host.remove(f)
            else:
                self.store.save(state)
        if purge:
            self.host.remove(os.path.join(self.store.root, ".lock"))
            try:
                os.rmdir(self.store.root) if self.host.is_local else self.host.run(
                    ["rmdir", self.store.root]
                )
            except OSError:
                pass
        return removed


def _port_variable(spec: ModuleSpec, port_name: str) -> str:
    for p in spec.ports:
        if p.name == port_name and p.variable:
            return p.variable
    return "PORT_VARIABLE"
