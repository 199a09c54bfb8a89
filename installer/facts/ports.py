"""Who holds a port: the ONE port-ownership rule, for the engine and envcheck alike.

A port is free for us when nothing listens on it, or when every process listening on it runs in
one of *our* containers (its /proc/PID/cgroup names the container's ID) or is the
``docker-proxy`` publishing it for one of ours. Anything else -- a stranger's process, another
product's container -- holds it. The listeners come from one `ss -ltnp` (or `netstat -ltnp`
where ss is missing) and the cgroup lines from the same fact round trip; nothing here runs a
command, and no host is special: this machine is read like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from installer.facts.fact import FactResult


@dataclass(frozen=True)
class Listener:
    port: int
    pid: Optional[int]
    process: str
    address: str = ""


@dataclass(frozen=True)
class PortVerdict:
    """``free`` for us or not, in words, and the first stranger holding it."""

    port: int
    free: bool
    words: str
    holder: Optional[Listener] = None


def listeners(ss: FactResult, netstat: Optional[FactResult] = None) -> list[Listener]:
    """Every listening TCP socket, one Listener per process holding it ('?' when unnamed)."""
    src = ss if ss.ok or netstat is None or not netstat.ok else netstat
    out = []
    for sock in src.value or []:
        procs = sock["processes"] or [{"name": "?", "pid": None}]
        for pr in procs:
            out.append(Listener(sock["port"], pr["pid"], pr["name"], sock["address"]))
    return out


def readable(ss: FactResult, netstat: Optional[FactResult] = None) -> bool:
    return ss.ok or (netstat is not None and netstat.ok)


def judge_port(
    port: int,
    socks: Sequence[Listener],
    cgroups: Mapping[int, str],
    containers: Iterable[Mapping[str, Any]],
    ours: Iterable[str],
) -> PortVerdict:
    """The rule. ``containers``: dicts with id, name, ports (published), managed; ``ours``: the
    IDs of the containers that count as ours (this deployment's, or every managed one)."""
    mine = set(ours)
    conts = list(containers)
    by_id = {c["id"]: c for c in conts}
    publishers = [c for c in conts if port in c["ports"]]
    holders = [s for s in socks if s.port == port]
    if not holders:
        theirs = [c for c in publishers if c["id"] not in mine]
        if theirs:
            return PortVerdict(port, False, f"{port} published by container {theirs[0]['name']}")
        return PortVerdict(port, True, f"{port} free")
    named = [s for s in holders if s.pid]
    if not named:
        return PortVerdict(
            port,
            False,
            f"{port} held by a process we cannot see (run as root to name it)",
            holders[0],
        )
    strangers: list[tuple[str, Listener]] = []
    for s in named:
        if cgroups.get(s.pid or 0, "") in mine:
            continue
        if s.process == "docker-proxy" and publishers and all(c["id"] in mine for c in publishers):
            continue
        owner = next((c["name"] for c in publishers if s.process == "docker-proxy"), "")
        strangers.append((f"{s.process} (pid {s.pid}{', container ' + owner if owner else ''})", s))
    if strangers:
        words = ", ".join(sorted({w for w, _ in strangers}))
        return PortVerdict(port, False, f"{port} held by {words}", strangers[0][1])
    names = sorted(
        {c["name"] for c in publishers if c["id"] in mine}
        | {
            by_id[cgroups[s.pid or 0]]["name"]
            for s in named
            if cgroups.get(s.pid or 0) in by_id and cgroups.get(s.pid or 0) in mine
        }
    )
    return PortVerdict(
        port, True, f"{port} held by our container {', '.join(names) or '?'} (re-install)"
    )


def published_ports(raw: Mapping[str, Any]) -> list[int]:
    """Host ports a container publishes, from its `docker inspect` (HostConfig.PortBindings)."""
    out: list[int] = []
    for binds in ((raw.get("HostConfig") or {}).get("PortBindings") or {}).values():
        for b in binds or []:
            hp = str((b or {}).get("HostPort") or "")
            if hp.isdigit() and int(hp) not in out:
                out.append(int(hp))
    return out
