"""Disk facts: block devices from sysfs and the root mount, and which disks lie under ``/``.

Parsed from the ``blocks`` and ``rootmount`` facts (builtin sysfs/procfs loops, see
``installer.facts.catalog``). Which serial names a disk is fingerprint's choice; what the disks
are, and which of them hold the root filesystem, is a fact of the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from installer.hosts.base import Result

SERIAL_KEYS = (
    "udev_ID_SERIAL_SHORT",
    "udev_ID_SERIAL",
    "device/serial",
    "serial",
    "udev_ID_WWN",
    "device/wwid",
    "wwid",
)
"""Where a disk's serial may be, best first."""


@dataclass(frozen=True)
class Block:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    slaves: tuple[str, ...] = ()
    parts: tuple[tuple[str, str], ...] = ()  # (partition name, MAJ:MIN)


def blocks(r: Result) -> dict[str, Block]:
    """'@block NAME' then key=value, slave=..., part=NAME MAJ:MIN lines per device."""
    out: dict[str, Block] = {}
    name: Optional[str] = None
    attrs: dict[str, str] = {}
    slaves: list[str] = []
    parts: list[tuple[str, str]] = []

    def close() -> None:
        if name is not None:
            out[name] = Block(name, dict(attrs), tuple(slaves), tuple(parts))

    for line in r.stdout.splitlines():
        if line.startswith("@block "):
            close()
            name, attrs, slaves, parts = line[7:].strip(), {}, [], []
        elif name is None:
            continue
        elif line.startswith("slave="):
            slaves.append(line[6:])
        elif line.startswith("part="):
            pname, _, pdev = line[5:].partition(" ")
            parts.append((pname, pdev))
        else:
            key, sep, value = line.partition("=")
            if sep:
                attrs.setdefault(key, value.strip())
    close()
    return out


def root_mount(r: Result) -> tuple[str, str]:
    """(MAJ:MIN, source device) of ``/`` from our mountinfo loop ('' when not found)."""
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    if not lines:
        return "", ""
    fields = lines[-1].split()
    return fields[0], fields[-2] if len(fields) >= 2 else ""


def root_disks(devices: dict[str, Block], majmin: str, source: str) -> tuple[list[str], str]:
    """(whole disks under ``/``, '' or why none): follows partitions, LVM/dm and md slaves."""
    if not majmin:
        return [], "root mount not found in /proc/self/mountinfo"
    by_dev: dict[str, str] = {}
    parent: dict[str, str] = {}
    for name, blk in devices.items():
        if blk.attrs.get("dev"):
            by_dev[blk.attrs["dev"]] = name
        for pname, pdev in blk.parts:
            parent[pname] = name
            if pdev:
                by_dev[pdev] = pname
    start = by_dev.get(majmin)
    if start is None and source.startswith("/dev/"):
        start = source[5:]
    if start is None or (start not in devices and start not in parent):
        return [], f"root filesystem is not on a local disk ({source or majmin}; container?)"
    disks: list[str] = []
    todo, seen = [start], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in parent:
            todo.append(parent[name])
        elif devices.get(name) and devices[name].slaves:
            todo.extend(devices[name].slaves)
        elif name in devices:
            disks.append(name)
    return sorted(disks), "" if disks else f"root disk {start}: not found"
