"""Components from facts: which of a host's facts name the machine, and why one is missing.

Nothing here reads a host or parses command output: the facts arrive parsed
(``installer.facts``), gathered once per run; this module chooses the identity components
(machine ID, DMI serials, root disk serials, physical NICs' permanent MACs, CPU model, GPU
UUIDs), cleans placeholder values, and words the reason for each one it could not use.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Dict, List, Mapping, Optional, Tuple

from fingerprint.model import COMPONENTS, Fingerprint
from fingerprint.placeholders import clean_value
from installer.facts import disks, net
from installer.facts.fact import FactResult
from installer.facts.snapshot import virt_of

Facts = Mapping[str, FactResult]

DMI_COMPONENTS = (
    ("product_uuid", "product_uuid"),
    ("board_serial", "board_serial"),
    ("system_serial", "product_serial"),
)


def _status(r: Optional[FactResult]) -> str:
    """'ok', 'missing' or 'denied' for a file fact."""
    if r is None:
        return "missing"
    if r.raw.rc == 0:
        return "ok"
    return "denied" if "Permission denied" in r.raw.stderr else "missing"


def _reason(status: str, dmi: bool, uid: Optional[int]) -> str:
    if status == "denied":
        return "permission denied: run as root"
    if dmi and uid not in (0, None):
        return "not readable without root: run as root"
    if dmi:
        return "no DMI data on this machine (/sys/class/dmi/id)"
    return "not present on this machine"


def _file_value(
    f: Facts, key: str, kind: str, missing: Dict[str, str], uid: Optional[int]
) -> Optional[str]:
    r = f.get(key)
    status = _status(r)
    if status != "ok" or r is None:
        missing[kind] = _reason(status, False, uid)
        return None
    value, why = clean_value(kind, r.raw.stdout)
    if value is None:
        missing[kind] = why
    return value


def _dmi_value(
    f: Facts, name: str, kind: str, missing: Dict[str, str], uid: Optional[int]
) -> Optional[str]:
    r = f["dmi"]
    values = r.value or {}
    if name not in values:
        denied = f"#denied {name}" in r.raw.stdout.splitlines()
        missing[kind] = _reason("denied" if denied else "missing", True, uid)
        return None
    value, why = clean_value(kind, values[name])
    if value is None:
        missing[kind] = why
    return value


def _nics(ifaces: Mapping[str, net.Iface]) -> Tuple[List[str], List[Tuple[str, str]], List[str]]:
    """Physical NICs (the one NIC rule): (names, [(name, permanent MAC)], ignored names)."""
    nics, ignored = net.identity_nics(ifaces)
    names: List[str] = []
    macs: List[Tuple[str, str]] = []
    for nic in nics:
        if nic.addr_assign_type in ("1", "3") and not nic.perm_hwaddr:
            ignored.append(nic.name)  # random or user-set MAC: changes, so not an identity
            continue
        names.append(nic.name)
        value, _ = clean_value("macs", nic.perm_hwaddr or nic.address)
        if value:
            macs.append((nic.name, value))
    return names, macs, sorted(ignored)


def _root_disk_serials(f: Facts) -> Tuple[List[str], str]:
    majmin, source = disks.root_mount(f["rootmount"].raw)
    devices = disks.blocks(f["blocks"].raw)
    found, why = disks.root_disks(devices, majmin, source)
    if not found:
        return [], why
    serials: List[str] = []
    rejected = ""
    for disk in found:
        attrs = devices[disk].attrs
        for key in disks.SERIAL_KEYS:
            value, reason = clean_value("disk_serials", attrs.get(key, ""))
            if value:
                serials.append(value)
                break
            if attrs.get(key, "").strip():
                rejected = reason
    if not serials:
        return [], f"root disk {', '.join(found)}: {rejected or 'reports no serial'}"
    return serials, ""


def _ips(f: Facts, ifaces: Mapping[str, net.Iface]) -> Tuple[Optional[str], List[Dict[str, str]]]:
    """(primary LAN IPv4, LAN IPv4s): the default route's interface first (the one LAN rule)."""
    addrs = f["ip_addr"].value or []
    default_dev = f["ip_route"].value or ""
    lan = net.lan_addresses(addrs, ifaces, default_dev)
    primary = next(
        (a["address"].split("/")[0] for a in addrs if a["iface"].split("@")[0] == default_dev),
        None,
    )
    if primary is None and lan:
        primary = lan[0][1]
    shown = [{"iface": n, "ip": ip} for n, ip in lan]
    if primary and all(a["ip"] != primary for a in shown):
        shown.insert(0, {"iface": default_dev or "?", "ip": primary})
    return primary, shown


