"""Read a machine's fingerprint through a Host in one shell round trip.

One POSIX ``sh`` script reads every file with shell builtins (no forks, so it is fast and
needs nothing on the target but ``sh``) and runs the few commands that have no file
equivalent. Each section starts with a marker line, so the parser works on recorded output
and over SSH alike. Every path is prefixed with ``root`` so unit tests point it at fake
``/sys``, ``/proc`` and ``/etc`` trees; commands are found on ``PATH`` (tests stub them).
"""

from __future__ import annotations

import datetime as _dt
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from fingerprint.errors import FingerprintError
from fingerprint.model import COMPONENTS, Fingerprint
from fingerprint.placeholders import clean_value
from installer.hosts.base import Host

MARKER = "@@sealbox-fp@@"

_SCRIPT = r"""# sealbox fingerprint collect v1
R=__ROOT__
M='__MARKER__'
m() { printf '%s %s %s\n' "$M" "$1" "$2"; }
r() {
  if [ ! -e "$R$2" ]; then m "$1" missing
  elif [ ! -r "$R$2" ]; then m "$1" denied
  else v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$R$2"; m "$1" ok; printf '%s\n' "$v"; fi
}
f() {
  if [ ! -e "$R$2" ]; then m "$1" missing
  elif [ ! -r "$R$2" ]; then m "$1" denied
  else m "$1" ok; n=0
    while IFS= read -r l || [ -n "$l" ]; do
      if [ -z "$l" ] && [ "$3" = block ]; then break; fi
      case $l in "$M"*) continue;; esac
      printf '%s\n' "$l"; n=$((n+1)); [ "$n" -ge 300 ] && break
    done 2>/dev/null <"$R$2"
  fi
}
c() {
  k=$1; shift
  if command -v "$1" >/dev/null 2>&1; then o=$("$@" 2>/dev/null); m "$k" "rc=$?"
    [ -n "$o" ] && printf '%s\n' "$o"
  else m "$k" notfound; fi
}
e() { if [ -e "$R$2" ]; then m "$1" present; else m "$1" missing; fi; }
r machine_id /etc/machine-id
r dbus_machine_id /var/lib/dbus/machine-id
for a in product_uuid board_serial product_serial sys_vendor product_name board_vendor \
         bios_vendor chassis_vendor; do r "dmi_$a" "/sys/class/dmi/id/$a"; done
r hostname /proc/sys/kernel/hostname
r kernel /proc/sys/kernel/osrelease
r cpu_online /sys/devices/system/cpu/online
r meminfo /proc/meminfo
f os_release /etc/os-release
r redhat_release /etc/redhat-release
f cpuinfo /proc/cpuinfo block
f cgroup1 /proc/1/cgroup
r systemd_container /run/systemd/container
e dockerenv /.dockerenv
e containerenv /run/.containerenv
m uid ok
while IFS= read -r l; do case $l in Uid:*) printf '%s\n' "$l";; esac; done 2>/dev/null \
  <"$R/proc/self/status"
m rootmount ok
while read -r a b mm rt mp rest; do [ "$mp" = / ] && printf '%s %s\n' "$mm" "$rest"; done \
  2>/dev/null <"$R/proc/self/mountinfo"
for d in "$R"/sys/class/net/*; do
  [ -e "$d" ] || continue
  m net "${d##*/}"
  [ -e "$d/device" ] && echo device=1
  [ -d "$d/bridge" ] && echo bridge=1
  [ -d "$d/bonding" ] && echo bond=1
  [ -e "$d/tun_flags" ] && echo tun=1
  [ -d "$d/wireless" ] && echo wireless=1
  for a in address type addr_assign_type bonding_slave/perm_hwaddr; do
    if [ -r "$d/$a" ]; then v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/$a"
      printf '%s=%s\n' "$a" "$v"; fi
  done
done
for d in "$R"/sys/block/*; do
  [ -e "$d" ] || continue
  n=${d##*/}
  case $n in loop*|ram*|zram*|fd*|sr*|nbd*) continue;; esac
  m block "$n"
  dev=
  for a in dev serial device/serial device/wwid wwid; do
    if [ -r "$d/$a" ]; then v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/$a"
      printf '%s=%s\n' "$a" "$v"; [ "$a" = dev ] && dev=$v; fi
  done
  for s in "$d"/slaves/*; do [ -e "$s" ] && printf 'slave=%s\n' "${s##*/}"; done
  for p in "$d/$n"*; do
    if [ -e "$p/partition" ]; then v=; { read -r v || [ -n "$v" ]; } 2>/dev/null <"$p/dev"
      printf 'part=%s %s\n' "${p##*/}" "$v"; fi
  done
  if [ -n "$dev" ] && [ -r "$R/run/udev/data/b$dev" ]; then
    while IFS= read -r l; do
      case $l in E:ID_SERIAL=*|E:ID_SERIAL_SHORT=*|E:ID_WWN=*) printf 'udev_%s\n' "${l#E:}";; esac
    done 2>/dev/null <"$R/run/udev/data/b$dev"
  fi
done
c virt_vm systemd-detect-virt --vm
c virt_container systemd-detect-virt --container
c ip_addr ip -o -4 addr show
c ip_route ip -4 route show default
c arch uname -m
if command -v timeout >/dev/null 2>&1; then c gpus timeout 10 nvidia-smi -L
else c gpus nvidia-smi -L; fi
m end ok
"""


