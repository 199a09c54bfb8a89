"""Carry out a module's plan on a host: load image, write configs, run, wait for health.

Every step that fails undoes its own half: a new container that does not get healthy is removed
(its log kept in a file the one-line error names) and a replaced one is put back.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from installer.bundle.manifest import ImageEntry
from installer.deploy.desired import DesiredInstance
from installer.deploy.plan import CREATE, LOAD, NOOP, RECREATE, REMOVE, START, Action, ModulePlan
from installer.errors import RuntimeFailure
from installer.events import Event, Reporter
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.docker import ContainerRuntime
from installer.runtime.healthwait import HealthWait, keep_logs
from installer.runtime.reach import endpoints
from installer.spec.model import ModuleSpec

OLD_SUFFIX = "-sealbox-old"


class Applier:
    def __init__(
        self,
        host: Host,
        runtime: ContainerRuntime,
        bundle_dir: str,
        report: Reporter,
        *,
        specs: Optional[Mapping[str, ModuleSpec]] = None,
        values: Optional[Mapping[str, Any]] = None,
        log_dir: Optional[str] = None,
    ) -> None:
        self.host = host
        self.runtime = runtime
        self.bundle_dir = bundle_dir
        self.report = report
        self.specs = specs or {}  # with ``values``: the addresses a module is wired to
        self.values = values or {}
        self.log_dir = log_dir  # failed containers' logs are kept here
        self.loaded_files: set[str] = set()  # archives loaded by this run

    # image ------------------------------------------------------------------------------
    def load_image(self, spec: ModuleSpec, entry: ImageEntry, archive: list[ImageEntry]) -> None:
        """Load `entry`'s archive (holding `archive`, the manifest entries of that file).

        Called for images the plan found absent (under the run lock), so the engine is asked
        again only when this run has loaded the same archive already."""
        path = f"{self.bundle_dir}/{entry.file}"
        if entry.file in self.loaded_files and self.runtime.image_id(entry.id) is not None:
            # Images can share one archive (their common layers stored once): an earlier
            # module's load of that archive brought this image too.
            self.report(
                Event(
                    "done",
                    spec.name,
                    _("image {ref} loaded with {file}").format(ref=entry.ref, file=entry.file),
                )
            )
            return

        def progress(done: int, total: int) -> None:
            self.report(
                Event(
                    "progress",
                    spec.name,
                    _("loading {file}").format(file=entry.file),
                    done=done,
                    total=total,
                )
            )

        self.report(
            Event(
                "step",
                spec.name,
                _("loading image {ref} from {file}").format(ref=entry.ref, file=entry.file),
            )
        )
        started = time.monotonic()
        result = self.runtime.load_archive(path, archive, progress=progress)
        self.loaded_files.add(entry.file)
        for change in result.changed:
            self.report(Event("done", spec.name, f"{entry.file}: {change}"))
        self.report(
            Event(
                "done",
                spec.name,
                _("image loaded in {time:.1f}s").format(time=time.monotonic() - started),
            )
        )

    # instances --------------------------------------------------------------------------
    def _write_files(self, inst: DesiredInstance) -> None:
        for d in inst.data_dirs:
            self.host.makedirs(d, 0o750)
        for f in inst.files:
            self.host.write(f.path, f.content, f.mode)

    def wait_healthy(self, spec: ModuleSpec, inst: DesiredInstance) -> None:
        """Until healthy, or a known reason (installer.runtime.healthwait), or the timeout."""
        check = spec.health
        self.report(
            Event(
                "step",
                spec.name,
                _("waiting for {container} to be healthy").format(container=inst.container),
                inst.container,
            )
        )
        wired = endpoints(spec, self.specs, self.values) if self.specs else []
        seen = HealthWait(
            self.host,
            self.runtime.inspect,
            self.runtime.logs,
            check,
            inst.container,
            inst.ports.get(check.port) if check.port else None,
            wired,
            note=lambda msg: self.report(Event("step", spec.name, msg, inst.container)),
            cli=self.runtime.cli,
        ).run()
        self.report(
            Event(
                "done",
                spec.name,
                _("{container} healthy ({seen})").format(container=inst.container, seen=seen),
                inst.container,
            )
        )

    def _fail_with_logs(self, name: str, exc: RuntimeFailure) -> RuntimeFailure:
        """One line: the failure, and the file that keeps the container's whole log."""
        path = keep_logs(self.host, name, self.log_dir, self.runtime.cli) if self.log_dir else None
        where = f"; its log is kept on {self.host.name} in {path}" if path else ""
        return RuntimeFailure(f"{exc}{where}")

    def _run_new(self, spec: ModuleSpec, inst: DesiredInstance) -> None:
        """Create, start and wait; on failure remove the new container and re-raise with its logs."""
        self._write_files(inst)
        self.report(
            Event(
                "step",
                spec.name,
                _("creating {container}").format(container=inst.container),
                inst.container,
            )
        )
        self.runtime.create(inst.runspec)
        try:
            self.runtime.start(inst.container)
            self.wait_healthy(spec, inst)
        except RuntimeFailure as exc:
            failure = self._fail_with_logs(inst.container, exc)
            self.runtime.remove(inst.container)
            raise failure from None
        except BaseException:
            self.runtime.remove(inst.container)
            raise

    def _recreate(self, spec: ModuleSpec, inst: DesiredInstance) -> None:
        """Replace a container, keeping the old one aside until the new one is healthy."""
        old = inst.container + OLD_SUFFIX
        self.runtime.remove(old)  # a leftover from an interrupted run
        self.report(
            Event(
                "step",
                spec.name,
                _("stopping {container} to replace it").format(container=inst.container),
                inst.container,
            )
        )
        kept = self._files_now(inst)  # what the old container reads, before the new version's
        self.runtime.stop(inst.container)
        self.runtime.rename(inst.container, old)
        try:
            self._run_new(spec, inst)
        except BaseException:
            self._put_back(kept)  # else the old container comes back reading the new files
            self.runtime.rename(old, inst.container)
            self.runtime.start(inst.container)
            raise
        self.runtime.remove(old)

    def _files_now(self, inst: DesiredInstance) -> dict[str, Optional[tuple[bytes, int]]]:
        """The files the new instance will write, as they are now (None: absent)."""
        now: dict[str, Optional[tuple[bytes, int]]] = {}
        for f in inst.files:
            try:
                now[f.path] = (self.host.read(f.path), f.mode)
            except FileNotFoundError:
                now[f.path] = None
        return now

    def _put_back(self, kept: dict[str, Optional[tuple[bytes, int]]]) -> None:
        for path, was in kept.items():
            if was is None:
                self.host.remove(path)
            else:
                self.host.write(path, was[0], was[1])

    def apply_action(
        self, spec: ModuleSpec, action: Action, inst: Optional[DesiredInstance]
    ) -> None:
        if action.kind == NOOP or action.kind == LOAD:
            return
        if action.kind == REMOVE:
            self.report(
                Event(
                    "step",
                    spec.name,
                    _("removing extra instance {container}").format(container=action.container),
                    action.container,
                )
            )
            self.runtime.remove(action.container)
            return
        assert inst is not None
        if action.kind == CREATE:
            self._run_new(spec, inst)
        elif action.kind == RECREATE:
            self._recreate(spec, inst)
        elif action.kind == START:
            self.report(
                Event(
                    "step",
                    spec.name,
                    _("starting {container}").format(container=inst.container),
                    inst.container,
                )
            )
            self.runtime.start(inst.container)
            try:
                self.wait_healthy(spec, inst)
            except RuntimeFailure as exc:
                raise self._fail_with_logs(inst.container, exc) from None

    def apply_instances(self, plan: ModulePlan) -> None:
        """The container actions of a module plan (its image is loaded beforehand)."""
        spec = plan.desired.spec
        by_name = {i.container: i for i in plan.desired.instances}
        for action in plan.actions:
            self.apply_action(spec, action, by_name.get(action.container))
