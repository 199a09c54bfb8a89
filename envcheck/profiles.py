"""Profiles as data: which items a host needs, with their thresholds.

envcheck itself knows only the generic ``default`` profile. A module's profile comes from its
spec (``check_profile``: about, aliases, items; ``envcheck``: extra or tightened items), so a
vendor's new module brings its own checks (installer/spec/README.md). An entry is
``{"id": kind, "required": bool, **thresholds}``; thresholds not given use the kind's defaults
(checks.py). ``*`` in the table marks ``required: False`` items.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from installer.errors import SpecError, UsageError
from installer.i18n import _
from installer.spec.load import load_modules
from installer.spec.model import Accelerator, ModuleSpec
from installer.spec.order import install_order

BASE: list[dict[str, Any]] = [
    {"id": "os"},
    {"id": "arch"},
    {"id": "kernel"},
    {"id": "glibc"},
]

DOCKER: list[dict[str, Any]] = [
    {"id": "docker-installed"},
    {"id": "docker-version"},
    {"id": "docker-running"},
    {"id": "storage-driver"},
    {"id": "selinux"},
]

PROFILES: dict[str, dict[str, Any]] = {
    "default": {
        "about": _("any Sealbox host: OS, kernel, glibc, CPU, memory, disk, Docker, LAN"),
        "items": BASE
        + [
            {"id": "cpu-cores", "min": 2},
            {"id": "memory", "min_gb": 4},
            {"id": "disk-install", "min_gb": 20},
        ]
        + DOCKER
        + [
            {"id": "network"},
            {"id": "gcc", "required": False},
            {"id": "time-sync", "required": False},
        ],
    },
}
"""Generic profiles only. A module's profile is in its spec (``check_profile``, ``envcheck``);
``Catalog`` joins the two."""

MERGE_DICTS = {"min"}
"""Dict thresholds that merge into the kind's default (a profile that tightens CentOS to 7.2
without dropping Ubuntu), instead of replacing it."""


@dataclass(frozen=True)
class Catalog:
    """The profiles one run can name: the generic ones plus those of a bundle's module specs.

    A profile is ``{"about": str, "items": [...], "extra": [...]}``; ``extra`` (the spec's
    ``envcheck:`` items) is applied on top of ``items`` like the caller's extra items."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(PROFILES))
    aliases: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # profile -> spec file

    def canonical(self, name: str) -> str:
        return self.aliases.get(name, name)

    def known(self) -> list[str]:
        return list(self.profiles) + list(self.aliases)


def accelerator_items(acc: Accelerator, listed: set[str]) -> list[dict[str, Any]]:
    """The items a module's ``accelerator:`` asks for (accelerators as data): its kind's driver,
    devices and container runtime, with the spec's count, memory and versions; required as the
    accelerator is. Items the module's profile lists itself are left as it states them."""
    if acc.kind == "none" or acc.count == 0:
        return []
    memory = {"min_memory_gb": acc.memory_gb} if acc.memory_gb else {}
    if acc.kind == "nvidia":
        wanted: list[dict[str, Any]] = [
            {"id": "nvidia-driver"},
            {"id": "gpu", "min_count": acc.count, **memory},
            {"id": "nvidia-runtime", **({"min": acc.runtime} if acc.runtime else {})},
        ]
        if acc.driver:
            wanted.append({"id": "nvidia-driver-recommended", "min": acc.driver})
    else:
        wanted = [
            {"id": "npu-driver", **({"min": acc.driver} if acc.driver else {})},
            {"id": "npu", "min_count": acc.count, **memory},
            {"id": "ascend-runtime"},
        ]
    return [{**w, "required": acc.required} for w in wanted if w["id"] not in listed]


def catalog_from_specs(specs: Mapping[str, ModuleSpec]) -> Catalog:
    """Generic profiles plus one per module that declares a ``check_profile``, ``envcheck``
    items or an ``accelerator`` (a module with none of them is not checked); item ids and thresholds are validated here,
    with the spec file in the error."""
    cat = Catalog()
    for name, spec in specs.items():
        prof = spec.check_profile
        if prof is None and not spec.envcheck and not accelerator_items(spec.accelerator, set()):
            continue
        if name in cat.profiles or name in cat.aliases:
            raise SpecError(
                _("{source}: name: {name!r} is also an envcheck profile name").format(
                    source=spec.source, name=name
                )
            )
        if prof is not None:
            items = [dict(i) for i in prof.items]
        else:  # the generic profile, and the module's own ports must be free
            items = list(PROFILES["default"]["items"])
            if spec.ports:
                items.append({"id": "ports", "ports": [p.port for p in spec.ports]})
        listed = {str(i.get("id")) for i in [*items, *spec.envcheck]}
        items += accelerator_items(spec.accelerator, listed)
        cat.profiles[name] = {
            "about": prof.about if prof and prof.about else spec.description,
            "items": items,
            "extra": [dict(i) for i in spec.envcheck],
        }
        cat.sources[name] = spec.source
        for alias in prof.aliases if prof else ():
            if alias in cat.profiles or alias in cat.aliases:
                raise SpecError(
                    _(
                        "{source}: check_profile.aliases: {alias!r} is already a profile name"
                    ).format(source=spec.source, alias=alias)
                )
            cat.aliases[alias] = name
    from envcheck.engine import build_plan  # the engine sits above this data module

    for name, source in cat.sources.items():
        try:
            build_plan([name], catalog=cat)
        except UsageError as exc:
            raise SpecError(
                _("{source}: check_profile: {exc}").format(source=source, exc=exc)
            ) from None
    return cat


def spec_dirs(bundle: Optional[str] = None) -> list[str]:
    """Where the module specs are when no bundle is opened: ``bundle``, else the folder
    install.py ran from ($SEALBOX_SCRIPT_DIR), else this checkout."""
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = [bundle] if bundle else [os.environ.get("SEALBOX_SCRIPT_DIR") or "", checkout]
    return [os.path.join(r, "modules") for r in roots if r]


@functools.lru_cache(maxsize=8)
def _catalog_of(modules_dir: str) -> Catalog:
    specs = load_modules(modules_dir)
    return catalog_from_specs({n: specs[n] for n in install_order(specs, list(specs))})


def default_catalog(bundle: Optional[str] = None) -> Catalog:
    """The catalog of the bundle's (or this checkout's) specs; generic profiles only when
    there are none. The specs are read as files: envcheck changes nothing, and the install
    gate uses the verified bundle's specs instead."""
    dirs = spec_dirs(bundle)
    for d in dirs:
        if os.path.isdir(d):
            return _catalog_of(os.path.abspath(d))
    if bundle:
        raise UsageError(
            _("{bundle}: no modules/ folder; pass the bundle directory").format(bundle=bundle)
        )
    return Catalog()
