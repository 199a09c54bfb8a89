"""Take, list, check and restore backups under ``<state>/backups/`` on a module's host.

A backup is a folder ``<module>-<version>-<UTC time>`` (0700) holding the data file and its
manifest (0600). It is written as ``<name>.partial`` and renamed when complete, so a run killed
half-way never leaves something that looks like a backup.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Protocol, Sequence

from installer.backup import methods
from installer.backup.manifest import MANIFEST, BackupManifest
from installer.errors import HostError, RuntimeFailure, UsageError
from installer.hosts.base import Host
from installer.i18n import _
from installer.spec.model import ModuleSpec
from installer.spec.versions import compare


class Installed(Protocol):
    """What a backup needs of a module's state record (installer.deploy.state.ModuleRecord)."""

    @property
    def version(self) -> str: ...

    @property
    def instances(self) -> Sequence[Any]: ...  # each with .index and .container


class Where(Protocol):
    """The host and state folder (installer.deploy.state.StateStore): no import back into it."""

    @property
    def host(self) -> Host: ...

    @property
    def root(self) -> str: ...


@dataclass(frozen=True)
class Made:
    path: str
    manifest: BackupManifest


def has_data(spec: ModuleSpec) -> bool:
    return spec.backup.method != "none"


def target(
    store: Where, spec: ModuleSpec, record: Installed, values: Mapping[str, Any]
) -> methods.Target:
    names = set(spec.backup.data) if spec.backup.data else {d.name for d in spec.data}
    paths = []
    for d in spec.data:
        if d.name not in names:
            continue
        if d.per_instance:
            paths += [f"{spec.name}-{i.index}/{d.name}" for i in record.instances]
        else:
            paths.append(f"{spec.name}/{d.name}")
    recorded = getattr(store, "recorded_runtime", None)  # a StateStore names its engine
    return methods.Target(
        spec,
        [i.container for i in record.instances],
        f"{store.root}/data",
        paths,
        values,
        cli=(recorded() if recorded is not None else None) or "docker",
    )


