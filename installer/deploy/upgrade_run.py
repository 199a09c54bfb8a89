"""Apply a checked plan as an install or, over another version of the product, an upgrade.

The upgrade's order: the plan was printed and refused or accepted (installer.deploy.upgrade);
here the disk is checked, every installed module with data is backed up, then modules are
applied in dependency order, each health-gated. When one fails, the modules this run touched
come back from the previous release (its signed image IDs and rendered files) and, when a
module that migrates data had started, the backups go back too; the error says so in one line.
"""

from __future__ import annotations

from typing import Optional, Protocol

from installer.backup.store import has_data, target
from installer.bundle.manifest import Manifest
from installer.bundle.opened import VerifiedBundle
from installer.deploy.apply import Applier
from installer.deploy.day2 import HostOps
from installer.deploy.desired import DesiredModule
from installer.deploy.install import apply_plan
from installer.deploy.options import InstallOptions, InstallResult
from installer.deploy.planner import Planned
from installer.deploy.state import State, StateStore
from installer.deploy.upgrade import Upgrade, assess, check_disk, disk_needed_kb
from installer.errors import RuntimeFailure
from installer.events import Event, Reporter
from installer.hosts.base import Host
from installer.i18n import _, english_tree, message_of
from installer.runtime.docker import ContainerRuntime
from installer.spec.model import ModuleSpec


class Deployment(Protocol):
    """What of installer.deploy.engine.Deployment this uses (no import back into it)."""

    host: Host
    store: StateStore
    report: Reporter
    runtime: ContainerRuntime
    manifest: Manifest
    specs: dict[str, ModuleSpec]
    bundle: VerifiedBundle


def assess_plan(
    dep: Deployment, planned: Planned, state: State, options: InstallOptions, *, say: bool = True
) -> Optional[Upgrade]:
    """The upgrade this plan is, if any (refusals raise here); ``say``: report its plan."""
    remembered = state.remembered()
    new_vars = {
        mp.desired.spec.name: [
            v.name for v in mp.desired.spec.variables if v.name not in remembered
        ]
        for mp in planned.plan.modules
    }
    ops = HostOps(dep.host, dep.store, dep.report, dep.runtime)
    names = [mp.desired.spec.name for mp in planned.plan.modules]
    from installer.deploy.upgrade import installed_version

    _p, have = installed_version(state, names)
    previous = ops.releases.load(have) if have else None
    up = assess(
        planned.plan,
        state,
        product=dep.manifest.product,
        version=dep.manifest.version,
        previous=previous,
        allow_downgrade=options.allow_downgrade,
        new_variables=new_vars,
    )
    if up is not None and say:
        word = "downgrade" if up.downgrade else "upgrade"
        dep.report(Event("step", word, f"{up.product} {up.from_version} -> {up.to_version}"))
        for m in up.modules:
            dep.report(
                Event(
                    "step",
                    m.module,
                    f"{m.from_version or '-'} -> {m.to_version}: image {m.image}, config "
                    f"{m.config}"
                    + (f", new variables {', '.join(m.variables)}" if m.variables else "")
                    + (f", data backed up first ({m.backup})" if m.backup else "")
                    + (", migrates its data" if m.migrates_data else ""),
                )
            )
    return up


def run(
    dep: Deployment,
    planned: Planned,
    state: State,
    options: InstallOptions,
    up: Optional[Upgrade],
    applier: Applier,
    result: InstallResult,
) -> None:
    ops = HostOps(dep.host, dep.store, dep.report, dep.runtime)
    product, version = dep.manifest.product, dep.manifest.version
    names = [mp.desired.spec.name for mp in planned.plan.modules]
    previous = ops.releases.load(up.from_version) if up else None
    made = []
    if up is not None:
        # the installed modules' own specs say how their data is saved (the older release's)
        specs = {
            n: (previous.modules[n].spec() if previous and n in previous.modules else dep.specs[n])
            for n in up.backed_up
        }
        specs = {n: s for n, s in specs.items() if has_data(s)}
        targets = [
            target(dep.store, specs[n], state.modules[n], state.remembered())
            for n in up.backed_up
            if has_data(specs[n])
        ]
        need = disk_needed_kb(ops.backups.estimate_kb(targets), planned.plan)
        data_root = dep.runtime.facts.data_root
        free = (ops.backups.free_kb(), ops.backups.free_kb(data_root))
        check_disk(dep.host.name, need, free, (ops.backups.dir, data_root))
        made = ops.backup(state, list(specs), specs=specs) if specs else []
        result.backups = [m.path for m in made]
        ops.history.record(
            "upgrade", product=product, version=version, previous=up.from_version,
            modules=names, result="started", backups=result.backups,
        )  # fmt: skip

    def keep_release(desired: DesiredModule) -> None:
        spec = desired.spec
        ops.releases.record_module(product, version, desired, dep.bundle.read(spec.source))

    touched: list[str] = []
    variables = dict(state.variables)  # a failed upgrade leaves the values it found
    try:
        apply_plan(
            planned, state, options, applier=applier, store=dep.store, bundle_version=version,
            report=dep.report, result=result, product=product, on_module=keep_release,
            touched=touched,
        )  # fmt: skip
    except Exception as exc:
        if up is None or previous is None:
            ops.history.record(
                "upgrade" if up else "install", product=product, version=version,
                previous=up.from_version if up else "", modules=names, result="failed",
                backups=result.backups, detail=str(english_tree(exc))[:500],
            )  # fmt: skip
            raise
        migrated = any(dep.specs[n].migrates_data for n in touched)
        dep.report(Event("warn", "upgrade", f"{exc}"))
        dep.report(Event("step", "upgrade", f"rolling back to {up.from_version}"))
        state.variables = variables  # (generated secrets stay: data may use them already)
        dep.store.save(state)
        try:
            restored = ops.undo_upgrade(state, previous, touched, made, migrated)
        except Exception as undo:
            ops.history.record(
                "upgrade", product=product, version=version, previous=up.from_version,
                modules=names, result="failed; roll-back failed", backups=result.backups,
                detail=f"{english_tree(exc)} / {english_tree(undo)}"[:500],
            )  # fmt: skip
            raise RuntimeFailure(
                _(
                    "upgrade to {version} failed ({exc}) and rolling back to {from_version} failed too ({undo}); backups: {backups}"
                ).format(
                    version=version,
                    exc=message_of(exc),
                    from_version=up.from_version,
                    undo=message_of(undo),
                    backups=", ".join(result.backups) or _("none"),
                )
            ) from None
        where = ", ".join(result.backups) or _("none taken")
        data = (
            _("data restored from {paths}").format(paths=", ".join(restored))
            if restored
            else _("data untouched (backups in {where})").format(where=where)
        )
        ops.history.record(
            "upgrade", product=product, version=version, previous=up.from_version,
            modules=names, result="rolled back", backups=result.backups, detail=str(english_tree(exc))[:500],
        )  # fmt: skip
        raise RuntimeFailure(
            _(
                "upgrade to {version} failed and was rolled back: {touched} back at {from_version} (previous images and files), {data}; cause: {exc}"
            ).format(
                version=version,
                touched=", ".join(touched),
                from_version=up.from_version,
                data=data,
                exc=message_of(exc),
            )
        ) from None
    ops.history.record(
        "upgrade" if up else "install", product=product, version=version,
        previous=up.from_version if up else "", modules=names, result="ok",
        backups=result.backups,
    )  # fmt: skip
