"""``logs``, ``restart`` and ``support-bundle`` as per-host jobs for the Fleet (this machine is
a fleet of one), plus ``follow``: ``logs -f`` over several hosts, polled, lines merged in time."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from installer.bundle.opened import VerifiedBundle
from installer.events import Event, Reporter
from installer.fleet import Fleet
from installer.fleet.fleet import HostJob, OnHost
from installer.fleet.run import Outcome
from installer.runtime.docker import ContainerRuntime
from installer.support.collect import HostBundle, collect_host
from installer.support.logs import (
    LogLine,
    last_times,
    module_containers,
    read_logs,
    restart_module,
)


def runtime_of(on: OnHost) -> ContainerRuntime:
    """The runtime of this host's deployment (the state dir names it), without a bundle."""
    return ContainerRuntime(
        on.host,
        on.store.deployment_id,
        staging_dir=f"{on.store.root}/images",
        cli=on.store.recorded_runtime() or "docker",
    )


def logs_job(
    module: str, instance: Optional[int], tail: Optional[int], since: Optional[str]
) -> HostJob:
    def run(on: OnHost, report: Reporter) -> Outcome:
        rt = runtime_of(on)
        found = module_containers(rt, module, instance)
        if not found:
            return Outcome(False, f"{module} does not run here", {"containers": [], "lines": []})
        lines: list[LogLine] = []
        for c in found:
            got = rt.log_lines(c.name, tail=tail, since=since)
            lines += [LogLine.parse(c.name, raw) for raw in got]
        lines.sort(key=lambda x: x.time)
        data = {"containers": [c.name for c in found], "lines": [x.to_dict() for x in lines]}
        return Outcome(False, f"{len(lines)} line(s) from {len(found)} container(s)", data)

    return run


def restart_job(module: str, instance: Optional[int]) -> HostJob:
    def run(on: OnHost, report: Reporter) -> Outcome:
        rt = runtime_of(on)
        found = module_containers(rt, module, instance)
        if not found:
            return Outcome(False, f"{module} does not run here", {"restarted": []})
        for c in found:
            report(Event("step", module, f"restarting {c.name}", container=c.name))
        done = restart_module(rt, found)
        names = ", ".join(d["container"] for d in done)
        return Outcome(True, f"restarted {names}", {"restarted": done})

    return run


def collect_job(
    bundle: Optional[VerifiedBundle], tail: int, sink: dict[str, HostBundle]
) -> HostJob:
    """Each host's folder goes to ``sink`` (secrets included, for the redactor); the job's own
    data is only counts, since it may be printed as JSON."""

    def run(on: OnHost, report: Reporter) -> Outcome:
        hb = collect_host(on.host, on.store, report, bundle=bundle, tail=tail)
        hb.host = on.name
        sink[on.name] = hb
        msg = f"{len(hb.files)} file(s)" + (
            f"; not collected: {', '.join(sorted(hb.errors))}" if hb.errors else ""
        )
        return Outcome(False, msg, {"files": len(hb.files), "missing": hb.errors})

    return run


def follow(
    fleet: Fleet,
    module: str,
    instance: Optional[int],
    tail: Optional[int],
    on_lines: Callable[[str, list[LogLine]], None],
    *,
    interval: float = 1.0,
    on_event: Optional[Callable[[str, Event], None]] = None,
    polls: Optional[int] = None,
) -> None:
    """Poll every host's containers of ``module`` for new lines until interrupted (Ctrl-C in
    the caller) or ``polls`` rounds; each round's lines of all hosts go out in time order.
    A host that fails is reported once and dropped; the others go on."""
    hosts: dict[str, tuple[ContainerRuntime, list[Any]]] = {}
    try:
        for name in fleet.inventory.hosts:
            try:
                rt = runtime_of(fleet.on(name))
                hosts[name] = (rt, module_containers(rt, module, instance))
            except Exception as exc:  # noqa: BLE001 - an unreachable host: say so, go on
                if on_event is not None:
                    on_event(name, Event("warn", module, f"not followed: {exc}"))
        seen: dict[str, dict[str, str]] = {}
        first = True
        rounds = 0
        while hosts and (polls is None or rounds < polls):
            batch: list[tuple[str, LogLine]] = []
            for name, (rt, conts) in list(hosts.items()):
                try:
                    lines = read_logs(rt, conts, tail=tail if first else None, since=seen.get(name))
                except Exception as exc:  # noqa: BLE001
                    if on_event is not None:
                        on_event(name, Event("warn", module, f"stopped following: {exc}"))
                    del hosts[name]
                    continue
                seen[name] = last_times(lines, seen.get(name))
                for c in conts:  # a container with no line yet: only new lines from now on
                    seen[name].setdefault(c.name, _engine_now())
                batch += [(name, x) for x in lines]
            batch.sort(key=lambda hx: hx[1].time)
            for name, x in batch:
                on_lines(name, [x])
            first = False
            rounds += 1
            if polls is None or rounds < polls:
                time.sleep(interval)
    finally:
        fleet.close()


def _engine_now() -> str:
    """A ``since`` for a container that had no line: now, in the engine's time format."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