_VM_WORDS = {
    "detect-virt": "systemd-detect-virt --vm: {}",
    "cpu-flag": "CPU flag: {}",
}
_CONTAINER_WORDS = {
    "detect-virt": "systemd-detect-virt --container: {}",
    "marker": "{}",
    "systemd": "/run/systemd/container: {}",
    "cgroup": "/proc/1/cgroup: {}",
}


def _virt(f: Facts) -> Dict[str, Any]:
    """The one VM/container verdict, worded as fingerprint labels have always been."""
    virt = virt_of(dict(f))
    dmi = " / ".join(
        v for v in (clean_value("", x)[0] for x in (virt.dmi_vendor or "").split(" / ")) if v
    )
    vm_ev: List[str] = []
    for src, detail in virt.vm_evidence:
        if src == "dmi":
            if f"DMI: {dmi}" not in vm_ev:
                vm_ev.append(f"DMI: {dmi}")
        else:
            vm_ev.append(_VM_WORDS[src].format(detail))
    vm_ev.sort(key=lambda e: 0 if e.startswith("systemd") else 1 if e.startswith("DMI") else 2)
    c_ev = [_CONTAINER_WORDS[src].format(d) for src, d in virt.container_evidence]
    return {
        "vm": virt.vm,
        "vm_evidence": vm_ev,
        "container": virt.container,
        "container_evidence": c_ev,
        "dmi_vendor": dmi or None,
    }


def _cpu(f: Facts) -> Tuple[Optional[str], Optional[int]]:
    model: Optional[str] = None
    r = f["cpu_flags"]
    for line in r.raw.stdout.splitlines() if r.raw.rc == 0 else []:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model", "processor") and value.strip():
            if key != "processor" or not value.strip().isdigit():
                model = model or " ".join(value.split())
    count = None
    online = f["cpu_online"]
    if online.ok and online.value:
        count = 0
        for part in str(online.value).split(","):
            lo, _, hi = part.partition("-")
            if lo.isdigit():
                count += (int(hi) - int(lo) + 1) if hi.isdigit() else 1
    return model, count


def _gpus(f: Facts) -> Tuple[List[str], List[str], Optional[str]]:
    smi = f["nvidia_smi"]
    if smi.raw.not_found:
        return [], [], "nvidia-smi not installed (no NVIDIA driver)"
    models: List[str] = []
    uuids: List[str] = []
    rejected = ""
    for gpu in smi.value or []:
        models.append(gpu["name"])
        value, why = clean_value("gpu_uuids", gpu.get("uuid", ""))
        if value:
            uuids.append(value)
        else:
            rejected = why
    if not uuids:
        return models, [], rejected or f"nvidia-smi listed no GPU (rc={smi.raw.rc})"
    return models, uuids, None


def _npus(f: Facts) -> Tuple[List[str], List[str], Optional[str]]:
    """Ascend chips by name (labels) and each board's serial (``npu-smi info -t board``).
    No reason when npu-smi is absent: most machines have no Ascend card (unlike a GPU, whose
    missing driver is worth saying)."""
    smi, boards = f.get("npu_smi"), f.get("npu_boards")
    if smi is None or boards is None or boards.raw.not_found:
        return [], [], None
    models = [c["name"] for c in (smi.value or {}).get("npus", [])] if smi.ok else []
    serials: List[str] = []
    rejected = ""
    for board in boards.value or []:
        value, why = clean_value("npu_serials", board.get("Serial Number", ""))
        if value:
            serials.append(value)
        else:
            rejected = f"NPU {board.get('npu')}: {why}"
    if serials:
        return models, serials, None
    return models, [], rejected or f"npu-smi listed no board serial ({boards.error or 'none'})"