def collect_script(root: str = "") -> str:
    """The shell text run on the host (exposed so tests and ``--dry-run`` style tools see it)."""
    return _SCRIPT.replace("__ROOT__", shlex.quote(root.rstrip("/"))).replace("__MARKER__", MARKER)


@dataclass
class Section:
    name: str
    status: str
    lines: List[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def ok(self) -> bool:
        return self.status == "ok" or self.status == "rc=0"


def parse_sections(output: str) -> List[Section]:
    """Split the script's stdout into marked sections (repeated names allowed: net, block)."""
    sections: List[Section] = []
    prefix = MARKER + " "
    for line in output.splitlines():
        if line.startswith(prefix):
            parts = line[len(prefix) :].split(" ", 1)
            sections.append(Section(parts[0], parts[1] if len(parts) > 1 else ""))
        elif sections:
            sections[-1].lines.append(line)
    return sections


def collect(host: Host, *, root: str = "", timeout: float = 30.0) -> Fingerprint:
    """Read ``host``'s fingerprint (raw values stay in the returned object; hash with
    ``Fingerprint.to_record`` before writing anything)."""
    result = host.run(collect_script(root), timeout=timeout)
    sections = parse_sections(result.stdout)
    if not any(s.name == "end" for s in sections):
        raise FingerprintError(
            f"{host.name}: fingerprint script did not finish ({result.first_error_line()}); "
            "check that /bin/sh works there and retry"
        )
    return build_fingerprint(sections)


# ---------------------------------------------------------------------------------------------
# Parsing the sections into components and labels


_VIRTUAL_NIC = re.compile(
    r"^(lo|docker\d*|veth.*|br-.*|virbr.*|vnet\d+|tun\d*|tap.*|cni.*|flannel.*|cali.*|weave.*|"
    r"vxlan.*|kube-.*|cilium.*|ifb\d*|dummy\d*|wg\d*|bond\d*|team\d*|podman\d*|macvtap.*|"
    r"ip6?tnl.*|sit\d+|gre.*|erspan.*|nlmon.*|zt.*|tailscale.*)$"
)
_VM_VENDORS = re.compile(
    r"qemu|kvm|vmware|virtualbox|innotek|xen|bochs|parallels|bhyve|openstack|"
    r"microsoft corporation.*virtual|virtual machine|amazon ec2|google compute|alibaba cloud|"
    r"nutanix|proxmox|firecracker",
    re.IGNORECASE,
)
_CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc|crio", re.IGNORECASE)


def _by_name(sections: List[Section]) -> Dict[str, Section]:
    out: Dict[str, Section] = {}
    for s in sections:
        if s.name not in ("net", "block"):
            out[s.name] = s
    return out


def _kv(section: Section) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for line in section.lines:
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key, value.strip())
    return out


def _cmd_out(sec: Dict[str, Section], name: str) -> Optional[str]:
    """Stdout of a command section when it ran; ``None`` when absent or not found."""
    s = sec.get(name)
    if s is None or s.status == "notfound":
        return None
    return s.text.strip()


def _one(
    sec: Dict[str, Section], name: str, kind: str, missing: Dict[str, str], uid: Optional[int]
) -> Optional[str]:
    """A single-valued component: its clean value, or a reason recorded in ``missing``."""
    s = sec.get(name)
    if s is None or s.status == "missing":
        if uid not in (0, None) and name.startswith("dmi_"):
            missing[kind] = "not readable without root: run as root"
        elif name.startswith("dmi_"):
            missing[kind] = "no DMI data on this machine (/sys/class/dmi/id)"
        else:
            missing[kind] = "not present on this machine"
        return None
    if s.status == "denied":
        missing[kind] = "permission denied: run as root"
        return None
    value, why = clean_value(kind, s.text)
    if value is None:
        missing[kind] = why
    return value


