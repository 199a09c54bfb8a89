"""Network facts and the ONE rule for which interfaces count: physical, LAN, virtual.

The rule decides by the kernel wherever the host shows it (``/sys/class/net/<if>``): an
interface with a ``device`` link is backed by hardware (PCI, USB, virtio); bridges, bonds,
teams, VLANs, tunnels, veth pairs, WireGuard and the like have none. Two consumers ask two
questions of the same evidence:

- *identity* (fingerprint): the physical NICs themselves, whose permanent MACs name the
  machine (a bond's slaves count with their ``perm_hwaddr``; the bond does not);
- *LAN* (envcheck "wired LAN", the default LAN address): the interface that carries the LAN
  address -- a physical NIC, or a bond/team/bridge/VLAN stacked on one (``lower_*`` links).

Only where a host gives no sysfs evidence (an old recording) do names decide, with one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from installer.facts.fact import Unavailable
from installer.facts.parse import _require_ok
from installer.hosts.base import Result

__all__ = ["Unavailable"]

# Names that are never hardware, used only when the host shows no sysfs evidence.
VIRTUAL_NAMES = re.compile(
    r"^(lo|docker\d*|veth.*|br-.*|virbr.*|vnet\d+|tun.*|tap.*|cni.*|flannel.*|cali.*|weave.*|"
    r"vxlan.*|kube-.*|cilium.*|ifb\d*|dummy\d*|wg.*|podman\d*|macvtap.*|ip6?tnl.*|sit\d+|"
    r"gre.*|erspan.*|nlmon.*|zt.*|tailscale.*|nebula.*|lxcbr.*|lxc.*|genev.*|ovs-.*)$"
)
# Aggregates that may carry the LAN address but are not a NIC themselves (names only).
AGGREGATE_NAMES = re.compile(r"^(bond\d+|team\d+|br\d+|.+\.\d+)$")
OVERLAY_KINDS = ("tun", "vxlan", "geneve", "wireguard", "macvtap", "ipvlan", "gre", "ipip", "sit")
"""Devices stacked on a NIC that carry someone else's traffic (tunnels, a VM's tap), not the
host's LAN address; bridges, bonds, teams, VLANs and macvlans over a physical NIC do."""


@dataclass(frozen=True)
class Iface:
    """One interface as sysfs shows it (``seen`` False: only its name is known)."""

    name: str
    seen: bool = False
    device: bool = False
    kind: str = ""
    """bridge, bond, team, vlan, tun, wlan, wireguard, ... (uevent DEVTYPE or sysfs markers)."""
    arp_type: int = 1
    wireless: bool = False
    state: str = ""
    address: str = ""
    addr_assign_type: str = ""
    perm_hwaddr: str = ""
    lower: tuple[str, ...] = ()
    legacy: bool = False
    """From the older sysfs loop: device and wireless known, the kind and lower links not."""

    @property
    def physical(self) -> bool:
        """A NIC of its own: hardware-backed ethernet, not a bridge/bond/tunnel on top."""
        if not self.seen:
            return not VIRTUAL_NAMES.match(self.name) and not AGGREGATE_NAMES.match(self.name)
        return (
            self.device
            and self.arp_type == 1
            and self.kind not in ("bridge", "bond", "team", "tun", "vlan")
        )


def carries_lan(name: str, ifaces: Mapping[str, Iface], _depth: int = 0) -> bool:
    """May ``name`` carry the LAN address? Physical, or stacked on a physical NIC (its
    ``lower_*`` / ``brif`` / bonding slaves lead to one): a bond of two NICs, br0 over eno1,
    eth0.100 -- but not docker0, virbr0 or cni0, whose ports are veth and tap devices."""
    iface = ifaces.get(name.split("@")[0]) or Iface(name.split("@")[0])
    if iface.physical:
        return True
    if not iface.seen or (iface.legacy and not iface.device):
        return bool(AGGREGATE_NAMES.match(iface.name)) and not VIRTUAL_NAMES.match(iface.name)
    if _depth > 4 or iface.kind in OVERLAY_KINDS:
        return False
    return any(carries_lan(low, ifaces, _depth + 1) for low in iface.lower)


def identity_nics(ifaces: Mapping[str, Iface]) -> tuple[list[Iface], list[str]]:
    """(physical NICs, names of the others) for a machine's identity."""
    nics = [i for i in ifaces.values() if i.physical]
    others = [n for n, i in ifaces.items() if not i.physical]
    return sorted(nics, key=lambda i: i.name), sorted(others)


