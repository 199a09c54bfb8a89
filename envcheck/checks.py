"""Check kinds: each turns parsed facts plus thresholds (data, see profiles.py) into an outcome.

A check kind knows what it means, how to word its requirement from its thresholds, which facts
it reads and how to judge them. It never prints and never touches the host: facts come in
already read, so every check is a pure function that unit tests drive with recorded facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from installer.facts.fact import FactResult
from installer.facts.net import carries_lan
from installer.facts.parse import version_at_least
from installer.facts.ports import judge_port, listeners, readable
from installer.facts.runtime import devicemapper_base_size_gb
from installer.facts.snapshot import VIRT_FACTS, virt_of

Facts = Mapping[str, FactResult]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """The verdict of one item: passed or not, what we saw, how to fix it."""

    passed: bool
    actual: str
    fix: str = ""


@dataclass(frozen=True)
class CheckKind:
    id: str
    meaning: str
    defaults: dict[str, Any]
    facts: Callable[[Params], list[str]]
    requirement: Callable[[Params], str]
    evaluate: Callable[[Params, Facts], Outcome]
    fix: str = ""


KINDS: dict[str, CheckKind] = {}


def _kind(
    id: str,
    meaning: str,
    facts: list[str] | Callable[[Params], list[str]],
    requirement: Callable[[Params], str],
    fix: str = "",
    **defaults: Any,
) -> Callable[[Callable[[Params, Facts], Outcome]], Callable[[Params, Facts], Outcome]]:
    def register(fn: Callable[[Params, Facts], Outcome]) -> Callable[[Params, Facts], Outcome]:
        fact_fn = facts if callable(facts) else (lambda _p, keys=tuple(facts): list(keys))
        KINDS[id] = CheckKind(id, meaning, dict(defaults), fact_fn, requirement, fn, fix)
        return fn

    return register


def _gb(kb: int) -> float:
    return kb * 1024 / 1e9


def _fail(actual: str, fix: str = "") -> Outcome:
    return Outcome(False, actual, fix)


def _said(key: str, r: FactResult) -> str:
    """'chronyc: command not found', not 'chronyc: chronyc: command not found'."""
    text = r.error or ""
    return (
        text
        if text.startswith(key.split("_")[0].replace("nvidia", "nvidia-"))
        else f"{key}: {text}"
    )


# --- OS, hardware ---------------------------------------------------------------------------

OS_NAMES = {
    "centos": "CentOS",
    "rhel": "RHEL",
    "rocky": "Rocky",
    "almalinux": "AlmaLinux",
    "ol": "Oracle Linux",
    "ubuntu": "Ubuntu",
    "debian": "Debian",
    "sles": "SUSE",
    "opensuse-leap": "openSUSE Leap",
    "kylin": "Kylin",
    "uos": "UOS",
}


def _os_requirement(p: Params) -> str:
    return "one of " + ", ".join(f"{OS_NAMES.get(k, k)} >= {v}" for k, v in p["min"].items())


@_kind(
    "os",
    "operating system and version",
    ["os_release", "redhat_release"],
    _os_requirement,
    fix="install on a supported distribution",
    min={
        "centos": "7",
        "rhel": "7",
        "rocky": "8",
        "almalinux": "8",
        "ol": "7",
        "ubuntu": "16.04",
        "debian": "10",
        "sles": "12",
        "opensuse-leap": "15",
        "kylin": "10",
        "uos": "20",
    },
)
def check_os(p: Params, f: Facts) -> Outcome:
    rel = f["os_release"]
    if not rel.ok:
        return _fail(f"cannot read /etc/os-release: {rel.error}")
    os_id = rel.value.get("ID", "").lower()
    version = rel.value.get("VERSION_ID", "")
    if os_id in ("centos", "rhel") and f["redhat_release"].ok:
        version = f["redhat_release"].value  # 7.9.2009: os-release only says 7
    shown = f"{rel.value.get('PRETTY_NAME') or os_id} (ID={os_id}, version {version or '?'})"
    minimum = p["min"].get(os_id)
    if minimum is None:
        return _fail(f"{shown}: not a supported distribution")
    if not version_at_least(version, str(minimum)):
        return _fail(
            f"{shown}: older than {minimum}", f"upgrade to {OS_NAMES.get(os_id)} {minimum}+"
        )
    return Outcome(True, shown)


@_kind(
    "arch",
    "CPU architecture",
    ["uname"],
    lambda p: " or ".join(p["allowed"]),
    fix="use an x86_64 server: the images are built for x86_64",
    allowed=["x86_64"],
)
def check_arch(p: Params, f: Facts) -> Outcome:
    u = f["uname"]
    if not u.ok:
        return _fail(f"cannot run uname: {u.error}")
    return Outcome(u.value["machine"] in p["allowed"], u.value["machine"])


@_kind(
    "cpu-cores",
    "logical CPU cores",
    ["cpu_count"],
    lambda p: f">= {p['min']}",
    fix="give the machine more CPU cores",
    min=2,
)
def check_cpu(p: Params, f: Facts) -> Outcome:
    c = f["cpu_count"]
    if not c.ok:
        return _fail(f"cannot count CPUs: {c.error}")
    return Outcome(c.value >= int(p["min"]), f"{c.value} cores")


MEMORY_SLACK = 0.95
"""A '32 GB' server shows about 31.2 GiB in MemTotal (firmware and kernel reserve memory)."""


@_kind(
    "memory",
    "installed memory (the face DB lives in memory)",
    ["meminfo"],
    lambda p: f">= {p['min_gb']} GB installed",
    fix="add memory",
    min_gb=4,
)
def check_memory(p: Params, f: Facts) -> Outcome:
    m = f["meminfo"]
    if not m.ok:
        return _fail(f"cannot read /proc/meminfo: {m.error}")
    kb = m.value["MemTotal"]
    gib = kb / 1024 / 1024
    ok = kb >= float(p["min_gb"]) * 1024 * 1024 * MEMORY_SLACK
    return Outcome(ok, f"{gib:.1f} GiB (MemTotal {kb} kB)")


def _check_df(fr: FactResult, min_gb: float, what: str) -> Outcome:
    if not fr.ok:
        return _fail(f"cannot measure free space of {what}: {fr.error}")
    v = fr.value
    where = v["path"]
    note = (
        ""
        if v["checked"] == v["path"]
        else f"; {v['path']} does not exist yet, measured {v['checked']}"
    )
    free = _gb(v["avail_kb"])
    actual = f"{free:.1f} GB free on {v['mount']} ({v['filesystem']}) for {where}{note}"
    return Outcome(
        free >= float(min_gb), actual, "free space there, or point the path at a bigger disk"
    )


@_kind(
    "disk-install",
    "free disk where the bundle, data and logs go",
    lambda p: [f"df:{p['path']}"],
    lambda p: f">= {p['min_gb']} GB free on {p['path']}",
    path="/opt/sealbox",
    min_gb=20,
)
def check_disk_install(p: Params, f: Facts) -> Outcome:
    return _check_df(f[f"df:{p['path']}"], p["min_gb"], "the install dir")


@_kind(
    "disk-docker",
    "free disk on Docker's data-root (images and containers)",
    ["df_docker"],
    lambda p: f">= {p['min_gb']} GB free on Docker's data-root",
    fix='free space, or move Docker\'s "data-root" in /etc/docker/daemon.json to a bigger disk',
    min_gb=30,
)
def check_disk_docker(p: Params, f: Facts) -> Outcome:
    out = _check_df(f["df_docker"], p["min_gb"], "Docker's data-root")
    return Outcome(out.passed, out.actual, KINDS["disk-docker"].fix)


@_kind(
    "kernel",
    "Linux kernel version",
    ["uname"],
    lambda p: f">= {p['min']}",
    fix="upgrade the kernel",
    min="3.10",
)
def check_kernel(p: Params, f: Facts) -> Outcome:
    u = f["uname"]
    if not u.ok:
        return _fail(f"cannot run uname: {u.error}")
    return Outcome(version_at_least(u.value["release"], str(p["min"])), u.value["release"])


@_kind(
    "glibc",
    "C library version (else 'GLIBC_2.14 not found')",
    ["glibc_getconf", "ldd_version"],
    lambda p: f">= {p['min']}",
    fix="upgrade the distribution: glibc cannot be replaced safely",
    min="2.14",
)
def check_glibc(p: Params, f: Facts) -> Outcome:
    for key in ("glibc_getconf", "ldd_version"):
        if f[key].ok:
            v = f[key].value
            return Outcome(version_at_least(v, str(p["min"])), f"glibc {v}")
    return _fail(f"cannot tell: {f['glibc_getconf'].error}; {f['ldd_version'].error}")


@_kind(
    "gcc",
    "C compiler (to build the NVIDIA driver module)",
    ["gcc"],
    lambda p: f">= {p['min']}",
    fix="install gcc from the distribution",
    min="4.8.2",
)
def check_gcc(p: Params, f: Facts) -> Outcome:
    g = f["gcc"]
    if not g.ok:
        return _fail(g.error or "gcc not found")
    return Outcome(version_at_least(g.value, str(p["min"])), f"gcc {g.value}")


# --- Docker ---------------------------------------------------------------------------------


@_kind(
    "docker-installed",
    "Docker engine installed",
    ["docker_version"],
    lambda p: "docker command present",
    fix="install docker-ce (or the distribution's docker) from the offline repo",
)
def check_docker_installed(p: Params, f: Facts) -> Outcome:
    v = f["docker_version"]
    if not v.ok:
        return _fail(v.error or "docker not found")
    return Outcome(True, f"docker client {v.value['client']}")


@_kind(
    "docker-version",
    "Docker engine version",
    ["docker_version"],
    lambda p: f">= {p['min']}",
    fix="upgrade Docker",
    min="17.12",
)
def check_docker_version(p: Params, f: Facts) -> Outcome:
    v = f["docker_version"]
    if not v.ok:
        return _fail(v.error or "docker not found")
    if v.value["server"]:
        version, note = v.value["server"], "engine"
    else:
        version, note = v.value["client"], "client; daemon not reachable"
    return Outcome(version_at_least(version, str(p["min"])), f"{version} ({note})")


@_kind(
    "docker-running",
    "Docker daemon running and reachable",
    ["docker_info"],
    lambda p: "docker info succeeds",
    fix="systemctl enable --now docker (and run envcheck as root)",
)
def check_docker_running(p: Params, f: Facts) -> Outcome:
    i = f["docker_info"]
    if not i.ok:
        return _fail(i.error or "docker info failed")
    return Outcome(True, f"running, engine {i.value.get('ServerVersion')}")


@_kind(
    "storage-driver",
    "Docker storage driver",
    ["docker_info"],
    lambda p: (
        " or ".join(p["allowed"])
        + f" (devicemapper only with base size >= {p['devicemapper_min_base_gb']} GB)"
    ),
    fix='set "storage-driver": "overlay2" in /etc/docker/daemon.json, or '
    "dm.basesize=30G for devicemapper",
    allowed=["overlay2", "overlayfs"],
    devicemapper_min_base_gb=30,
)
def check_storage_driver(p: Params, f: Facts) -> Outcome:
    i = f["docker_info"]
    if not i.ok:
        return _fail(f"unknown: {i.error}")
    driver = i.value.get("Driver", "")
    if driver in p["allowed"]:
        return Outcome(True, driver)
    if driver == "devicemapper":
        size = devicemapper_base_size_gb(i.value)
        shown = f"devicemapper, base device size {size:.2f} GB" if size else "devicemapper"
        ok = size is not None and size >= float(p["devicemapper_min_base_gb"])
        return Outcome(ok, shown)
    return _fail(driver or "none reported")


@_kind(
    "selinux",
    "SELinux mode (enforcing gives 'permission denied' in containers)",
    ["getenforce", "selinux_enforce"],
    lambda p: " or ".join(p["allowed"]),
    fix="setenforce 0 and SELINUX=disabled (or permissive) in /etc/selinux/config",
    allowed=["disabled", "permissive"],
)
def check_selinux(p: Params, f: Facts) -> Outcome:
    g, e = f["getenforce"], f["selinux_enforce"]
    if g.ok:
        mode = g.value
    elif e.ok:
        mode = {"1": "enforcing", "0": "permissive"}.get(e.value, e.value)
    elif "No such file" in (e.error or "") and g.raw.not_found:
        return Outcome(True, "SELinux not present (no getenforce, no /sys/fs/selinux)")
    else:
        return _fail(f"cannot tell: {g.error}; {e.error}")
    return Outcome(mode in p["allowed"], mode)


@_kind(
    "firewall",
    "host firewall that may block container -> host traffic (license server port)",
    ["firewalld", "iptables_input"],
    lambda p: "firewalld stopped and INPUT chain not dropping by default",
    fix="open the ports for docker0 (firewall-cmd --zone=trusted --add-interface=docker0) "
    "or stop firewalld",
)
def check_firewall(p: Params, f: Facts) -> Outcome:
    seen = []
    fw, ipt = f["firewalld"], f["iptables_input"]
    if fw.ok and fw.value == "running":
        return _fail("firewalld is running")
    seen.append("firewalld not running" if fw.ok else "firewalld not installed")
    if ipt.ok:
        drops = [r for r in ipt.value["rules"] if re.search(r"-j (DROP|REJECT)\b", r)]
        opened = any("-i docker0" in r and "-j ACCEPT" in r for r in ipt.value["rules"])
        if ipt.value["policy"] in ("DROP", "REJECT") and not opened:
            return _fail(f"iptables INPUT policy {ipt.value['policy']}, no ACCEPT for docker0")
        if drops and not opened:
            return _fail(f"iptables INPUT has {len(drops)} DROP/REJECT rule(s): {drops[0]}")
        seen.append(f"iptables INPUT policy {ipt.value['policy']}")
    elif ipt.raw.not_found:
        seen.append("iptables not installed")
    else:
        return _fail(f"cannot read iptables: {ipt.error} (run as root)")
    return Outcome(True, "; ".join(seen))


# --- GPU ------------------------------------------------------------------------------------


def _no_gpu_reason(f: Facts) -> str:
    smi, pci = f["nvidia_smi"], f["pci_nvidia"]
    devices = [d for d in (pci.value or []) if d["class"].startswith("0x03")]
    where = (
        f"{len(devices)} NVIDIA PCI device(s) present ({devices[0]['slot']})"
        if devices
        else "no NVIDIA PCI device found"
    )
    return f"{smi.error or 'nvidia-smi lists no GPU'}; {where}"


@_kind(
    "nvidia-driver",
    "NVIDIA driver loaded and not a known-bad version",
    ["nvidia_smi", "pci_nvidia"],
    lambda p: "nvidia-smi works; not " + ", ".join(p["reject"]),
    fix="install the NVIDIA driver (384.66 or later recommended), then reboot",
    reject=["375.26"],
)
def check_nvidia_driver(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(_no_gpu_reason(f))
    driver = smi.value[0]["driver"]
    if driver in p["reject"]:
        return _fail(f"{driver} (known bad: leaks memory)", "install driver 384.66 or later")
    return Outcome(True, f"driver {driver}")


@_kind(
    "nvidia-driver-recommended",
    "NVIDIA driver at the recommended version",
    ["nvidia_smi", "pci_nvidia"],
    lambda p: f">= {p['min']}",
    fix="upgrade the NVIDIA driver",
    min="384.66",
)
def check_nvidia_recommended(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(_no_gpu_reason(f))
    driver = smi.value[0]["driver"]
    return Outcome(version_at_least(driver, str(p["min"])), f"driver {driver}")


VGPU_NAME = re.compile(r"\bGRID\b|-\d+[QABC]$")
"""vGPU profiles show as 'GRID P40-2Q' or 'Tesla V100-8Q'; the service needs a whole GPU."""

GPU_MIB_PER_GB = 1000
"""A '6 GB' card reports about 6078 MiB, so GB thresholds are compared as 1000 MiB each."""


@_kind(
    "gpu",
    "GPUs for the face service (whole GPUs, enough memory)",
    ["nvidia_smi", "pci_nvidia"],
    lambda p: f">= {p['min_count']} GPU(s), >= {p['min_memory_gb']} GB each, not virtual (vGPU)",
    fix="install a supported GPU (e.g. Tesla P4) with its driver; use pass-through, not vGPU",
    min_count=1,
    min_memory_gb=6,
)
def check_gpu(p: Params, f: Facts) -> Outcome:
    smi = f["nvidia_smi"]
    if not smi.ok or not smi.value:
        return _fail(f"no GPU visible: {_no_gpu_reason(f)}")
    gpus = smi.value
    shown = ", ".join(f"{g['index']}: {g['name']} {g['memory_mib']} MiB" for g in gpus)
    small = [g for g in gpus if g["memory_mib"] < float(p["min_memory_gb"]) * GPU_MIB_PER_GB]
    virtual = [g for g in gpus if VGPU_NAME.search(g["name"])]
    if len(gpus) < int(p["min_count"]):
        return _fail(f"{len(gpus)} GPU(s): {shown}")
    if small:
        return _fail(f"too little GPU memory: {shown}")
    if virtual:
        return _fail(f"virtual GPU (vGPU): {shown}")
    return Outcome(True, shown)


@_kind(
    "nouveau",
    "open-source nouveau driver not loaded (it blocks the NVIDIA driver)",
    ["modules"],
    lambda p: "nouveau not in /proc/modules",
    fix="blacklist nouveau (modprobe.d), rebuild the initramfs, reboot",
)
def check_nouveau(p: Params, f: Facts) -> Outcome:
    m = f["modules"]
    if not m.ok:
        return _fail(f"cannot read /proc/modules: {m.error}")
    if "nouveau" in m.value:
        return _fail("nouveau is loaded")
    if not m.value:
        return Outcome(True, "no loadable modules (kernel without /proc/modules)")
    return Outcome(True, f"not loaded ({len(m.value)} modules loaded)")


@_kind(
    "kernel-headers",
    "kernel headers for the running kernel (to build the NVIDIA driver)",
    ["kernel_headers", "uname"],
    lambda p: "/lib/modules/$(uname -r)/build present",
    fix="install kernel-devel-$(uname -r) / linux-headers-$(uname -r)",
)
def check_kernel_headers(p: Params, f: Facts) -> Outcome:
    h = f["kernel_headers"]
    release = f["uname"].value.get("release", "?") if f["uname"].ok else "?"
    if not h.ok:
        return _fail(f"cannot tell: {h.error}")
    if h.value:
        return Outcome(True, f"present for {release}")
    return _fail(f"missing for {release}: {h.raw.first_error_line()}")


@_kind(
    "nvidia-runtime",
    "NVIDIA container runtime registered with Docker (nvidia-docker2 / toolkit)",
    ["docker_info", "nvidia_container_cli"],
    lambda p: "docker runtime 'nvidia', or nvidia-container-toolkit with Docker >= 19.03",
    fix="install nvidia-docker2 (>= 2.0.2) or nvidia-container-toolkit, restart docker",
)
def check_nvidia_runtime(p: Params, f: Facts) -> Outcome:
    i, cli = f["docker_info"], f["nvidia_container_cli"]
    if i.ok and "nvidia" in (i.value.get("Runtimes") or {}):
        return Outcome(
            True, f"runtime 'nvidia' registered (default: {i.value.get('DefaultRuntime')})"
        )
    server = i.value.get("ServerVersion", "") if i.ok else ""
    if cli.ok and server and version_at_least(server, "19.03"):
        return Outcome(True, f"nvidia-container-cli {cli.value}, Docker {server} (--gpus)")
    runtimes = ", ".join(sorted(i.value.get("Runtimes") or {})) if i.ok else f"unknown ({i.error})"
    return _fail(f"docker runtimes: {runtimes}; {cli.error or 'nvidia-container-cli ' + cli.value}")


# --- machine, network, ports, time ----------------------------------------------------------


def virtual_evidence(f: Facts) -> list[str]:
    """Every sign that this is a VM or a container, in words (empty = looks physical)."""
    virt = virt_of({k: f[k] for k in VIRT_FACTS if k in f})
    words = {
        "detect-virt": lambda d, what: f"systemd-detect-virt: {what} {d}",
        "cpu-flag": lambda d, what: f"CPU flag '{d}'",
        "dmi": lambda d, what: f"DMI {d}",
        "marker": lambda d, what: f"{d} present",
        "systemd": lambda d, what: f"/run/systemd/container: {d}",
        "cgroup": lambda d, what: f"/proc/1/cgroup: {d}",
    }
    order = ("detect-virt", "cpu-flag", "dmi", "marker", "systemd", "cgroup")
    ev = [(src, d, "VM") for src, d in virt.vm_evidence]
    ev += [(src, d, "container") for src, d in virt.container_evidence]
    ev.sort(key=lambda e: (order.index(e[0]), e[2] != "VM"))
    return [words[src](d, what) for src, d, what in ev]


@_kind(
    "physical",
    "physical machine (the license is bound to hardware)",
    list(VIRT_FACTS),
    lambda p: (
        "any machine (license allows VMs)" if p["allow_virtual"] else "physical, not a VM/container"
    ),
    fix="install the license server on a physical server, or get a license that allows VMs "
    "(then set physical.allow_virtual=true)",
    allow_virtual=False,
)
def check_physical(p: Params, f: Facts) -> Outcome:
    ev = virtual_evidence(f)
    if not ev:
        seen = f["dmi"].value.get("sys_vendor", "") if f["dmi"].ok else ""
        return Outcome(True, f"no sign of virtualisation{f' (vendor {seen})' if seen else ''}")
    shown = "virtual: " + "; ".join(ev)
    if p["allow_virtual"]:
        return Outcome(True, shown + " (allowed by physical.allow_virtual)")
    return _fail(shown)


@_kind(
    "network",
    "an IPv4 address on a wired LAN interface (else 'machine auth check failure')",
    ["ip_addr", "net_ifaces"],
    lambda p: "non-loopback IPv4 on a wired interface",
    fix="connect the wired LAN and give it a fixed IP before fingerprinting",
)
def check_network(p: Params, f: Facts) -> Outcome:
    a, n = f["ip_addr"], f["net_ifaces"]
    if not a.ok:
        return _fail(f"cannot list addresses: {a.error}")
    wired: list[str] = []
    other: list[str] = []
    for addr in a.value:
        iface = addr["iface"].split("@")[0]
        ifaces = n.value or {}
        label = f"{iface} {addr['address']}"
        if addr["scope"] == "host" or not carries_lan(iface, ifaces):
            continue
        (other if iface in ifaces and ifaces[iface].wireless else wired).append(label)
    if wired:
        return Outcome(True, ", ".join(wired))
    return _fail("no wired IPv4" + (f" (wireless only: {', '.join(other)})" if other else ""))


@_kind(
    "ports",
    "ports the module listens on are free (ours count as free)",
    ["ss", "netstat", "containers", "listener_cgroups"],
    lambda p: "free: " + ", ".join(str(x) for x in p["ports"]),
    fix="stop the program holding the port, or install the module on another port",
    ports=[],
)
def check_ports(p: Params, f: Facts) -> Outcome:
    if not readable(f["ss"], f["netstat"]):
        return _fail(f"cannot list listening ports: {f['ss'].error}; {f['netstat'].error}")
    socks = listeners(f["ss"], f["netstat"])
    containers = f["containers"].value if f["containers"].ok else []
    ours = [c["id"] for c in containers if c["managed"]]
    cgroups = f["listener_cgroups"].value or {}
    results = [judge_port(int(port), socks, cgroups, containers, ours) for port in p["ports"]]
    return Outcome(all(v.free for v in results), "; ".join(v.words for v in results) or "no ports")


@_kind(
    "time-sync",
    "clock synchronised (license dates, logs)",
    ["timedatectl", "chronyc", "ntpstat"],
    lambda p: "NTP/chrony synchronised",
    fix="enable chronyd or ntpd against the customer's time server",
)
def check_time(p: Params, f: Facts) -> Outcome:
    said = []
    for key in ("timedatectl", "chronyc", "ntpstat"):
        r = f[key]
        if r.ok:
            if r.value:
                return Outcome(True, f"synchronised ({key})")
            said.append(f"{key}: not synchronised")
        else:
            said.append(_said(key, r))
    return _fail("; ".join(said))


@dataclass
class ItemSpec:
    """One item of a profile: a check kind plus its thresholds and whether it is required."""

    id: str
    required: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> CheckKind:
        return KINDS[self.id]

    def merged(self) -> dict[str, Any]:
        out = dict(self.kind.defaults)
        out.update(self.params)
        return out