def _uid(sec: Dict[str, Section]) -> Optional[int]:
    s = sec.get("uid")
    for line in s.lines if s else []:
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            return int(fields[1])
    return None


def _nics(sections: List[Section]) -> Tuple[List[str], List[Tuple[str, str]], List[str]]:
    """Physical NICs: (names, [(name, mac)], ignored names). Bridges, bonds, veth, tun and
    every device without a backing ``device`` are virtual and ignored."""
    names: List[str] = []
    macs: List[Tuple[str, str]] = []
    ignored: List[str] = []
    for s in sections:
        if s.name != "net":
            continue
        name, kv = s.status, _kv(s)
        virtual = (
            "device" not in kv
            or any(k in kv for k in ("bridge", "bond", "tun"))
            or _VIRTUAL_NIC.match(name) is not None
            or kv.get("type", "1") != "1"
        )
        if virtual:
            ignored.append(name)
            continue
        mac = kv.get("bonding_slave/perm_hwaddr") or kv.get("address", "")
        if kv.get("addr_assign_type") in ("1", "3") and not kv.get("bonding_slave/perm_hwaddr"):
            ignored.append(name)  # random or user-set MAC: changes, so not an identity
            continue
        names.append(name)
        value, _ = clean_value("macs", mac)
        if value:
            macs.append((name, value))
    return names, macs, ignored


def _root_disks(sections: List[Section], sec: Dict[str, Section]) -> Tuple[List[str], str]:
    """Serials of the disk(s) under ``/``, following partitions, LVM/dm and md slaves."""
    rootmount = sec.get("rootmount")
    lines = rootmount.lines if rootmount else []
    if not lines:
        return [], "root mount not found in /proc/self/mountinfo"
    fields = lines[-1].split()
    majmin = fields[0]
    source = fields[-2] if len(fields) >= 2 else ""
    blocks: Dict[str, Dict[str, str]] = {}
    slaves: Dict[str, List[str]] = {}
    by_dev: Dict[str, str] = {}
    parent: Dict[str, str] = {}
    for s in sections:
        if s.name != "block":
            continue
        kv = _kv(s)
        blocks[s.status] = kv
        slaves[s.status] = [ln[6:] for ln in s.lines if ln.startswith("slave=")]
        if kv.get("dev"):
            by_dev[kv["dev"]] = s.status
        for ln in s.lines:
            if ln.startswith("part="):
                pname, _, pdev = ln[5:].partition(" ")
                parent[pname] = s.status
                if pdev:
                    by_dev[pdev] = pname
    start = by_dev.get(majmin)
    if start is None and source.startswith("/dev/"):
        start = source[5:]
    if start is None or (start not in blocks and start not in parent):
        return [], f"root filesystem is not on a local disk ({source or majmin}; container?)"
    disks: List[str] = []
    todo, seen = [start], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in parent:
            todo.append(parent[name])
        elif slaves.get(name):
            todo.extend(slaves[name])
        elif name in blocks:
            disks.append(name)
    serials: List[str] = []
    rejected = ""
    for disk in sorted(disks):
        kv = blocks[disk]
        for key in (
            "udev_ID_SERIAL_SHORT",
            "udev_ID_SERIAL",
            "device/serial",
            "serial",
            "udev_ID_WWN",
            "device/wwid",
            "wwid",
        ):
            value, why = clean_value("disk_serials", kv.get(key, ""))
            if value:
                serials.append(value)
                break
            if kv.get(key, "").strip():
                rejected = why
    if not serials:
        what = rejected or "reports no serial"
        return [], f"root disk {', '.join(sorted(disks)) or start}: {what}"
    return serials, ""


