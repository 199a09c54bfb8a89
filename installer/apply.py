"""Carry out a module's plan on a host: load image, write configs, run, wait for health.

Every step that fails undoes its own half: a new container that does not get healthy is removed
(with its last log lines in the error) and a replaced one is put back.
"""

from __future__ import annotations

import time
from typing import Optional

from installer.bundle.manifest import ImageEntry
from installer.desired import DesiredInstance
from installer.errors import RuntimeFailure
from installer.events import Event, Reporter
from installer.hosts.base import Host
from installer.plan import CREATE, LOAD, NOOP, RECREATE, REMOVE, START, Action, ModulePlan
from installer.runtime.docker import DockerRuntime
from installer.runtime.health import probe
from installer.spec.model import ModuleSpec

OLD_SUFFIX = "-sealbox-old"
LOG_LINES = 15


class Applier:
    def __init__(
        self, host: Host, runtime: DockerRuntime, bundle_dir: str, report: Reporter
    ) -> None:
        self.host = host
        self.runtime = runtime
        self.bundle_dir = bundle_dir
        self.report = report

    # image ------------------------------------------------------------------------------
    def load_image(self, spec: ModuleSpec, entry: ImageEntry, archive: list[ImageEntry]) -> None:
        """Load `entry`'s archive (holding `archive`, the manifest entries of that file)."""
        path = f"{self.bundle_dir}/{entry.file}"
        if self.runtime.image_id(entry.id) is not None:
            # Images can share one archive (their common layers stored once): an earlier
            # module's load of that archive brought this image too.
            self.report(Event("done", spec.name, f"image {entry.ref} loaded with {entry.file}"))
            return

        def progress(done: int, total: int) -> None:
            self.report(
                Event("progress", spec.name, f"loading {entry.file}", done=done, total=total)
            )

        self.report(Event("step", spec.name, f"loading image {entry.ref} from {entry.file}"))
        started = time.monotonic()
        result = self.runtime.load_archive(path, archive, progress=progress)
        for change in result.changed:
            self.report(Event("done", spec.name, f"{entry.file}: {change}"))
        self.report(Event("done", spec.name, f"image loaded in {time.monotonic() - started:.1f}s"))

    # instances --------------------------------------------------------------------------
    def _write_files(self, inst: DesiredInstance) -> None:
        for d in inst.data_dirs:
            self.host.makedirs(d, 0o750)
        for f in inst.files:
            self.host.write(f.path, f.content, f.mode)

    def wait_healthy(self, spec: ModuleSpec, inst: DesiredInstance) -> None:
        check = spec.health
        port = inst.ports.get(check.port) if check.port else None
        deadline = time.monotonic() + check.timeout
        seen = ""
        self.report(
            Event("step", spec.name, f"waiting for {inst.container} to be healthy", inst.container)
        )
        while True:
            cont = self.runtime.inspect(inst.container)
            if cont is None:
                raise RuntimeFailure(f"{inst.container} disappeared while starting")
            if cont.status in ("exited", "dead") or (
                cont.status == "restarting" and cont.restart_count >= 3
            ):
                raise RuntimeFailure(
                    f"{inst.container} {cont.status} (exit code {cont.exit_code}) while starting"
                )
            ok, seen = probe(
                self.host,
                check.type,
                port=port,
                path=check.path,
                container=inst.container,
                command=check.command,
            )
            if ok and cont.running:
                self.report(
                    Event("done", spec.name, f"{inst.container} healthy ({seen})", inst.container)
                )
                return
            if time.monotonic() > deadline:
                raise RuntimeFailure(
                    f"{inst.container} not healthy after {check.timeout:.0f}s: {seen}"
                )
            time.sleep(check.interval)

    def _fail_with_logs(self, name: str, exc: RuntimeFailure) -> RuntimeFailure:
        logs = self.runtime.logs(name, LOG_LINES)
        detail = (
            f"{exc}\n--- last {LOG_LINES} log lines of {name} ---\n{logs}" if logs else str(exc)
        )
        return RuntimeFailure(detail)

    def _run_new(self, spec: ModuleSpec, inst: DesiredInstance) -> None:
        """Create, start and wait; on failure remove the new container and re-raise with its logs."""
        self._write_files(inst)
        self.report(Event("step", spec.name, f"creating {inst.container}", inst.container))
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
            Event("step", spec.name, f"stopping {inst.container} to replace it", inst.container)
        )
        self.runtime.stop(inst.container)
        self.runtime.rename(inst.container, old)
        try:
            self._run_new(spec, inst)
        except BaseException:
            self.runtime.rename(old, inst.container)
            self.runtime.start(inst.container)
            raise
        self.runtime.remove(old)

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
                    f"removing extra instance {action.container}",
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
            self.report(Event("step", spec.name, f"starting {inst.container}", inst.container))
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
