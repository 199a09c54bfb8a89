"""Check kinds about the machine itself: OS, CPU, memory, disks, kernel, C library, compiler."""

from __future__ import annotations

import re

from envcheck.kinds import KINDS, Facts, Outcome, Params, _fail, _gb, _kind
from installer.facts.fact import FactResult
from installer.facts.osinfo import NAMES, OS_FACTS, os_from_facts
from installer.facts.parse import version_at_least
from installer.i18n import _, joined

# --- OS, hardware ---------------------------------------------------------------------------

OS_NAMES = NAMES


def _os_requirement(p: Params) -> str:
    names = ", ".join(f"{OS_NAMES.get(k, k)} >= {v}" for k, v in p["min"].items())
    return _("one of {names}").format(names=names)


@_kind(
    "os",
    _("operating system and version"),
    list(OS_FACTS),
    _os_requirement,
    fix=_("install on a supported distribution"),
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
        "openeuler": "20.03",
    },
)
def check_os(p: Params, f: Facts) -> Outcome:
    """Kylin's minimum is 'V10' or, with a service pack, '10.2' (= V10 SP2): os-release says
    V10 for every SP, the codename or /etc/.productinfo tells them apart (facts.osinfo)."""
    rel = f["os_release"]
    info = os_from_facts(f)
    if info is None:
        return _fail(_("cannot read /etc/os-release: {error}").format(error=rel.error))
    shown = f"{info.pretty} (ID={info.id}, version {info.version or '?'})"
    minimum = p["min"].get(info.id)
    if minimum is None:
        return _fail(_("{shown}: not a supported distribution").format(shown=shown))
    wanted = str(minimum)
    if info.id == "kylin":
        wanted = re.sub(r"^V?(\d+)\s*SP(\d+)$", r"\1.\2", wanted.strip(), flags=re.I)
    if not version_at_least(info.version_key, wanted):
        return _fail(
            _("{shown}: older than {minimum}").format(shown=shown, minimum=minimum),
            _("upgrade to {os_names} {minimum}+").format(
                os_names=OS_NAMES.get(info.id), minimum=minimum
            ),
        )
    return Outcome(True, shown)


@_kind(
    "arch",
    _("CPU architecture"),
    ["uname"],
    lambda p: joined(_(" or "), p["allowed"]),
    fix=_("use an x86_64 or arm64 (aarch64) server: bundles carry images for those"),
    allowed=["x86_64", "aarch64"],
)
def check_arch(p: Params, f: Facts) -> Outcome:
    u = f["uname"]
    if not u.ok:
        return _fail(_("cannot run uname: {error}").format(error=u.error))
    return Outcome(u.value["machine"] in p["allowed"], u.value["machine"])


@_kind(
    "cpu-cores",
    _("logical CPU cores"),
    ["cpu_count"],
    lambda p: f">= {p['min']}",
    fix=_("give the machine more CPU cores"),
    min=2,
)
def check_cpu(p: Params, f: Facts) -> Outcome:
    c = f["cpu_count"]
    if not c.ok:
        return _fail(_("cannot count CPUs: {error}").format(error=c.error))
    return Outcome(c.value >= int(p["min"]), _("{value} cores").format(value=c.value))


MEMORY_SLACK = 0.95
"""A '32 GB' server shows about 31.2 GiB in MemTotal (firmware and kernel reserve memory)."""


@_kind(
    "memory",
    _("installed memory (the face DB lives in memory)"),
    ["meminfo"],
    lambda p: _(">= {gb} GB installed").format(gb=p["min_gb"]),
    fix=_("add memory"),
    min_gb=4,
)
def check_memory(p: Params, f: Facts) -> Outcome:
    m = f["meminfo"]
    if not m.ok:
        return _fail(_("cannot read /proc/meminfo: {error}").format(error=m.error))
    kb = m.value["MemTotal"]
    gib = kb / 1024 / 1024
    ok = kb >= float(p["min_gb"]) * 1024 * 1024 * MEMORY_SLACK
    return Outcome(ok, _("{gib:.1f} GiB (MemTotal {kb} kB)").format(gib=gib, kb=kb))


def _check_df(fr: FactResult, min_gb: float, what: str) -> Outcome:
    if not fr.ok:
        return _fail(
            _("cannot measure free space of {what}: {error}").format(what=what, error=fr.error)
        )
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
        free >= float(min_gb), actual, _("free space there, or point the path at a bigger disk")
    )


@_kind(
    "disk-install",
    _("free disk where the bundle, data and logs go"),
    lambda p: [f"df:{p['path']}"],
    lambda p: _(">= {gb} GB free on {path}").format(gb=p["min_gb"], path=p["path"]),
    path="/opt/sealbox",
    min_gb=20,
)
def check_disk_install(p: Params, f: Facts) -> Outcome:
    return _check_df(f[f"df:{p['path']}"], p["min_gb"], "the install dir")


@_kind(
    "disk-docker",
    _("free disk on Docker's data-root (images and containers)"),
    ["df_docker"],
    lambda p: _(">= {gb} GB free on Docker's data-root").format(gb=p["min_gb"]),
    fix=_('free space, or move Docker\'s "data-root" in /etc/docker/daemon.json to a bigger disk'),
    min_gb=30,
)
def check_disk_docker(p: Params, f: Facts) -> Outcome:
    out = _check_df(f["df_docker"], p["min_gb"], "Docker's data-root")
    return Outcome(out.passed, out.actual, KINDS["disk-docker"].fix)


@_kind(
    "kernel",
    _("Linux kernel version"),
    ["uname"],
    lambda p: f">= {p['min']}",
    fix=_("upgrade the kernel (the distribution's kernel package) and reboot"),
    min="3.10",
)
def check_kernel(p: Params, f: Facts) -> Outcome:
    u = f["uname"]
    if not u.ok:
        return _fail(_("cannot run uname: {error}").format(error=u.error))
    return Outcome(version_at_least(u.value["release"], str(p["min"])), u.value["release"])


@_kind(
    "glibc",
    _("C library version (else 'GLIBC_2.14 not found')"),
    ["glibc_getconf", "ldd_version"],
    lambda p: f">= {p['min']}",
    fix=_("upgrade the distribution: glibc cannot be replaced safely"),
    min="2.14",
)
def check_glibc(p: Params, f: Facts) -> Outcome:
    for key in ("glibc_getconf", "ldd_version"):
        if f[key].ok:
            v = f[key].value
            return Outcome(version_at_least(v, str(p["min"])), _("glibc {v}").format(v=v))
    return _fail(
        _("cannot tell: {error}; {error2}").format(
            error=f["glibc_getconf"].error, error2=f["ldd_version"].error
        )
    )


@_kind(
    "gcc",
    _("C compiler (to build the NVIDIA driver module)"),
    ["gcc"],
    lambda p: f">= {p['min']}",
    fix=_("install gcc from the distribution: {install:gcc}"),
    min="4.8.2",
)
def check_gcc(p: Params, f: Facts) -> Outcome:
    g = f["gcc"]
    if not g.ok:
        return _fail(g.error or "gcc not found")
    return Outcome(version_at_least(g.value, str(p["min"])), _("gcc {value}").format(value=g.value))