def _ips(
    sec: Dict[str, Section], physical: List[str]
) -> Tuple[Optional[str], List[Dict[str, str]]]:
    """(primary LAN IPv4, all LAN IPv4s). Primary = the default route's interface."""
    addrs: List[Tuple[str, str]] = []
    for line in (_cmd_out(sec, "ip_addr") or "").splitlines():
        m = re.search(r"^\d+:\s+(\S+)\s+inet\s+([\d.]+)/", line)
        if m and m.group(1) != "lo" and not m.group(2).startswith("127."):
            addrs.append((m.group(1), m.group(2)))
    lan = [(n, ip) for n, ip in addrs if not _VIRTUAL_NIC.match(n) or n.startswith("bond")]
    default_dev = None
    m = re.search(r"\bdev\s+(\S+)", _cmd_out(sec, "ip_route") or "")
    if m:
        default_dev = m.group(1)
    primary = next((ip for n, ip in addrs if n == default_dev), None)
    if primary is None:
        primary = next((ip for n, ip in lan if n in physical), None)
    if primary is None and lan:
        primary = lan[0][1]
    shown = [{"iface": n, "ip": ip} for n, ip in lan]
    if primary and all(a["ip"] != primary for a in shown):
        shown.insert(0, {"iface": default_dev or "?", "ip": primary})
    return primary, shown


def _virt(sec: Dict[str, Section], cpu_flags: List[str]) -> Dict[str, Any]:
    """VM and container evidence, each item saying where it came from."""
    evidence: List[str] = []
    vm = _cmd_out(sec, "virt_vm")
    vm = vm if vm and vm != "none" else None
    if vm:
        evidence.append(f"systemd-detect-virt --vm: {vm}")
    dmi = " / ".join(
        v
        for v in (
            clean_value("", sec[k].text)[0] if k in sec and sec[k].ok else None
            for k in ("dmi_sys_vendor", "dmi_product_name", "dmi_bios_vendor", "dmi_board_vendor")
        )
        if v
    )
    if dmi and _VM_VENDORS.search(dmi):
        evidence.append(f"DMI: {dmi}")
        if not vm:
            vm = _VM_VENDORS.search(dmi).group(0).lower()  # type: ignore[union-attr]
    if "hypervisor" in cpu_flags:
        evidence.append("CPU flag: hypervisor")
        vm = vm or "unknown hypervisor"
    container = _cmd_out(sec, "virt_container")
    container = container if container and container != "none" else None
    c_evidence: List[str] = []
    if container:
        c_evidence.append(f"systemd-detect-virt --container: {container}")
    if sec.get("dockerenv") and sec["dockerenv"].status == "present":
        c_evidence.append("/.dockerenv")
        container = container or "docker"
    if sec.get("containerenv") and sec["containerenv"].status == "present":
        c_evidence.append("/run/.containerenv")
        container = container or "podman"
    sc = sec.get("systemd_container")
    if sc and sc.ok and sc.text.strip():
        c_evidence.append(f"/run/systemd/container: {sc.text.strip()}")
        container = container or sc.text.strip()
    cg = sec.get("cgroup1")
    if cg and cg.ok and _CONTAINER_CGROUP.search(cg.text):
        c_evidence.append("/proc/1/cgroup: " + _CONTAINER_CGROUP.search(cg.text).group(0))  # type: ignore[union-attr]
        container = container or _CONTAINER_CGROUP.search(cg.text).group(0).lower()  # type: ignore[union-attr]
    return {
        "vm": vm,
        "vm_evidence": evidence,
        "container": container,
        "container_evidence": c_evidence,
        "dmi_vendor": dmi or None,
    }


def _os_name(sec: Dict[str, Section]) -> Optional[str]:
    osr = sec.get("os_release")
    if osr and osr.ok:
        values = {}
        for line in osr.lines:
            k, _, v = line.partition("=")
            values[k] = v.strip().strip('"')
        if values.get("PRETTY_NAME") or values.get("NAME"):
            return values.get("PRETTY_NAME") or values.get("NAME")
    rh = sec.get("redhat_release")
    return rh.text.strip() if rh and rh.ok and rh.text.strip() else None


def _cpu(sec: Dict[str, Section]) -> Tuple[Optional[str], List[str], Optional[int]]:
    model: Optional[str] = None
    flags: List[str] = []
    cpuinfo = sec.get("cpuinfo")
    for line in cpuinfo.lines if cpuinfo and cpuinfo.ok else []:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model", "processor") and value.strip():
            if key != "processor" or not value.strip().isdigit():
                model = model or " ".join(value.split())
        elif key in ("flags", "features"):
            flags = value.split()
    count = None
    online = sec.get("cpu_online")
    if online and online.ok and online.text.strip():
        count = 0
        for part in online.text.strip().split(","):
            lo, _, hi = part.partition("-")
            if lo.isdigit():
                count += (int(hi) - int(lo) + 1) if hi.isdigit() else 1
    return model, flags, count


