"""Machine facts: GPUs, virtualisation, CPU; and the ONE rule for "is this a VM or a container".

Every consumer (envcheck's ``physical`` item, fingerprint labels, the license's VM verdict)
reads the same ``Virt`` value; each words the evidence its own way for its own readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional

from installer.facts.fact import Unavailable
from installer.hosts.base import Result

VM_VENDORS = re.compile(
    r"qemu|kvm|vmware|virtualbox|innotek|xen|bochs|parallels|bhyve|openstack|hyper-v|"
    r"microsoft corporation.*virtual|virtual machine|amazon ec2|google|alibaba cloud|"
    r"nutanix|proxmox|firecracker",
    re.IGNORECASE,
)
CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc|crio", re.IGNORECASE)
DMI_VM_FIELDS = ("sys_vendor", "product_name", "bios_vendor", "board_vendor")


def nvidia_smi_csv(r: Result) -> list[dict[str, Any]]:
    """`nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id,uuid --format=csv`
    (recordings without the uuid column parse too: its value is then '')."""
    if r.not_found:
        raise Unavailable("nvidia-smi: command not found (NVIDIA driver not installed)")
    if not r.ok:
        raise Unavailable(f"nvidia-smi failed: {r.first_error_line()}")
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    if not lines:
        return []
    header = [h.strip().split(" [")[0] for h in lines[0].split(",")]
    gpus = []
    for line in lines[1:]:
        values = [v.strip() for v in line.split(",")]
        row = dict(zip(header, values))
        mem = re.match(r"(\d+)", row.get("memory.total", ""))
        gpus.append(
            {
                "index": row.get("index", ""),
                "name": row.get("name", ""),
                "memory_mib": int(mem.group(1)) if mem else 0,
                "driver": row.get("driver_version", ""),
                "bus_id": row.get("pci.bus_id", ""),
                "uuid": row.get("uuid", ""),
            }
        )
    return gpus


def pci_devices(r: Result) -> list[dict[str, str]]:
    """Our sysfs loop: 'slot class device' per NVIDIA (vendor 0x10de) PCI function."""
    out = []
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            out.append({"slot": fields[0], "class": fields[1], "device": fields[2]})
    return out


def detect_virt(r: Result) -> str:
    """`systemd-detect-virt --vm|--container`: 'kvm', 'docker' ... or 'none' (rc 1)."""
    if r.not_found:
        raise Unavailable("systemd-detect-virt: command not found")
    text = r.stdout.strip()
    if not text:
        raise Unavailable(r.first_error_line())
    return text.splitlines()[0].strip()


def dmi(r: Result) -> dict[str, str]:
    """`grep -s -H . /sys/class/dmi/id/...` -> {'sys_vendor': 'QEMU', ...}."""
    out = {}
    for line in r.stdout.splitlines():
        path, sep, value = line.partition(":")
        if sep:
            out[path.rsplit("/", 1)[-1]] = value.strip()
    return out


@dataclass(frozen=True)
class Virt:
    """VM and container verdict with its evidence as (source, detail) pairs.

    Sources: 'detect-virt' (systemd-detect-virt), 'dmi' (detail 'field=value'), 'cpu-flag',
    'marker' (/.dockerenv, /run/.containerenv), 'systemd' (/run/systemd/container), 'cgroup'.
    """

    vm: Optional[str] = None
    container: Optional[str] = None
    vm_evidence: tuple[tuple[str, str], ...] = ()
    container_evidence: tuple[tuple[str, str], ...] = ()
    dmi_vendor: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def virtual(self) -> bool:
        return bool(self.vm_evidence or self.container_evidence)


def virtualization(
    *,
    detect_vm: str = "",
    detect_container: str = "",
    cpu_flags: Iterable[str] = (),
    dmi_values: Optional[Mapping[str, str]] = None,
    markers: Iterable[str] = (),
    systemd_container: str = "",
    pid1_cgroup: str = "",
) -> Virt:
    """The one VM/container rule over every piece of evidence a host gives."""
    vm_ev: list[tuple[str, str]] = []
    vm = detect_vm if detect_vm and detect_vm != "none" else None
    if vm:
        vm_ev.append(("detect-virt", vm))
    dmi_values = dmi_values or {}
    shown = [dmi_values[k] for k in DMI_VM_FIELDS if dmi_values.get(k)]
    for name, value in sorted(dmi_values.items()):
        if name in DMI_VM_FIELDS and VM_VENDORS.search(value):
            vm_ev.append(("dmi", f"{name}={value}"))
    for name in DMI_VM_FIELDS:
        found = VM_VENDORS.search(dmi_values.get(name) or "")
        if found and not vm:
            vm = found.group(0).lower()
    if "hypervisor" in cpu_flags:
        vm_ev.append(("cpu-flag", "hypervisor"))
        vm = vm or "unknown hypervisor"
    c_ev: list[tuple[str, str]] = []
    container = detect_container if detect_container and detect_container != "none" else None
    if container:
        c_ev.append(("detect-virt", container))
    for marker in markers:
        c_ev.append(("marker", marker))
        container = container or ("podman" if "containerenv" in marker else "docker")
    if systemd_container.strip():
        c_ev.append(("systemd", systemd_container.strip()))
        container = container or systemd_container.strip()
    m = CONTAINER_CGROUP.search(pid1_cgroup or "")
    if m:
        c_ev.append(("cgroup", m.group(0)))
        container = container or m.group(0).lower()
    return Virt(vm, container, tuple(vm_ev), tuple(c_ev), " / ".join(shown) or None)
