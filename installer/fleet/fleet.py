"""Every command on many hosts: one Deployment per host, state on the host itself.

``Fleet`` turns an inventory (``-i``, ``-H`` targets, or this machine as an inventory of one)
into jobs for ``run_jobs``; it runs any ``Host`` and knows no tool: envcheck, fingerprint and
the license hand it per-host jobs (``each_host``). Installs follow
the cross-host order of ``installer.fleet.wiring``; a dependent host also inherits, at run
time, the values its templates use from the provider's state (the MySQL password generated on
the database host, the ports it really uses) -- read from the provider after it finished, so
they are the values that are actually live.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional, Sequence, Union, cast

from installer.bundle.opened import VerifiedBundle, open_bundle
from installer.deploy.engine import Deployment, Gate, InstallOptions
from installer.deploy.state import StateStore
from installer.errors import UsageError
from installer.events import Event, Reporter
from installer.fleet.connect import ConnectOptions, close_host, open_host, reach
from installer.fleet.inherit import inherited_values
from installer.fleet.inventory import Inventory
from installer.fleet.reach import (
    DependencyUnreachable,
    Link,
    blocked_hosts,
    links_of,
    port_defaults,
    require_reachable,
)
from installer.fleet.run import HostResult, Job, Outcome, run_jobs
from installer.fleet.wiring import FleetPlan, HostPlan, plan_fleet
from installer.hosts.base import Host
from installer.i18n import _
from installer.spec.model import ModuleSpec
from installer.spec.order import dependency_closure


@dataclass(frozen=True)
class OnHost:
    """What a per-host job is handed: the host (reached), its name and state store."""

    name: str
    host: Host
    store: StateStore
    lan_address: str


HostJob = Callable[[OnHost, Reporter], Outcome]


@dataclass
class Fleet:
    """`bundle`: the opened bundle (a folder is opened with the default pins, once, here on
    the controller); None for the tools that need none. `gates`: None = the engine's."""

    bundle: Union[VerifiedBundle, str, None]
    inventory: Inventory
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    parallel: int = 8
    log_dir: Optional[str] = None
    state_dir: Optional[str] = None
    gates: Optional[Sequence[Gate]] = None
    on_event: Optional[Callable[[str, Event], None]] = None
    on_result: Optional[Callable[[HostResult], None]] = None
    given: dict[str, Host] = field(default_factory=dict)  # hosts the caller opened itself

    def __post_init__(self) -> None:
        self._hosts: dict[str, Host] = {}
        self._job_modules: dict[str, list[str]] = {}  # host -> modules this install puts there
        if isinstance(self.bundle, str):
            self.bundle = open_bundle(self.bundle)

    # plumbing ---------------------------------------------------------------------------
    @property
    def verified(self) -> VerifiedBundle:
        assert isinstance(self.bundle, VerifiedBundle), "this command needs a bundle"
        return self.bundle

    @property
    def specs(self) -> dict[str, ModuleSpec]:
        return self.verified.specs

    def host(self, name: str) -> Host:
        if name in self.given:
            return self.given[name]
        if name not in self._hosts:
            self._hosts[name] = open_host(self.inventory.hosts[name], self.connect)
        return self._hosts[name]

    def close(self) -> None:
        for h in self._hosts.values():
            close_host(h)
        self._hosts.clear()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def store(self, name: str) -> StateStore:
        ih = self.inventory.hosts[name]
        return StateStore(self.host(name), ih.state_dir or self.state_dir)

    def deployment(self, name: str, report: Reporter) -> Deployment:
        host = reach(self.host(name))  # unreachable hosts fail here, before any bundle work
        ih = self.inventory.hosts[name]
        return Deployment(
            self.verified,
            host,
            store=self.store(name),
            reporter=report,
            gates=self.gates,
            runtime=ih.runtime,
            ulimits=ih.ulimits,
        )

    def _run(self, jobs: list[Job]) -> list[HostResult]:
        try:
            return run_jobs(
                jobs,
                parallel=self.parallel,
                log_dir=self.log_dir,
                on_event=self.on_event,
                on_result=self.on_result,
            )
        finally:
            self.close()

    def each(self, fn: Callable[[str, Reporter], Outcome]) -> list[HostResult]:
        """``fn(host name, reporter)`` on every host, in parallel, no order."""
        return self._run(
            # cast: mypy cannot infer a lambda with a default (the early-bound `n`).
            [
                Job(name, cast(Callable[[Reporter], Outcome], lambda rep, n=name: fn(n, rep)))
                for name in self.inventory.hosts
            ]
        )

    def on(self, name: str) -> OnHost:
        """Host ``name`` reached, with its state store: what a per-host job works on."""
        return OnHost(
            name, reach(self.host(name)), self.store(name), self.inventory.hosts[name].lan_address
        )

    def each_host(self, job: HostJob) -> list[HostResult]:
        """A tool's per-host ``job(on_host, reporter)`` on every host, in parallel, no order."""
        return self.each(lambda name, report: job(self.on(name), report))

    def each_deployment(self, job: Callable[[Deployment, Reporter], Outcome]) -> list[HostResult]:
        """``job(deployment, reporter)`` on every host's Deployment (the bundle's, reached)."""
        return self.each(lambda name, report: job(self.deployment(name, report), report))

    @property
    def one_host(self) -> bool:
        return len(self.inventory.hosts) == 1

    # install ----------------------------------------------------------------------------
    def plan(self) -> FleetPlan:
        return plan_fleet(self.inventory, self.specs)

    def inherited(self, hp: HostPlan, dry_run: bool = False) -> dict[str, Any]:
        """The providers' values this host's modules use (installer.fleet.inherit)."""
        return inherited_values(self, hp, dry_run)

    def install(
        self,
        options: InstallOptions,
        modules: Optional[list[str]] = None,
        *,
        everything: bool = False,
    ) -> list[HostResult]:
        """Inventory placements (``modules`` None), or the same modules on every host (-H)."""
        unknown = [m for m in modules or [] if m not in self.specs]
        if unknown:
            raise UsageError(
                _("unknown module {unknown}; the bundle has: {specs}").format(
                    unknown=", ".join(unknown), specs=", ".join(sorted(self.specs))
                )
            )
        fplan = self.plan()
        placed = any(hp.modules for hp in fplan.hosts.values())
        wanted = dependency_closure(self.specs, modules) if modules is not None else set()
        jobs = []
        self._job_modules = {}
        for name, hp in fplan.hosts.items():
            if modules is not None and placed:
                # an inventory: the named modules where it places them, and their providers
                names = [m for m in hp.modules if m in wanted]
            elif modules is not None:
                names = list(modules)
            elif everything and not hp.modules:
                names = sorted(self.specs)
            else:
                names = list(hp.modules)
            self._job_modules[name] = names
            jobs.append(Job(name, self._install_job(hp, names, options), list(hp.after)))
        if not options.dry_run:
            env_failed = self._environments(fplan, options)
            if env_failed is not None:
                return env_failed
        took: dict[str, float] = {}
        blocked = {} if options.dry_run else self._unreachable_now(fplan, jobs, options, took)
        for job in jobs:
            if job.host in blocked:
                job.run = _refuse(blocked[job.host])
        results = self._run(jobs)
        for r in results:  # a refused host shows the time its reachability probe took
            if r.host in blocked:
                r.seconds += took.get(r.host, 0.0)
        return results

    def _environments(
        self, fplan: FleetPlan, options: InstallOptions
    ) -> Optional[list[HostResult]]:
        """Every host's envcheck before the first change (installer.fleet.precheck)."""
        from installer.fleet.precheck import check_environments

        return check_environments(
            fplan,
            self._job_modules,
            options,
            self.deployment,
            lambda name: self.inherited(fplan.hosts[name], dry_run=True),
            parallel=self.parallel,
            log_dir=self.log_dir,
            on_event=self.on_event,
        )

    def _links(self, hp: HostPlan, names: list[str], known: dict[str, Any]) -> list[Link]:
        """Cross-host wired addresses, with the values the engine will use on that host."""
        values = {**port_defaults(self.specs), **known, **hp.overrides}
        return links_of(hp, names, self.specs, self.inventory.placements(), values)

    def _unreachable_now(
        self,
        fplan: FleetPlan,
        jobs: list[Job],
        options: InstallOptions,
        took: Optional[dict[str, float]] = None,
    ) -> dict[str, str]:
        """Before any change: hosts that cannot reach a provider that is serving already."""

        def links_for(name: str) -> list[Link]:
            hp = fplan.hosts[name]
            known = {**self.inherited(hp), **options.overrides}
            return self._links(hp, self._job_modules[name], known)

        return blocked_hosts(
            [j.host for j in jobs], links_for, self.host, self.parallel, timings=took
        )

    def _install_job(
        self, hp: HostPlan, names: list[str], options: InstallOptions
    ) -> Callable[[Reporter], Outcome]:
        def run(report: Reporter) -> Outcome:
            if not names:
                return Outcome(False, _("nothing placed here for this command"))
            for var, what in sorted(hp.wired.items()):
                report(Event("step", "wiring", f"{var} = {what}"))
            overrides = {**options.overrides, **hp.overrides}
            inherited = self.inherited(hp, options.dry_run)
            if inherited:
                report(
                    Event(
                        "step",
                        "wiring",
                        _("from the providers' state: {inherited}").format(
                            inherited=", ".join(inherited)
                        ),
                    )
                )
            overrides = {**inherited, **overrides}
            if not options.dry_run:
                # the providers are healthy now (this job waited for them): can we reach them?
                links = self._links(hp, names, {**inherited, **options.overrides})
                if links:
                    require_reachable(reach(self.host(hp.host.name)), links)
                    report(
                        Event(
                            "done",
                            "wiring",
                            _("{n_links} wired address(es) reachable").format(n_links=len(links)),
                        )
                    )
            pl = [hp.host.modules[m] for m in names if m in hp.host.modules]
            instances = next((p.instances for p in pl if p.instances is not None), None)
            gpus = next((p.gpus for p in pl if p.gpus is not None), None)
            opts = replace(
                options,
                overrides=overrides,
                elsewhere=frozenset(hp.elsewhere),
                served_license=self._served_license(hp),
                instances=instances if instances is not None else options.instances,
                gpus=gpus if gpus is not None else options.gpus,
                # never prompt from parallel hosts (missing values are errors); one host runs
                # in the caller's thread (installer.fleet.run) and may ask
                prompter=options.prompter if self.one_host else None,
            )
            dep = self.deployment(hp.host.name, report)
            wanted = names
            if options.installed_only:  # ``upgrade``: what the host has (all on a fresh host)
                wanted = [n for n in names if n in dep.store.load().modules] or names
            res = dep.install(wanted, opts)
            changed = bool(res.plan.changes)
            msg = (
                _("{modules} module(s), {changes} change(s), {images} image(s) loaded").format(
                    modules=len(res.plan.modules),
                    changes=len(res.plan.changes),
                    images=res.loaded_images,
                )
                if not options.dry_run
                else _("plan: {changes} change(s) (dry run: nothing changed)").format(
                    changes=len(res.plan.changes)
                )
            )
            data = {
                "dry_run": options.dry_run,
                "modules": [m.desired.spec.name for m in res.plan.modules],
                "actions": [vars(a) for a in res.plan.actions],
                "changed": res.applied,
                "images_loaded": res.loaded_images,
                "endpoints": [
                    {
                        "module": m,
                        "container": c,
                        "port": p,
                        "address": f"{hp.host.lan_address}:{p}",
                    }
                    for m, c, p in res.endpoints
                ],
                "wired": dict(hp.wired),
                "inherited": sorted(inherited),
                "seconds": round(res.seconds, 2),
                "upgrade": res.upgrade,
                "backups": res.backups,
            }
            return Outcome(changed and not options.dry_run, msg, data)

        return run

    def _served_license(self, hp: HostPlan) -> Optional[tuple[str, bytes]]:
        """The license file the license server placed on another host reads (its host's
        state), for this host's license gate; None when it is here or has none yet."""
        from installer.license import store as S

        server = S.server_of(self.specs)
        if server is None or server.module not in hp.elsewhere:
            return None
        where = self.inventory.placements().get(server.module, [])
        if len(where) != 1:
            return None
        lstore = S.LicenseStore(self.host(where[0]), S.license_dir(self.store(where[0]), server))
        data = lstore.read()
        return (f"{where[0]}:{lstore.current}", data) if data is not None else None

    # read-only and remove ---------------------------------------------------------------
    def status(
        self, license_of: Optional[Callable[[Deployment], Optional[tuple[dict, str]]]] = None
    ) -> list[HostResult]:
        """``license_of(deployment)``: the license server's own answer there and its one-line
        description, or None (the license tool hands it in; the fleet knows no tool)."""

        def one(name: str, report: Reporter) -> Outcome:
            dep = self.deployment(name, report)
            dep.require_root("li")
            rows = dep.status()
            bad = [r for r in rows if r.state != "running" or not str(r.health).startswith("h")]
            msg: str = _("{n} instance(s)").format(n=len(rows))
            if bad:
                msg += _(", {n} not healthy").format(n=len(bad))
            found = license_of(dep) if license_of is not None else None
            lic = found[0] if found is not None else None
            if found is not None:
                msg += _("; license {state}").format(state=found[1])
            data = {"host": name, "instances": [vars(r) for r in rows], "license": lic}
            return Outcome(False, msg, data, failed=bool(bad))

        return self.each(one)

    def available(self) -> list[HostResult]:
        def one(name: str, report: Reporter) -> Outcome:
            dep = self.deployment(name, report)
            rows = dep.available()
            n = sum(1 for r in rows if r["installed"])
            data: dict[str, Any] = {
                "bundle": dep.bundle_dir,
                "version": dep.manifest.version,
                "modules": rows,
            }
            base = dep.manifest.base
            if base is not None:  # a delta bundle: it installs only over its base version
                data["delta_of"] = {"product": base.get("product"), "version": base.get("version")}
            data.update(dep.arch_view())  # the bundle's architectures and this host's
            return Outcome(
                False, _("{n_rows} module(s), {n} installed").format(n_rows=len(rows), n=n), data
            )

        return self.each(one)

    def remove(self, module: str, *, purge: bool, force: bool) -> list[HostResult]:
        return self._remove(lambda dep: dep.remove(module, purge=purge, force=force), purge)

    def remove_all(self, *, purge: bool) -> list[HostResult]:
        return self._remove(lambda dep: dep.remove_all(purge=purge), purge)

    def _remove(self, action: Callable[[Deployment], list[str]], purge: bool) -> list[HostResult]:
        """Dependents first: the reverse of the install order across hosts."""
        after: dict[str, list[str]] = {n: [] for n in self.inventory.hosts}
        if any(h.modules for h in self.inventory.hosts.values()):
            for name, hp in self.plan().hosts.items():
                for provider in hp.after:
                    after[provider].append(name)

        def job(name: str) -> Callable[[Reporter], Outcome]:
            def run(report: Reporter) -> Outcome:
                removed = action(self.deployment(name, report))
                data = {"removed": removed, "purged": purge}
                return Outcome(
                    bool(removed),
                    _("{n_removed} container(s) removed").format(n_removed=len(removed)),
                    data,
                )

            return run

        return self._run([Job(n, job(n), after[n]) for n in self.inventory.hosts])


def _refuse(message: str) -> Callable[[Reporter], Outcome]:
    def run(report: Reporter) -> Outcome:
        raise DependencyUnreachable(message)

    return run
