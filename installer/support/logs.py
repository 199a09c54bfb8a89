"""``logs`` and ``restart`` by module name on one host, through the runtime (Docker today).

The containers are found by their labels (module, instance, deployment), not by generated
names, so the commands work without the bundle and on any host the state dir names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from installer.errors import UsageError
from installer.i18n import _
from installer.runtime.container import Container
from installer.runtime.docker import ContainerRuntime


@dataclass(frozen=True)
class LogLine:
    """One line of a container's log: engine time (RFC 3339, fixed width), container, text."""

    time: str
    container: str
    text: str

    @classmethod
    def parse(cls, container: str, raw: str) -> LogLine:
        stamp, _, text = raw.partition(" ")
        return cls(stamp, container, text)

    def to_dict(self) -> dict[str, str]:
        return {"time": self.time, "container": self.container, "text": self.text}


def prefixed(host: str, line: LogLine, *, with_container: bool) -> str:
    """``[host] container | text`` for several hosts (-i/-H), ``container | text`` for
    several containers here, the bare text for one: the lines stay greppable either way."""
    head = f"[{host}] " if host else ""
    if with_container or host:
        head += f"{line.container} | "
    return head + line.text


def module_containers(
    runtime: ContainerRuntime, module: str, instance: Optional[int] = None
) -> list[Container]:
    """The containers of ``module`` (one instance or all) on this host, by instance."""
    found = [c for c in runtime.ours() if c.module == module]
    if instance is not None:
        found = [c for c in found if c.instance == instance]
    return sorted(found, key=lambda c: (c.instance, c.name))


def check_instance(instance: Optional[int]) -> None:
    if instance is not None and instance < 0:
        raise UsageError(
            _("--instance {instance}: instances are numbered from 0").format(instance=instance)
        )


def read_logs(
    runtime: ContainerRuntime,
    containers: list[Container],
    *,
    tail: Optional[int] = None,
    since: Optional[dict[str, str]] = None,
) -> list[LogLine]:
    """The lines of each container, merged in time order. ``since``: per container, the time
    of the last line already shown (``logs -f``); a line at exactly that time is dropped
    because ``docker logs --since`` includes it."""
    out: list[LogLine] = []
    for c in containers:
        after = (since or {}).get(c.name)
        lines = runtime.log_lines(c.name, tail=None if after else tail, since=after)
        for raw in lines:
            line = LogLine.parse(c.name, raw)
            if after and line.time <= after:
                continue
            out.append(line)
    out.sort(key=lambda x: x.time)
    return out


def last_times(lines: list[LogLine], before: Optional[dict[str, str]] = None) -> dict[str, str]:
    """Per container, the newest time seen (the next poll's ``since``)."""
    seen = dict(before or {})
    for line in lines:
        if line.time > seen.get(line.container, ""):
            seen[line.container] = line.time
    return seen


def restart_module(runtime: ContainerRuntime, containers: list[Container]) -> list[dict[str, str]]:
    """Restart each container; return what the engine says before and after (StartedAt), so
    the caller (and a test) sees the restart happened in the engine, not only that it was asked."""
    done = []
    for c in containers:
        before = (c.raw.get("State") or {}).get("StartedAt", "")
        runtime.restart(c.name)
        now = runtime.inspect(c.name)
        after = (now.raw.get("State") or {}).get("StartedAt", "") if now is not None else ""
        done.append(
            {
                "container": c.name,
                "started_before": before,
                "started_at": after,
                "status": now.status if now is not None else "missing",
            }
        )
    return done