class BackupStore:
    def __init__(self, store: Where) -> None:
        self.store = store
        self.host = store.host
        self.dir = f"{store.root}/backups"

    # reading ----------------------------------------------------------------------------
    def resolve(self, name: str) -> str:
        """A backup named by its folder name (under backups/) or by its path."""
        path = name.rstrip("/") if name.startswith("/") else f"{self.dir}/{name.rstrip('/')}"
        if "/../" in path + "/" or not self.host.exists(f"{path}/{MANIFEST}"):
            raise UsageError(
                _(
                    "backup {name}: no {manifest} there on {host}; 'sealbox backup --list' shows the backups in {dir}"
                ).format(name=name, manifest=MANIFEST, host=self.host.name, dir=self.dir)
            )
        return path

    def manifest(self, path: str) -> BackupManifest:
        try:
            return BackupManifest.from_json(self.host.read(f"{path}/{MANIFEST}"))
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(
                _("backup {path}: its {manifest} is damaged ({exc})").format(
                    path=path, manifest=MANIFEST, exc=exc
                )
            ) from None

    def all(self) -> list[tuple[str, BackupManifest]]:
        res = self.host.run(["sh", "-c", 'ls -1 "$1" 2>/dev/null || true', "sh", self.dir])
        out = []
        for name in sorted(res.stdout.split()):
            if name.endswith(".partial") or not self.host.exists(f"{self.dir}/{name}/{MANIFEST}"):
                continue
            try:
                out.append((f"{self.dir}/{name}", self.manifest(f"{self.dir}/{name}")))
            except UsageError:
                continue
        return out

    def sha256(self, path: str) -> str:
        res = self.host.run(["sha256sum", path])
        if not res.ok:
            raise HostError(
                _("sha256sum {path} on {host}: {err}").format(
                    path=path, host=self.host.name, err=res.first_error_line()
                )
            )
        return res.stdout.split()[0]

    # disk -------------------------------------------------------------------------------
    def estimate_kb(self, targets: list[methods.Target]) -> int:
        """What the backups will take at most: the size of the data they read (uncompressed)."""
        paths = [f"{t.data_root}/{p}" for t in targets for p in t.data_paths]
        if not paths:
            return 0
        res = self.host.run(["sh", "-c", 'du -skc -- "$@" 2>/dev/null | tail -n 1', "sh", *paths])
        try:
            return int(res.stdout.split()[0])
        except (IndexError, ValueError):
            return 0

    def free_kb(self, path: Optional[str] = None) -> int:
        """Free space where ``path`` (default the backups folder) is or will be."""
        script = 'p="$1"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; df -Pk "$p" | tail -n 1'
        res = self.host.run(["sh", "-c", script, "sh", path or self.dir])
        try:
            return int(res.stdout.split()[3])
        except (IndexError, ValueError):
            raise HostError(
                _("cannot read the free space of {path} on {host}").format(
                    path=path or self.dir, host=self.host.name
                )
            ) from None

    # writing ----------------------------------------------------------------------------
    def take(
        self,
        spec: ModuleSpec,
        record: Installed,
        values: Mapping[str, Any],
        *,
        product: str,
        version: str,
        with_secrets: bool = False,
    ) -> Made:
        if not has_data(spec):
            raise UsageError(
                _("module {module} declares no data to back up (backup.method none)").format(
                    module=spec.name
                )
            )
        if not record.instances:
            raise UsageError(
                _("module {module} has no installed instance on {host}").format(
                    module=spec.name, host=self.host.name
                )
            )
        stamp = (
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"{int(time.time() * 1000) % 1000:03d}"
        )
        name = f"{spec.name}-{record.version}-{stamp}"
        final, part = f"{self.dir}/{name}", f"{self.dir}/{name}.partial"
        self.host.makedirs(self.dir, 0o700)
        self.host.makedirs(part, 0o700)
        fname = methods.data_file(spec.backup.method)
        try:
            methods.save(self.host, target(self.store, spec, record, values), f"{part}/{fname}")
            secret_names = [v.name for v in spec.variables if v.secret and v.name in values]
            if with_secrets and secret_names:
                doc = {n: values[n] for n in secret_names}
                self.host.write(f"{part}/secrets.json", json.dumps(doc).encode(), 0o600)
            size = self.host.run(["stat", "-c", "%s", f"{part}/{fname}"]).stdout.strip()
            man = BackupManifest(
                product=product,
                version=version,
                module=spec.name,
                module_version=record.version,
                data_version=version,
                method=spec.backup.method,
                file=fname,
                sha256=self.sha256(f"{part}/{fname}"),
                size=int(size or 0),
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                with_secrets=bool(with_secrets and secret_names),
                secrets=secret_names,
            )
            self.host.write(f"{part}/{MANIFEST}", man.to_json(), 0o600)
            res = self.host.run(["mv", "-T", part, final])
            if not res.ok:
                raise HostError(
                    _("cannot finish backup {final}: {err}").format(
                        final=final, err=res.first_error_line()
                    )
                )
        except BaseException:
            self.host.remove(part, recursive=True)
            raise
        return Made(final, man)

    def check(
        self,
        path: str,
        man: BackupManifest,
        *,
        spec: Optional[ModuleSpec],
        module: str,
        product: str,
        installed_version: str,
        force: bool,
    ) -> list[str]:
        """Why ``restore`` should not put this backup there (empty: nothing against it)."""
        actual = self.sha256(f"{path}/{man.file}")
        if actual != man.sha256:  # never forced: a damaged backup restores damage
            raise RuntimeFailure(
                _(
                    "backup {path}: {file} has sha256 {actual}..., its manifest says {expected}...; the copy is damaged"
                ).format(path=path, file=man.file, actual=actual[:16], expected=man.sha256[:16])
            )
        why = []
        if man.product != product:
            why.append(f"it is a backup of product {man.product}, this host runs {product}")
        if man.module != module:
            why.append(f"it is a backup of module {man.module}, not {module}")
        if spec is not None and spec.backup.method != man.method:
            why.append(
                f"it was taken with {man.method}, {module} restores with {spec.backup.method}"
            )
        if installed_version and compare(man.data_version, installed_version) > 0:
            why.append(
                f"its data is of version {man.data_version}, newer than the installed "
                f"{installed_version}"
            )
        if why and not force:
            raise UsageError(
                _("restore {path}: {why}; pass --force to restore it anyway").format(
                    path=path, why="; ".join(why)
                )
            )
        return why

    def restore(
        self,
        path: str,
        man: BackupManifest,
        spec: ModuleSpec,
        record: Installed,
        values: Mapping[str, Any],
    ) -> None:
        methods.load(self.host, target(self.store, spec, record, values), f"{path}/{man.file}")
