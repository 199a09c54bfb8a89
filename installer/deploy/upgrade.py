"""An install over another version of the same product is an upgrade: one behaviour whether
it comes from ``upgrade BUNDLE``, ``in`` or ``inall``.

``assess`` (pure) says whether the plan is an upgrade, refuses another product or an older
version (unless allowed), and describes per module what changes (image, config, variables) and
what data is backed up first. ``disk_needed`` and ``check_disk`` refuse a host that cannot hold
the backups and the new images before anything changes. ``rolled_back`` brings the previous
version back by itself when a module fails (Helm's ``--atomic``, per host).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from installer.deploy.plan import Plan
from installer.deploy.releases import Release
from installer.deploy.state import State
from installer.errors import HostError, UsageError
from installer.i18n import _
from installer.spec.versions import compare, version_key


@dataclass
class ModuleChange:
    module: str
    from_version: str
    to_version: str
    image: str  # "same" or "OLDID12 -> NEWID12"
    config: str  # "same", "changed", "new"
    variables: list[str] = field(default_factory=list)  # variables new in this version
    backup: str = ""  # the backup method when its data is saved first, else ""
    migrates_data: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Upgrade:
    product: str
    from_version: str
    to_version: str
    downgrade: bool = False
    modules: list[ModuleChange] = field(default_factory=list)

    @property
    def backed_up(self) -> list[str]:
        return [m.module for m in self.modules if m.backup]

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "from": self.from_version,
            "to": self.to_version,
            "downgrade": self.downgrade,
            "modules": [m.to_dict() for m in self.modules],
        }


def installed_version(state: State, names: list[str], *, newest: bool = False) -> tuple[str, str]:
    """(product, bundle version) of the installed modules among ``names`` (else of any). A host
    left half-way by an interrupted upgrade is at its OLDEST version for the next upgrade (the
    re-run is the same upgrade, backups and roll-back included) and at its NEWEST for rollback."""
    records = [state.modules[n] for n in names if n in state.modules] or list(
        state.modules.values()
    )
    if not records:
        return "", ""
    pick = max if newest else min
    version = pick((r.bundle_version for r in records), key=version_key)
    product = next((r.product for r in records if r.product), "")
    return product, version


def assess(
    plan: Plan,
    state: State,
    *,
    product: str,
    version: str,
    previous: Optional[Release],
    allow_downgrade: bool,
    new_variables: dict[str, list[str]],
) -> Optional[Upgrade]:
    """None for a fresh install or a re-run of the same version; refuses what must not run."""
    names = [mp.desired.spec.name for mp in plan.modules]
    have_product, have_version = installed_version(state, names)
    if not have_version:
        return None
    if have_product and have_product != product:
        raise UsageError(
            _(
                "this bundle is {product} {version}, the host runs {have_product} {have_version}: a bundle of another product does not upgrade it (remove it with 'rmall', or use another --state-dir)"
            ).format(
                product=product,
                version=version,
                have_product=have_product,
                have_version=have_version,
            )
        )
    older = compare(version, have_version) < 0
    if compare(version, have_version) == 0:
        return None
    if older and not allow_downgrade:
        raise UsageError(
            _(
                "this bundle is {product} {version}, older than the installed {have_version}: use 'rollback' to go back, or pass --allow-downgrade"
            ).format(product=product, version=version, have_version=have_version)
        )
    up = Upgrade(product or have_product, have_version, version, downgrade=older)
    saved = data_at_risk(plan)
    for mp in plan.modules:
        spec = mp.desired.spec
        rec = state.modules.get(spec.name)
        old = previous.modules.get(spec.name) if previous else None
        new_id = mp.desired.image.id
        if rec is None:
            up.modules.append(ModuleChange(spec.name, "", spec.version, "new", "new"))
            continue
        image = "same" if rec.image_id == new_id else f"{rec.image_id[7:19]} -> {new_id[7:19]}"
        config = "same"
        if old is not None:
            before = {
                p: h for i in old.instances for p, h in i["runspec"].get("file_hashes", {}).items()
            }
            after = {p: h for i in mp.desired.instances for p, h in i.runspec.file_hashes.items()}
            config = "same" if before == after else "changed"
        elif any(a.reason == "configuration changed" for a in mp.changes):
            config = "changed"
        up.modules.append(
            ModuleChange(
                spec.name,
                rec.version,
                spec.version,
                image,
                config,
                sorted(new_variables.get(spec.name, [])),
                spec.backup.method if spec.name in saved else "",
                spec.migrates_data,
            )
        )
    return up


def data_at_risk(plan: Plan) -> set[str]:
    """The modules whose data an upgrade may change, so it is backed up first: each module
    with data that the plan changes, and -- when a changed module migrates data in place
    (``migrates_data``) -- each module with data it depends on (its database). Never the license
    server's: its state (clock witnesses, leases) must not go back in time with a restore."""
    specs = {mp.desired.spec.name: mp.desired.spec for mp in plan.modules}
    risky = {n for mp in plan.modules if mp.changes for n in [mp.desired.spec.name]}
    for mp in plan.modules:
        if mp.changes and mp.desired.spec.migrates_data:
            risky |= {d for d in mp.desired.spec.depends_on if d in specs}
    return {
        n
        for n in risky
        if specs[n].backup.method != "none" and getattr(specs[n], "license", None) is None
    }


def disk_needed_kb(backup_kb: int, plan: Plan) -> tuple[int, int]:
    """(for the backups, for the new images): the images' uncompressed size, once per file."""
    files: dict[str, int] = {}
    for mp in plan.modules:
        if mp.load_image:
            img = mp.desired.image
            files[img.file] = max(img.uncompressed_size, img.size)
    return backup_kb, sum(files.values()) // 1024


def check_disk(
    host_name: str, need: tuple[int, int], free: tuple[int, int], where: tuple[str, str]
) -> None:
    """Refuse before any change when the backups or the images do not fit (same disk: both)."""
    (bk, ik), (bfree, ifree), (bdir, idir) = need, free, where
    same = bfree == ifree
    total = bk + ik if same else bk
    if total > bfree:
        raise HostError(
            (
                _(
                    "{host_name}: {bdir} has {free} MiB free, the upgrade needs {need} MiB for its backups and new images: free disk space there, then run it again (nothing was changed)"
                )
                if same
                else _(
                    "{host_name}: {bdir} has {free} MiB free, the upgrade needs {need} MiB for its backups: free disk space there, then run it again (nothing was changed)"
                )
            ).format(host_name=host_name, bdir=bdir, free=bfree // 1024, need=-(-total // 1024))
        )
    if not same and ik > ifree:
        raise HostError(
            _(
                "{host_name}: {idir} has {free} MiB free, the new images need {need} MiB: free disk space there, then run it again (nothing was changed)"
            ).format(host_name=host_name, idir=idir, free=ifree // 1024, need=-(-ik // 1024))
        )
