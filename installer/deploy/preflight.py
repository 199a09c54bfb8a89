"""The envcheck gate: before `in` changes anything, the modules' host checks must pass.

Each module with changes is checked against its own envcheck profile (its spec's
``check_profile`` and ``envcheck`` items, `envcheck.catalog_from_specs`), with the ports it will
really use and the disk it will really write to. A module's profile comes from the bundle's
specs, never from a list of names envcheck knows, so a vendor's new module gets its checks.
A failed required item stops the install unless skipped by name (`--skip-check MODULE/gpu`);
skips are recorded in the state by the engine and reported as warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import envcheck
from envcheck.engine import build_plan, needed_facts
from installer.errors import HostError
from installer.events import Event
from installer.i18n import _, joined
from installer.spec.model import ModuleSpec

if TYPE_CHECKING:  # pragma: no cover
    from installer.deploy.gateinput import GateInput


class EnvironmentCheckFailed(HostError):
    """A required envcheck item failed (exit 3); a fleet checks every host before any change."""


def _profiles(specs: Mapping[str, ModuleSpec]) -> tuple[envcheck.Catalog, list[str]]:
    """The check catalog of these modules' specs and the ones that have a profile."""
    catalog = envcheck.catalog_from_specs(dict(specs))
    return catalog, [name for name in specs if name in catalog.profiles]


def envcheck_facts(specs: Mapping[str, ModuleSpec], root: str, names: list[str]) -> list[str]:
    """The facts the gate may read for ``names`` (a superset: before the plan, every module
    that could change), so the engine gathers them in its one round trip."""
    catalog, profiles = _profiles({n: specs[n] for n in names if n in specs})
    if not profiles:
        return []
    plan = build_plan(profiles, {"disk-install.path": root}, catalog=catalog)
    return needed_facts(plan)


def envcheck_gate(inp: GateInput) -> None:
    modules = inp.changing
    catalog, profiles = _profiles({mp.desired.spec.name: mp.desired.spec for mp in modules})
    if not profiles:
        return
    # The disk fact walks up to the nearest existing parent itself: no round trip here.
    overrides = {"disk-install.path": inp.store.root}
    for mp in modules:
        name = mp.desired.spec.name
        ports = sorted({p for inst in mp.desired.instances for p in inst.ports.values()})
        if ports and name in profiles:
            overrides[f"{name}/ports.ports"] = ",".join(map(str, ports))
    report = envcheck.run_checks(
        inp.host,
        profiles,
        overrides=overrides,
        skip=list(inp.options.skip_checks),
        catalog=catalog,
        facts=inp.facts,
    )
    for item in report.items:
        if item.skipped and not item.passed:
            inp.report(
                Event(
                    "warn",
                    item.profile,
                    _("check {profile}/{id_} skipped by request: {actual}").format(
                        profile=item.profile, id_=item.id, actual=item.actual
                    ),
                )
            )
    failed = report.failed_required()
    if failed:
        parts = [
            _("{profile}/{id_} ({actual})").format(profile=i.profile, id_=i.id, actual=i.actual)
            for i in failed
        ]
        raise EnvironmentCheckFailed(
            _(
                "environment check failed on {name}: {parts}. Fix it (run 'envcheck {profiles}' for details) or skip an item with --skip-check {profile}/{id_}"
            ).format(
                name=inp.host.name,
                parts=joined("; ", parts),
                profiles=" ".join(profiles),
                profile=failed[0].profile,
                id_=failed[0].id,
            )
        )
