"""Which Linux a host runs, and how its packages are installed: the ONE OS-family table.

Domestic distributions ("信创") do not all say who they are alike: Kylin V10 calls every service
pack ``VERSION_ID="V10"`` and only the codename tells SP1 (Tercel) from SP2 (Sword) and SP3
(Lance, Halberd); UnionTech OS Server 20 ships as an RPM system (``PLATFORM_ID`` uel20/uelc20,
with /etc/redhat-release) and as a Debian one (``ID=UOS``), both with ``ID`` uos; openEuler has
no ``ID_LIKE`` at all. The family (and so ``yum``/``dnf`` or ``apt-get``) is therefore read from
the package tools the host really has first, then from what the release files say. Every fix
that tells the user to install a package takes its command from here (``install_hint``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from installer.facts.fact import FactResult

NAMES = {
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
    "openeuler": "openEuler",
}

RPM_IDS = ("centos", "rhel", "rocky", "almalinux", "ol", "fedora", "kylin", "openeuler", "anolis")
DEB_IDS = ("debian", "ubuntu", "deepin")
SUSE_IDS = ("sles", "opensuse-leap", "opensuse")

KYLIN_SP = {"tercel": 1, "sword": 2, "lance": 3, "halberd": 3}
"""Kylin Linux Advanced Server V10 codenames -> service pack (nkvers / /etc/.productinfo say
'release V10 (SP1) /(Tercel)'; os-release only carries the codename)."""

PACKAGES: dict[str, dict[str, str]] = {
    "docker": {"deb": "docker.io", "rpm": "docker-ce", "suse": "docker"},
    "gcc": {"deb": "gcc", "rpm": "gcc", "suse": "gcc"},
    "kernel-headers": {
        "deb": "linux-headers-$(uname -r)",
        "rpm": "kernel-devel-$(uname -r)",
        "suse": "kernel-default-devel",
    },
    "chrony": {"deb": "chrony", "rpm": "chrony", "suse": "chrony"},
    "nvidia-container-toolkit": {
        "deb": "nvidia-container-toolkit",
        "rpm": "nvidia-container-toolkit",
        "suse": "nvidia-container-toolkit",
    },
    "kubectl": {
        "deb": "kubernetes-client",
        "rpm": "kubernetes-client",
        "suse": "kubernetes-client",
    },
}
"""Logical package -> its name per family. openEuler and Kylin ship Docker as ``docker-engine``
(``RPM_OVERRIDES``)."""

RPM_OVERRIDES: dict[tuple[str, str], str] = {
    ("openeuler", "docker"): "docker-engine",
    ("kylin", "docker"): "docker-engine",
}

TOOLS = {"/usr/bin/dnf": "dnf", "/usr/bin/yum": "yum", "/usr/bin/apt-get": "apt-get",
         "/usr/bin/zypper": "zypper"}  # fmt: skip
FAMILY_OF_TOOL = {"dnf": "rpm", "yum": "rpm", "apt-get": "deb", "zypper": "suse"}
TOOL_OF_FAMILY = {"deb": "apt-get", "rpm": "yum", "suse": "zypper"}


@dataclass(frozen=True)
class OsInfo:
    """One host's distribution as every consumer reads it (envcheck, fixes, fingerprint)."""

    id: str  # lower-case os-release ID ('kylin', 'openeuler', 'uos', 'centos' ...)
    pretty: str  # PRETTY_NAME or the release file's line
    version: str  # as shown: '7.9.2009', 'V10 SP2', '22.03', '20'
    version_key: str  # comparable dotted number: '7.9.2009', '10.2', '22.03', '20'
    family: str  # 'deb' | 'rpm' | 'suse' | ''
    tool: str  # 'apt-get' | 'dnf' | 'yum' | 'zypper' | ''

    @property
    def name(self) -> str:
        return NAMES.get(self.id, self.id or "unknown Linux")


def _release_number(text: str) -> str:
    m = re.search(r"release\s+V?(\d+(?:\.\d+)*)", text)
    return m.group(1) if m else ""


def _kylin_sp(os_release: Mapping[str, str], product_info: str) -> int:
    m = re.search(r"\(SP(\d+)\)", product_info)
    if m:
        return int(m.group(1))
    m = re.search(r"\(([A-Za-z]+)\)", os_release.get("VERSION", ""))
    return KYLIN_SP.get(m.group(1).lower(), 0) if m else 0


