"""Small host facts the engine needs for defaults: LAN address, GPUs, whether we are root."""

from __future__ import annotations

import os
import re
from typing import Optional

from installer.hosts.base import Host

VIRTUAL_IFACES = (
    "lo",
    "docker",
    "veth",
    "br-",
    "virbr",
    "cni",
    "flannel",
    "cali",
    "tun",
    "tap",
    "vxlan",
    "kube",
)


def parse_ipv4_addrs(text: str) -> list[tuple[str, str]]:
    """`ip -4 -o addr show` -> [(iface, address)], virtual and loopback interfaces left out."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+([\d.]+)/\d+", line)
        if not m:
            continue
        iface, addr = m.groups()
        if iface.startswith(VIRTUAL_IFACES) or addr.startswith("127."):
            continue
        out.append((iface, addr))
    return out


def lan_ipv4(host: Host) -> Optional[str]:
    res = host.run(["ip", "-4", "-o", "addr", "show", "scope", "global"])
    addrs = parse_ipv4_addrs(res.stdout) if res.ok else []
    return addrs[0][1] if addrs else None


def parse_nvidia_smi_list(text: str) -> list[str]:
    """`nvidia-smi -L` -> GPU indexes as strings ('GPU 0: Tesla P4 (UUID: ...)')."""
    return re.findall(r"^GPU (\d+):", text, flags=re.MULTILINE)


def gpu_indexes(host: Host) -> list[str]:
    res = host.run(["nvidia-smi", "-L"], timeout=30)
    return parse_nvidia_smi_list(res.stdout) if res.ok else []


def is_root(host: Host) -> bool:
    if host.is_local:
        return os.geteuid() == 0
    res = host.run(["id", "-u"])
    return res.ok and res.stdout.strip() == "0"


class LazyFacts:
    """Facts for Jinja defaults, read only when a default actually uses them."""

    def __init__(self, host: Host) -> None:
        self._host = host
        self._lan: Optional[str] = None

    @property
    def lan_ip(self) -> str:
        if self._lan is None:
            self._lan = lan_ipv4(self._host) or ""
            if not self._lan:
                from installer.errors import HostError

                raise HostError(
                    f"{self._host.name} has no LAN IPv4 address for a default; pass the address "
                    f"with --set (e.g. --set license_server_host=10.0.0.5)"
                )
        return self._lan
