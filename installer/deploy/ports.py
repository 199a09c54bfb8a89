"""Who listens on a port: a port held by something that is not ours blocks an install.

On this machine psutil names the process; on a remote host `ss -ltnp` is parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

import psutil

from installer.hosts.base import Host


@dataclass(frozen=True)
class Listener:
    port: int
    pid: Optional[int]
    process: str


def parse_ss(text: str) -> list[Listener]:
    """`ss -ltnpH` lines: LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].startswith("LISTEN"):
            continue
        local = fields[3]
        m = re.search(r":(\d+)$", local)
        if not m:
            continue
        users = re.search(r'users:\(\("([^"]+)",pid=(\d+)', line)
        out.append(
            Listener(
                int(m.group(1)),
                int(users.group(2)) if users else None,
                users.group(1) if users else "?",
            )
        )
    return out


def listeners(host: Host) -> list[Listener]:
    if host.is_local:
        found = []
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                name = "?"
                if conn.pid:
                    try:
                        name = psutil.Process(conn.pid).name()
                    except psutil.Error:
                        pass
                found.append(Listener(conn.laddr.port, conn.pid, name))
        return found
    res = host.run(["ss", "-ltnpH"])
    if res.not_found:
        res = host.run(["ss", "-ltnp"])
    return parse_ss(res.stdout)


def descends_from(pid: Optional[int], roots: Iterable[int], host: Host) -> bool:
    """Is `pid` a container process of ours (its ancestry reaches one of our containers' PIDs)?"""
    roots = set(r for r in roots if r)
    if not pid or not roots:
        return False
    if host.is_local:
        try:
            proc: Optional[psutil.Process] = psutil.Process(pid)
            while proc is not None:
                if proc.pid in roots:
                    return True
                proc = proc.parent()
        except psutil.Error:
            return False
        return False
    current = pid
    for _ in range(64):
        if current in roots:
            return True
        res = host.run(["sh", "-c", f"awk '/^PPid:/{{print $2}}' /proc/{current}/status"])
        if not res.ok or not res.stdout.strip().isdigit():
            return False
        current = int(res.stdout.strip())
        if current <= 1:
            return current in roots
    return False