def net_interfaces(r: Result) -> dict[str, Iface]:
    """Our sysfs loop ('@if NAME' then key=value lines), or the older one-line-per-interface
    recording ('name device|virtual wireless|wired operstate')."""
    out: dict[str, Iface] = {}
    cur: Optional[dict[str, Any]] = None

    def close() -> None:
        if cur is not None:
            out[cur["name"]] = _iface(cur)

    for line in r.stdout.splitlines():
        if line.startswith("@if "):
            close()
            cur = {"name": line[4:].strip(), "lower": []}
        elif cur is not None and "=" in line:
            key, _, value = line.partition("=")
            if key == "lower":
                cur["lower"].append(value.strip())
            else:
                cur.setdefault(key, value.strip())
        elif cur is None:
            fields = line.split()
            if len(fields) >= 3 and fields[1] in ("device", "virtual"):
                out[fields[0]] = Iface(
                    fields[0],
                    seen=True,
                    device=fields[1] == "device",
                    wireless=fields[2] == "wireless",
                    kind="wlan" if fields[2] == "wireless" else "",
                    state=fields[3] if len(fields) > 3 else "",
                    legacy=True,
                )
    close()
    return out


def _iface(kv: dict[str, Any]) -> Iface:
    kind = kv.get("devtype", "")
    for marker in ("bridge", "bond", "tun"):
        if kv.get(marker):
            kind = kind or marker
    wireless = bool(kv.get("wireless")) or kind == "wlan"
    arp = kv.get("type", "1")
    return Iface(
        kv["name"],
        seen=True,
        device=bool(kv.get("device")),
        kind=kind or ("wlan" if wireless else ""),
        arp_type=int(arp) if arp.isdigit() else 1,
        wireless=wireless,
        state=kv.get("operstate", ""),
        address=kv.get("address", ""),
        addr_assign_type=kv.get("addr_assign_type", ""),
        perm_hwaddr=kv.get("bonding_slave/perm_hwaddr", ""),
        lower=tuple(kv.get("lower", [])),
    )


def lan_addresses(
    addrs: Iterable[Mapping[str, str]], ifaces: Mapping[str, Iface], default_dev: Optional[str]
) -> list[tuple[str, str]]:
    """[(iface, IPv4)] that may be the LAN address; the default route's interface first."""
    found = []
    for a in addrs:
        name = a["iface"].split("@")[0]
        ip = a["address"].split("/")[0]
        if a.get("scope") == "host" or ip.startswith("127."):
            continue
        if carries_lan(name, ifaces) and not (ifaces.get(name) and ifaces[name].wireless):
            found.append((name, ip))
    found.sort(key=lambda pair: pair[0] != default_dev)
    return found


def default_route_dev(r: Result) -> str:
    """`ip -4 route show default` -> the interface of the default route ('' when none)."""
    m = re.search(r"\bdev\s+(\S+)", r.stdout if r.ok else "")
    return m.group(1) if m else ""


def ip_addresses(r: Result) -> list[dict[str, str]]:
    """`ip -4 -o addr show` -> [{'iface', 'address', 'scope'}]."""
    out = []
    for line in _require_ok(r, "ip").splitlines():
        m = re.match(r"\d+:\s+(\S+)\s+inet\s+(\S+)(?:.*?\bscope\s+(\S+))?", line)
        if m:
            out.append({"iface": m.group(1), "address": m.group(2), "scope": m.group(3) or ""})
    return out


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else -1


def ss_listeners(r: Result) -> list[dict[str, Any]]:
    """`ss -ltnp` (old iproute2 on CentOS 7 and new): address, port, processes [(name, pid)]."""
    text = _require_ok(r, "ss")
    out = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] != "LISTEN" or len(fields) < 4:
            continue
        host, port = _split_addr(fields[3])
        procs = [
            {"name": name, "pid": int(pid)}
            for name, pid in re.findall(r'\("([^"]*)",pid=(\d+)', line)
        ]
        out.append({"address": host, "port": port, "processes": procs})
    return out


def netstat_listeners(r: Result) -> list[dict[str, Any]]:
    """`netstat -ltnp` (net-tools), the fallback where ss is missing."""
    text = _require_ok(r, "netstat")
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[0].startswith("tcp") or "LISTEN" not in fields:
            continue
        host, port = _split_addr(fields[3])
        procs = []
        last = fields[-1]
        if "/" in last and last.split("/", 1)[0].isdigit():
            pid, name = last.split("/", 1)
            procs.append({"name": name, "pid": int(pid)})
        out.append({"address": host, "port": port, "processes": procs})
    return out


def pid_containers(r: Result) -> dict[int, str]:
    """'PID <line of /proc/PID/cgroup>' lines (or recorded 'PID CONTAINER_ID') -> the 64-hex
    container ID of each listening PID that runs in a container."""
    out: dict[int, str] = {}
    for line in r.stdout.splitlines():
        pid, _, rest = line.strip().partition(" ")
        m = _CONTAINER_ID.search(rest)
        if pid.isdigit() and m and int(pid) not in out:
            out[int(pid)] = m.group(0)
    return out


_CONTAINER_ID = re.compile(r"[0-9a-f]{64}")
