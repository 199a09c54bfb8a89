"""Check kinds about the machine itself: OS, CPU, memory, disks, kernel, C library, compiler."""

from __future__ import annotations

from envcheck.kinds import KINDS, Facts, Outcome, Params, _fail, _gb, _kind
from installer.facts.fact import FactResult
from installer.facts.parse import version_at_least

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
    fix="use an x86_64 or arm64 (aarch64) server: bundles carry images for those",
    allowed=["x86_64", "aarch64"],
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