def _family(os_id: str, os_release: Mapping[str, str], rpm_release: bool) -> str:
    like = f"{os_id} {os_release.get('ID_LIKE', '')}".lower().split()
    platform = os_release.get("PLATFORM_ID", "").lower()
    if any(w in RPM_IDS or w in ("fedora", "rhel", "centos") for w in like):
        return "rpm"
    if any(w in DEB_IDS for w in like):
        return "deb"
    if any(w in SUSE_IDS or w == "suse" for w in like):
        return "suse"
    if rpm_release or platform.startswith(("platform:uel", "platform:el")):
        return "rpm"  # UOS Server 20 uel20/uelc20: an RPM system whose os-release says only 'uos'
    if os_id == "uos":
        return "deb"  # UOS 20 of the Debian line (ID=UOS, no redhat-release)
    return ""


def os_info(
    os_release: Mapping[str, str],
    *,
    redhat_release: str = "",
    system_release: str = "",
    product_info: str = "",
    pkg_tools: Sequence[str] = (),
) -> OsInfo:
    """The distribution from /etc/os-release plus the release files and the package tools."""
    os_id = os_release.get("ID", "").strip().lower()
    version = os_release.get("VERSION_ID", "")
    if not os_id and (redhat_release or system_release):  # no os-release (RHEL 6 and older)
        line = redhat_release or system_release
        os_id = "centos" if "centos" in line.lower() else "rhel"
        version = _release_number(line)
    if os_id in ("centos", "rhel") and _release_number(redhat_release):
        version = _release_number(redhat_release)  # 7.9.2009: os-release only says 7
    key = ".".join(str(n) for n in _numbers(version))
    shown = version
    if os_id == "kylin":
        sp = _kylin_sp(os_release, product_info)
        major = _numbers(version)[:1] or [10]
        key = f"{major[0]}.{sp}"
        shown = f"{version or 'V10'} SP{sp}" if sp else (version or "?")
    pretty = os_release.get("PRETTY_NAME") or os_release.get("NAME") or redhat_release
    pretty = (pretty or system_release or os_id).strip()
    tools = [TOOLS[p] for p in TOOLS if p in pkg_tools]
    family = FAMILY_OF_TOOL[tools[0]] if tools else _family(os_id, os_release, bool(redhat_release))
    tool = tools[0] if tools else TOOL_OF_FAMILY.get(family, "")
    return OsInfo(os_id, pretty, shown, key, family, tool)


def _numbers(text: str) -> list[int]:
    m = re.search(r"\d+(?:\.\d+)*", text or "")
    return [int(p) for p in m.group(0).split(".")] if m else []


def package_name(os: Optional[OsInfo], package: str, family: str) -> str:
    if os is not None and family == "rpm" and (os.id, package) in RPM_OVERRIDES:
        return RPM_OVERRIDES[(os.id, package)]
    return PACKAGES.get(package, {}).get(family, package)


def install_hint(os: Optional[OsInfo], *packages: str) -> str:
    """'yum install -y gcc' on this host's family; both common families when it is unknown."""
    if os is not None and os.family and os.tool:
        names = " ".join(package_name(os, p, os.family) for p in packages)
        return f"{os.tool} install -y {names}"
    deb = " ".join(package_name(None, p, "deb") for p in packages)
    rpm = " ".join(package_name(None, p, "rpm") for p in packages)
    return (
        f"Debian/Ubuntu/UOS: apt-get install -y {deb}; "
        f"RHEL/CentOS/Kylin/openEuler: yum install -y {rpm}"
    )


INSTALL_TOKEN = re.compile(r"\{install:([a-z0-9 -]+)\}")
"""A fix text names packages as ``{install:gcc}``; ``render_fix`` puts in this host's command."""


def render_fix(text: str, os: Optional[OsInfo]) -> str:
    return INSTALL_TOKEN.sub(lambda m: install_hint(os, *m.group(1).split()), text)


OS_FACTS = ("os_release", "redhat_release", "system_release", "product_info", "pkg_tools")
"""The facts ``os_from_facts`` reads: small files and one builtin loop, in the same round trip."""


def os_from_facts(got: Mapping[str, FactResult]) -> Optional[OsInfo]:
    """The OsInfo of gathered facts; None when not even a release file could be read."""

    def value(key: str, default: Any) -> Any:
        r = got.get(key)
        return r.value if r is not None and r.ok and r.value else default

    rel = value("os_release", {})
    redhat, system = value("redhat_release", ""), value("system_release", "")
    if not rel and not redhat and not system:
        return None
    raw_rh = got.get("redhat_release")
    rh_line = raw_rh.raw.stdout.strip() if raw_rh is not None and raw_rh.ok else ""
    return os_info(
        rel,
        redhat_release=rh_line or (f"release {redhat}" if redhat else ""),
        system_release=str(system),
        product_info=str(value("product_info", "")),
        pkg_tools=value("pkg_tools", []),
    )