def _gpus(sec: Dict[str, Section]) -> Tuple[List[str], List[str], Optional[str]]:
    s = sec.get("gpus")
    if s is None or s.status in ("notfound", "rc=127"):
        return [], [], "nvidia-smi not installed (no NVIDIA driver)"
    models: List[str] = []
    uuids: List[str] = []
    rejected = ""
    for line in s.lines:
        m = re.match(r"^GPU\s+\d+:\s*(.*?)\s*\(UUID:\s*([^)]+)\)", line.strip())
        if m:
            models.append(m.group(1))
            value, why = clean_value("gpu_uuids", m.group(2))
            if value:
                uuids.append(value)
            else:
                rejected = why
    if not uuids:
        return models, [], rejected or f"nvidia-smi -L listed no GPU ({s.status})"
    return models, uuids, None


def build_fingerprint(sections: List[Section]) -> Fingerprint:
    """Turn parsed sections into raw components, labels and reasons for what is missing."""
    sec = _by_name(sections)
    uid = _uid(sec)
    missing: Dict[str, str] = {}
    raw: Dict[str, Tuple[str, ...]] = {}

    mid = _one(sec, "machine_id", "machine_id", missing, uid)
    if mid is None and "dbus_machine_id" in sec and sec["dbus_machine_id"].ok:
        reason = missing.pop("machine_id")
        mid = _one(sec, "dbus_machine_id", "machine_id", missing, uid)
        if mid is None:
            missing["machine_id"] = reason
    for kind, name in (
        ("product_uuid", "dmi_product_uuid"),
        ("board_serial", "dmi_board_serial"),
        ("system_serial", "dmi_product_serial"),
    ):
        value = _one(sec, name, kind, missing, uid)
        if value is not None:
            raw[kind] = (value,)
    if mid is not None:
        raw["machine_id"] = (mid,)

    disks, why = _root_disks(sections, sec)
    if disks:
        raw["disk_serials"] = tuple(disks)
    else:
        missing["disk_serials"] = why

    nic_names, macs, ignored = _nics(sections)
    if macs:
        raw["macs"] = tuple(mac for _, mac in macs)
    elif nic_names:
        missing["macs"] = f"physical NIC(s) {', '.join(nic_names)} have placeholder MACs"
    else:
        missing["macs"] = "no physical NIC found" + (
            f" (ignored virtual: {', '.join(ignored)})" if ignored else ""
        )

    cpu_model, flags, cpu_count = _cpu(sec)
    if cpu_model:
        value, why = clean_value("cpu_model", cpu_model)
        if value:
            raw["cpu_model"] = (value,)
        else:
            missing["cpu_model"] = why
    else:
        missing["cpu_model"] = "no CPU model in /proc/cpuinfo"

    gpu_models, gpu_uuids, gpu_why = _gpus(sec)
    if gpu_uuids:
        raw["gpu_uuids"] = tuple(gpu_uuids)
    elif gpu_why:
        missing["gpu_uuids"] = gpu_why

    mem_bytes = None
    mi = sec.get("meminfo")
    m = re.search(r"MemTotal:\s*(\d+)\s*kB", mi.text) if mi and mi.ok else None
    if m:
        mem_bytes = int(m.group(1)) * 1024
    hostname = sec["hostname"].text.strip() if "hostname" in sec and sec["hostname"].ok else None
    primary, ips = _ips(sec, nic_names)
    kernel = sec["kernel"].text.strip() if "kernel" in sec and sec["kernel"].ok else None
    labels: Dict[str, Any] = {
        "hostname": hostname or None,
        "primary_ip": primary,
        "ips": ips,
        "os": _os_name(sec),
        "kernel": kernel or None,
        "arch": _cmd_out(sec, "arch") or None,
        "cpu_model": cpu_model,
        "cpu_count": cpu_count,
        "memory_bytes": mem_bytes,
        "gpus": gpu_models,
        "nics": sorted(nic_names),
        "ignored_nics": sorted(ignored),
        "collected_as_root": uid == 0 if uid is not None else None,
    }
    labels.update(_virt(sec, flags))
    return Fingerprint(
        raw={k: raw[k] for k in COMPONENTS if k in raw},
        labels=labels,
        missing={k: missing[k] for k in COMPONENTS if k in missing},
        collected_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    )
