"""Carry out a checked plan: every image first, the values, then module by module.

Each module is recorded in the host's state as soon as it is healthy, so an interrupted run
resumes by running the same command again. Runs inside the engine's run lock, after the gates.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

from installer.deploy.apply import Applier
from installer.deploy.desired import DesiredModule
from installer.deploy.options import InstallOptions, InstallResult
from installer.deploy.planner import Planned
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.events import Event, Reporter
from installer.i18n import _


def module_record(
    state: State,
    desired: DesiredModule,
    bundle_version: str,
    skip_checks: list[str],
    product: str = "",
) -> ModuleRecord:
    """What the state keeps of an installed module (skipped checks accumulate)."""
    spec = desired.spec
    now = time.time()
    previous = state.modules.get(spec.name)
    skipped = sorted(set(skip_checks) | set(previous.skipped_checks if previous else []))
    return ModuleRecord(
        name=spec.name,
        version=spec.version,
        bundle_version=bundle_version,
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
        license=dataclasses.asdict(spec.license) if spec.license else None,
        product=product,
    )


def apply_plan(
    planned: Planned,
    state: State,
    options: InstallOptions,
    *,
    applier: Applier,
    store: StateStore,
    bundle_version: str,
    report: Reporter,
    result: InstallResult,
    product: str = "",
    on_module: Optional[Callable[[DesiredModule], None]] = None,
    touched: Optional[list[str]] = None,
) -> None:
    """``touched`` gets each module's name before its containers change (an upgrade that
    fails rolls those back); ``on_module`` is told of each module once it is healthy."""
    plan, resolved = planned.plan, planned.resolved
    # Every image first: a damaged archive stops the run before any container changes.
    for mp in plan.modules:
        if mp.load_image:
            applier.load_image(mp.desired.spec, mp.desired.image, mp.desired.archive)
            result.loaded_images += 1
    # Values are remembered before anything starts: a generated password must survive
    # a failed run, because the database may already have been initialised with it.
    state.variables.update(resolved.public())
    state.secrets.update(resolved.secret_values())
    store.save(state)
    for mp in plan.modules:
        spec = mp.desired.spec
        if mp.changes:
            report(
                Event(
                    "step",
                    spec.name,
                    _("{name}: {n_changes} change(s)").format(
                        name=spec.name, n_changes=len(mp.changes)
                    ),
                )
            )
        if touched is not None and mp.changes:
            touched.append(spec.name)
        applier.apply_instances(mp)
        state.modules[spec.name] = module_record(
            state, mp.desired, bundle_version, options.skip_checks, product
        )
        if on_module is not None:
            on_module(mp.desired)
        store.record_event(state, "install", spec.name, f"bundle {bundle_version}")
        store.save(state)
        if mp.changes:
            result.applied.append(spec.name)
        for inst in mp.desired.instances:
            for port in inst.ports.values():
                result.endpoints.append((spec.name, inst.container, port))