def _os_name(f: Facts) -> Optional[str]:
    osr = f["os_release"]
    if osr.ok and (osr.value.get("PRETTY_NAME") or osr.value.get("NAME")):
        return str(osr.value.get("PRETTY_NAME") or osr.value.get("NAME"))
    rh = f["redhat_release"].raw
    return rh.stdout.strip().splitlines()[0] if rh.rc == 0 and rh.stdout.strip() else None


def build_fingerprint(f: Facts) -> Fingerprint:
    """Raw components, labels and reasons for what is missing, from one host's facts."""
    uid = f["uid"].value if f["uid"].ok else None
    missing: Dict[str, str] = {}
    raw: Dict[str, Tuple[str, ...]] = {}

    mid = _file_value(f, "machine_id", "machine_id", missing, uid)
    if mid is None and _status(f.get("dbus_machine_id")) == "ok":
        reason = missing.pop("machine_id")
        mid = _file_value(f, "dbus_machine_id", "machine_id", missing, uid)
        if mid is None:
            missing["machine_id"] = reason
    for kind, name in DMI_COMPONENTS:
        value = _dmi_value(f, name, kind, missing, uid)
        if value is not None:
            raw[kind] = (value,)
    if mid is not None:
        raw["machine_id"] = (mid,)

    serials, why = _root_disk_serials(f)
    if serials:
        raw["disk_serials"] = tuple(serials)
    else:
        missing["disk_serials"] = why

    ifaces = f["net_ifaces"].value or {}
    nic_names, macs, ignored = _nics(ifaces)
    if macs:
        raw["macs"] = tuple(mac for _, mac in macs)
    elif nic_names:
        missing["macs"] = f"physical NIC(s) {', '.join(nic_names)} have placeholder MACs"
    else:
        missing["macs"] = "no physical NIC found" + (
            f" (ignored virtual: {', '.join(ignored)})" if ignored else ""
        )

    cpu_model, cpu_count = _cpu(f)
    if cpu_model:
        value, why = clean_value("cpu_model", cpu_model)
        if value:
            raw["cpu_model"] = (value,)
        else:
            missing["cpu_model"] = why
    else:
        missing["cpu_model"] = "no CPU model in /proc/cpuinfo"

    gpu_models, gpu_uuids, gpu_why = _gpus(f)
    if gpu_uuids:
        raw["gpu_uuids"] = tuple(gpu_uuids)
    elif gpu_why:
        missing["gpu_uuids"] = gpu_why

    npu_models, npu_serials, npu_why = _npus(f)
    if npu_serials:
        raw["npu_serials"] = tuple(npu_serials)
    elif npu_why:
        missing["npu_serials"] = npu_why

    mem = f["meminfo"].value.get("MemTotal") if f["meminfo"].ok else None
    host = f["hostname"].value if f["hostname"].ok else None
    uname = f["uname"].value if f["uname"].ok else {}
    primary, ips = _ips(f, ifaces)
    labels: Dict[str, Any] = {
        "hostname": host or None,
        "primary_ip": primary,
        "ips": ips,
        "os": _os_name(f),
        "kernel": uname.get("release") or None,
        "arch": uname.get("machine") or None,
        "cpu_model": cpu_model,
        "cpu_count": cpu_count,
        "memory_bytes": mem * 1024 if mem else None,
        "gpus": gpu_models,
        "npus": npu_models,
        "nics": sorted(nic_names),
        "ignored_nics": sorted(ignored),
        "collected_as_root": uid == 0 if uid is not None else None,
    }
    labels.update(_virt(f))
    return Fingerprint(
        raw={k: raw[k] for k in COMPONENTS if k in raw},
        labels=labels,
        missing={k: missing[k] for k in COMPONENTS if k in missing},
        collected_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    )
