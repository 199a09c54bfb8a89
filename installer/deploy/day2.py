"""Day 2 on one host, without the bundle: backup, restore, history, rollback, prune.

Everything here works from what the host keeps: the state, the release snapshots
(installer.deploy.releases: run specs, rendered files, signed image IDs per version), the
backups and the history. The upgrade's automatic roll-back uses ``bring_back`` too.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from installer.backup.store import BackupStore, Made, has_data
from installer.deploy.apply import Applier
from installer.deploy.history import History
from installer.deploy.plan import NOOP, RECREATE, Action, instance_action
from installer.deploy.releases import ModuleRelease, Release, Releases
from installer.deploy.state import InstanceRecord, ModuleRecord, State, StateStore
from installer.deploy.upgrade import installed_version
from installer.errors import RuntimeFailure, UsageError
from installer.events import Event, Reporter, make
from installer.hosts.base import Host
from installer.i18n import _, english_tree
from installer.runtime.docker import ContainerRuntime
from installer.spec.model import ModuleSpec
from installer.spec.versions import compare, version_key

DEFAULT_KEEP = 2


@dataclass
class RollbackResult:
    to_version: str
    from_version: str
    modules: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # backup paths put back
    seconds: float = 0.0


def record_of(mr: ModuleRelease, rel: Release, previous: Optional[ModuleRecord]) -> ModuleRecord:
    insts = mr.desired()
    return ModuleRecord(
        name=mr.name,
        version=mr.version,
        bundle_version=rel.version,
        image_ref=mr.image_ref,
        image_id=mr.image_id,
        instances=[
            InstanceRecord(
                i.index,
                i.container,
                i.runspec.config_hash(),
                i.runspec.image_id,
                i.ports,
                i.runspec.gpu,
            )
            for i in insts
        ],
        gpus=[i.runspec.gpu for i in insts if i.runspec.gpu],
        installed_at=previous.installed_at if previous else 0.0,
        updated_at=__import__("time").time(),
        skipped_checks=previous.skipped_checks if previous else [],
        license=previous.license if previous else None,
        product=rel.product,
    )


class HostOps:
    def __init__(
        self,
        host: Host,
        store: StateStore,
        report: Optional[Reporter] = None,
        runtime: Optional[ContainerRuntime] = None,
    ) -> None:
        self.host = host
        self.store = store
        self.report = make(report)
        self.runtime = runtime or ContainerRuntime(
            host,
            store.deployment_id,
            staging_dir=f"{store.root}/images",
            cli=store.recorded_runtime() or "docker",
        )
        self.releases = Releases(store)
        self.history = History(store)
        self.backups = BackupStore(store)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The engine's run lock (installer.deploy.engine.LOCK_FILE): one run per host."""
        with self.host.lock(f"{self.store.root}/.lock"):
            yield

    # what is installed ------------------------------------------------------------------
    def installed_spec(self, state: State, name: str) -> ModuleSpec:
        rec = state.modules[name]
        rel = self.releases.load(rec.bundle_version)
        if rel is None or name not in rel.modules:
            raise UsageError(
                _(
                    "{name} {bundle_version} on {host} was installed by an older Sealbox that kept no release record: re-run 'in {name}' with its bundle first"
                ).format(name=name, bundle_version=rec.bundle_version, host=self.host.name)
            )
        return rel.modules[name].spec()

    # backup / restore -------------------------------------------------------------------
    def backup(
        self,
        state: State,
        names: list[str],
        *,
        with_secrets: bool = False,
        specs: Optional[dict[str, ModuleSpec]] = None,
    ) -> list[Made]:
        """Back up each named installed module that has data (all of them when ``names`` is
        empty). ``specs``: the installed modules' specs when the caller has them already."""
        unknown = [n for n in names if n not in state.modules]
        if unknown:
            raise UsageError(
                _("{unknown}: not installed on {host}; installed: {installed}").format(
                    unknown=", ".join(unknown),
                    host=self.host.name,
                    installed=", ".join(sorted(state.modules)) or _("nothing"),
                )
            )
        product, version = installed_version(state, list(state.modules))
        made = []
        for name in names or sorted(state.modules):
            spec = (specs or {}).get(name) or self.installed_spec(state, name)
            if not has_data(spec):
                if names:
                    raise UsageError(
                        _("module {name} declares no data to back up").format(name=name)
                    )
                continue
            self.report(Event("step", name, f"backing up {name} ({spec.backup.method})"))
            m = self.backups.take(
                spec,
                state.modules[name],
                state.remembered(),
                product=product,
                version=state.modules[name].bundle_version or version,
                with_secrets=with_secrets,
            )
            self.report(Event("done", name, f"backup {m.path} ({m.manifest.size} bytes)"))
            made.append(m)
        return made

    def restore(
        self, state: State, backup: str, *, module: Optional[str] = None, force: bool = False
    ) -> dict[str, Any]:
        path = self.backups.resolve(backup)
        man = self.backups.manifest(path)
        name = module or man.module
        if name not in state.modules:
            raise UsageError(
                _(
                    "restore {path}: module {name} is not installed on {host}; install it first"
                ).format(path=path, name=name, host=self.host.name)
            )
        spec = self.installed_spec(state, name)
        product, version = installed_version(state, [name])
        forced = self.backups.check(
            path,
            man,
            spec=spec,
            module=name,
            product=product,
            installed_version=state.modules[name].bundle_version or version,
            force=force,
        )
        self.report(Event("step", name, f"restoring {path}"))
        self.backups.restore(path, man, spec, state.modules[name], state.remembered())
        self.report(Event("done", name, f"restored {path}"))
        self.history.record(
            "restore",
            product=product,
            version=version,
            modules=[name],
            result="ok",
            backups=[path],
            detail="; ".join(f"forced: {w}" for w in forced),
        )
        return {"backup": path, "module": name, "forced": forced, "manifest": vars(man)}

    # bring a release back ---------------------------------------------------------------
    def bring_back(
        self, state: State, rel: Release, names: list[str], *, force: bool = False
    ) -> list[str]:
        """Recreate ``names`` from ``rel``: its rendered files, its signed image IDs, health-
        gated, in the release's order; a container that is that release's already stays
        (compose's config-hash rule) unless ``force`` -- a failed upgrade's old container
        came back reading the new files, so there every touched container is recreated. The
        state records follow each module."""
        applier = Applier(
            self.host, self.runtime, "", self.report, log_dir=f"{self.store.root}/logs"
        )
        done = []
        for name in [n for n in rel.order if n in names]:
            mr = rel.modules[name]
            spec = mr.spec()
            missing = [
                i.runspec.image_id
                for i in mr.desired()
                if self.runtime.image_id(i.runspec.image_id) is None
            ]
            if missing:
                raise RuntimeFailure(
                    _(
                        "{name} {version}: its image {image} is no longer on {host} (pruned?); install the {version} bundle instead"
                    ).format(
                        name=name, version=rel.version, image=missing[0][7:19], host=self.host.name
                    )
                )
            wanted = set()
            for inst in mr.desired():
                wanted.add(inst.container)
                have = self.runtime.inspect(inst.container)
                action = instance_action(inst, have)
                if force and have is not None:
                    action = Action(RECREATE, name, inst.container, inst.index, "roll back")
                if action.kind == NOOP:
                    continue
                self.report(Event("step", name, f"{inst.container}: back to {rel.version}"))
                applier.apply_action(spec, action, inst)
            for cont in self.runtime.ours():
                if cont.module == name and cont.name not in wanted:
                    self.runtime.remove(cont.name)
            state.modules[name] = record_of(mr, rel, state.modules.get(name))
            self.store.save(state)
            done.append(name)
        return done

    def undo_upgrade(
        self,
        state: State,
        previous: Release,
        touched: list[str],
        backups: list[Made],
        migrated: bool,
    ) -> list[str]:
        """A failed upgrade: the touched modules come back from ``previous``; the pre-upgrade
        backups go back only when a module that migrates data had started. Returns what was
        restored (backup paths)."""
        self.bring_back(state, previous, [n for n in touched if n in previous.modules], force=True)
        # the untouched ones run the previous version already: their records go back to it
        self.bring_back(state, previous, [n for n in previous.order if n not in touched])
        for name in [n for n in touched if n not in previous.modules]:  # new in the upgrade
            for cont in self.runtime.ours():
                if cont.module == name:
                    self.runtime.remove(cont.name)
            state.modules.pop(name, None)
            self.store.save(state)
        restored = []
        if migrated:
            for m in backups:
                name = m.manifest.module
                if name in state.modules and name in previous.modules:
                    spec = previous.modules[name].spec()
                    self.report(Event("step", name, f"restoring {m.path}"))
                    self.backups.restore(
                        m.path, m.manifest, spec, state.modules[name], state.remembered()
                    )
                    restored.append(m.path)
        return restored

    def previous_version(self, state: State) -> tuple[str, str]:
        """(current, the version installed before it): from the history's last upgrade to
        the current version, else the newest release older than it."""
        _product, current = installed_version(state, list(state.modules), newest=True)
        for e in reversed(self.history.entries()):
            if e.get("action") == "upgrade" and e.get("version") == current and e.get("previous"):
                return current, str(e["previous"])
        older = [v for v in self.releases.versions() if compare(v, current) < 0]
        if not older:
            raise UsageError(
                _(
                    "no earlier version of the product is recorded on {host}: nothing to roll back to"
                ).format(host=self.host.name)
            )
        return current, max(older, key=version_key)

    def upgrade_backups(self, version: str) -> list[str]:
        """The backups taken by the last successful upgrade to ``version``."""
        for e in reversed(self.history.entries()):
            if e.get("action") == "upgrade" and e.get("version") == version:
                if e.get("result") == "ok":
                    return list(e.get("backups") or [])
        return []

    def rollback(self, state: State, to: Optional[str], *, yes: bool) -> RollbackResult:
        import time

        started = time.monotonic()
        current, previous = self.previous_version(state)
        target = to or previous
        if compare(target, current) == 0:
            raise UsageError(
                _("{current} is what runs on {host} already").format(
                    current=current, host=self.host.name
                )
            )
        rel = self.releases.load(target)
        if rel is None:
            known = ", ".join(self.releases.versions()) or "none"
            raise UsageError(
                _(
                    "rollback --to {target}: no record of that version on {host} (recorded: {known})"
                ).format(target=target, host=self.host.name, known=known)
            )
        cur = self.releases.load(current)
        product = installed_version(state, list(state.modules))[0]
        if product and rel.product != product:
            raise UsageError(
                _("{target} is a version of {product}, the host runs {product2}").format(
                    target=target, product=rel.product, product2=product
                )
            )
        migrated = [
            n
            for n, mr in (cur.modules.items() if cur else [])
            if mr.spec().migrates_data
            and (n not in rel.modules or rel.modules[n].version != mr.version)
        ]
        backups = self.upgrade_backups(current) if migrated else []
        if migrated and not backups:
            self.report(
                Event(
                    "warn",
                    "rollback",
                    f"{', '.join(migrated)} migrated data, and no backup "
                    f"of the upgrade to {current} is recorded: the data stays as it is",
                )  # fmt: skip
            )
        if backups and not yes:
            raise UsageError(
                _(
                    "{migrated} {current} migrated the data: rolling back to {target} restores the backup(s) taken before that upgrade ({backups}), losing changes made since; pass --yes to go on"
                ).format(
                    migrated=", ".join(migrated),
                    current=current,
                    target=target,
                    backups=", ".join(backups),
                )
            )
        self.history.record(
            "rollback", product=rel.product, version=target, previous=current,
            modules=rel.order, result="started",
        )  # fmt: skip
        res = RollbackResult(target, current)
        try:
            res.modules = self.bring_back(state, rel, rel.order)
            for extra in [n for n in list(state.modules) if n not in rel.modules]:
                for inst in state.modules[extra].instances:
                    self.runtime.remove(inst.container)
                del state.modules[extra]
                self.store.save(state)
            for path in backups:
                man = self.backups.manifest(path)
                if man.module in state.modules:
                    spec = rel.modules[man.module].spec()
                    self.report(Event("step", man.module, f"restoring {path}"))
                    self.backups.restore(
                        path, man, spec, state.modules[man.module], state.remembered()
                    )
                    res.restored.append(path)
        except BaseException as exc:
            self.history.record(
                "rollback", product=rel.product, version=target, previous=current,
                modules=res.modules, result="failed", detail=str(english_tree(exc))[:500],
            )  # fmt: skip
            raise
        res.seconds = time.monotonic() - started
        self.history.record(
            "rollback", product=rel.product, version=target, previous=current,
            modules=res.modules, result="ok", backups=res.restored,
        )  # fmt: skip
        return res

    # prune ------------------------------------------------------------------------------
    def prune(self, state: State, keep: int = DEFAULT_KEEP) -> dict[str, Any]:
        """Remove the images of versions older than the last ``keep``; never an image a
        container of this host runs or a kept version needs."""
        if keep < 1:
            raise UsageError(_("--keep must be 1 or more (the running version is always kept)"))
        versions = sorted(self.releases.versions(), key=version_key)
        _p, current = installed_version(state, list(state.modules), newest=True)
        kept = versions[-keep:]
        if current and current not in kept:
            kept.append(current)
        needed: set[str] = set()
        for v in kept:
            rel = self.releases.load(v)
            if rel is not None:
                needed |= rel.image_ids()
        needed |= {r.image_id for r in state.modules.values()}
        running = self.host.run(
            ["sh", "-c", "docker ps -aq | xargs -r docker inspect --format '{{.Image}}'"]
        )
        needed |= {line.strip() for line in running.stdout.splitlines() if line.strip()}
        removed, dropped = [], []
        for v in versions:
            if v in kept:
                continue
            rel = self.releases.load(v)
            for image in sorted(rel.image_ids() if rel else set()):
                if image in needed or self.runtime.image_id(image) is None:
                    continue
                res = self.host.run([self.runtime.cli, "image", "rm", image])
                if res.ok:
                    removed.append(image)
                    self.report(Event("done", "prune", f"removed image {image[7:19]} of {v}"))
                else:
                    self.report(Event("warn", "prune", f"{image[7:19]}: {res.first_error_line()}"))
            dropped.append(v)
        return {"kept": kept, "pruned_versions": dropped, "removed_images": removed}
