"""Facts: what a host *is*, each read by one shell command or one file plus a pure parser.

The commands use only sh and standard tools (coreutils, grep, iproute2, ...), so a target needs
no Python and no agent. A missing command is itself a fact ("not installed"): the parser turns
the raw result into a value, or the fact's default plus a reason.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from envcheck import parse
from envcheck.parse import Unavailable
from installer.hosts.base import Result
from installer.runtime.labels import MANAGED

Parser = Callable[[Result], Any]


@dataclass(frozen=True)
class Fact:
    """One read-only observation. Exactly one of ``command`` (sh text) or ``path`` is set."""

    key: str
    parser: Parser
    default: Any = None
    command: Optional[str] = None
    path: Optional[str] = None
    about: str = ""
    may_hang: bool = False
    """Talks to a daemon (dockerd, NVIDIA driver, chronyd): run under `timeout` on the target."""

    @property
    def shell(self) -> str:
        """The sh text that reads this fact (a file read becomes `cat`) - for scripts and logs."""
        if self.command is not None:
            return self.command
        return f"cat {shlex.quote(self.path or '')}"

    def evaluate(self, raw: Result) -> FactResult:
        """Parse a raw result; a parser error never escapes, it becomes the reason."""
        try:
            return FactResult(self.key, self.parser(raw), None, raw)
        except Unavailable as exc:
            return FactResult(self.key, self.default, str(exc), raw)
        except Exception as exc:  # unexpected output shape: say so, keep the raw for support
            return FactResult(
                self.key, self.default, f"unparseable output ({type(exc).__name__}: {exc})", raw
            )


@dataclass(frozen=True)
class FactResult:
    """A parsed fact: ``value`` (or the default), ``error`` when it could not be read, raw."""

    key: str
    value: Any
    error: Optional[str]
    raw: Result = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "command": self.raw.cmd,
            "rc": self.raw.rc,
            "stdout": self.raw.stdout,
            "stderr": self.raw.stderr,
            "value": self.value,
            "error": self.error,
        }


def _nearest_existing_df(path_expr: str) -> str:
    """df on a path that may not exist yet: walk up to the nearest existing parent."""
    return (
        f'p={path_expr}; echo "path: $p"; '
        'while [ ! -e "$p" ] && [ "$p" != / ]; do p=$(dirname "$p"); done; '
        'echo "checked: $p"; df -Pk "$p"'
    )


_PCI_NVIDIA = (
    "for d in /sys/bus/pci/devices/*; do "
    '[ "$(cat "$d/vendor" 2>/dev/null)" = 0x10de ] && '
    'echo "${d##*/} $(cat "$d/class") $(cat "$d/device")"; done; true'
)

_NET_IFACES = (
    "for d in /sys/class/net/*; do n=${d##*/}; k=virtual; w=wired; "
    '[ -e "$d/device" ] && k=device; [ -d "$d/wireless" ] && w=wireless; '
    'echo "$n $k $w $(cat "$d/operstate" 2>/dev/null)"; done'
)

_LISTENER_CGROUPS = (
    "for p in $(ss -ltnp 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do "
    "c=$(grep -o '[0-9a-f]\\{64\\}' /proc/$p/cgroup 2>/dev/null | head -n 1); "
    'echo "$p $c"; done'
)

_DOCKER_PS = "docker ps --no-trunc --format " + shlex.quote(
    f'{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.Ports}}}}\t{{{{.Label "{MANAGED}"}}}}'
)

STATIC_FACTS: dict[str, Fact] = {
    f.key: f
    for f in [
        Fact("os_release", parse.os_release, {}, path="/etc/os-release", about="distribution"),
        Fact("redhat_release", parse.redhat_release, "", path="/etc/redhat-release"),
        Fact("uname", parse.uname, {}, command="uname -r -m", about="kernel and machine"),
        Fact("cpu_count", parse.count, 0, command="grep -c ^processor /proc/cpuinfo"),
        Fact("cpu_flags", parse.cpu_flags, [], command="grep -m 1 ^flags /proc/cpuinfo"),
        Fact("meminfo", parse.meminfo, {}, path="/proc/meminfo"),
        Fact("glibc_getconf", parse.glibc, "", command="getconf GNU_LIBC_VERSION"),
        Fact("ldd_version", parse.glibc, "", command="ldd --version 2>&1 | head -n 1"),
        Fact("gcc", parse.first_version, "", command="gcc --version"),
        Fact(
            "docker_version",
            parse.docker_version,
            {},
            command="docker version --format '{{json .}}'",
            may_hang=True,
        ),
        Fact(
            "docker_info",
            parse.docker_info,
            {},
            command="docker info --format '{{json .}}'",
            may_hang=True,
        ),
        Fact(
            "df_docker",
            parse.df,
            {},
            command=_nearest_existing_df(
                "$(docker info --format '{{.DockerRootDir}}' 2>/dev/null); p=${p:-/var/lib/docker}"
            ),
            about="free space on Docker's data-root",
            may_hang=True,
        ),
        Fact("containers", parse.docker_ps, [], command=_DOCKER_PS, may_hang=True),
        Fact("getenforce", parse.word, "", command="getenforce"),
        Fact("selinux_enforce", parse.file_text, "", path="/sys/fs/selinux/enforce"),
        Fact("firewalld", parse.word, "", command="firewall-cmd --state", may_hang=True),
        Fact("iptables_input", parse.iptables_chain, {}, command="iptables -S INPUT"),
        Fact(
            "nvidia_smi",
            parse.nvidia_smi_csv,
            [],
            command="nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id"
            " --format=csv",
            may_hang=True,
        ),
        Fact("pci_nvidia", parse.pci_devices, [], command=_PCI_NVIDIA),
        Fact("modules", parse.modules, [], path="/proc/modules"),
        Fact(
            "kernel_headers",
            parse.path_exists,
            False,
            command='ls -dL /lib/modules/"$(uname -r)"/build',
        ),
        Fact(
            "nvidia_container_cli",
            parse.first_version,
            "",
            command="nvidia-container-cli --version",
            may_hang=True,
        ),
        Fact("virt_vm", parse.detect_virt, "", command="systemd-detect-virt --vm"),
        Fact("virt_container", parse.detect_virt, "", command="systemd-detect-virt --container"),
        Fact(
            "dmi",
            parse.dmi,
            {},
            command="grep -s -H . /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/product_name"
            " /sys/class/dmi/id/bios_vendor /sys/class/dmi/id/board_vendor",
        ),
        Fact(
            "container_markers",
            parse.existing_paths,
            [],
            command="ls -d /.dockerenv /run/.containerenv",
        ),
        Fact("ip_addr", parse.ip_addresses, [], command="ip -4 -o addr show"),
        Fact("net_ifaces", parse.net_interfaces, {}, command=_NET_IFACES),
        Fact("ss", parse.ss_listeners, [], command="ss -ltnp"),
        Fact("netstat", parse.netstat_listeners, [], command="netstat -ltnp"),
        Fact("listener_cgroups", parse.pid_containers, {}, command=_LISTENER_CGROUPS),
        Fact(
            "timedatectl",
            parse.timedatectl_synced,
            None,
            command="timedatectl status",
            may_hang=True,
        ),
        Fact("chronyc", parse.chronyc_synced, None, command="chronyc tracking", may_hang=True),
        Fact("ntpstat", parse.ntpstat_synced, None, command="ntpstat", may_hang=True),
    ]
}


def df_fact(path: str) -> Fact:
    """Free space where the bundle is installed; the path is a threshold, so the fact is built."""
    return Fact(
        f"df:{path}",
        parse.df,
        {},
        command=_nearest_existing_df(shlex.quote(path)),
        about=f"free space on {path}",
    )


def fact(key: str) -> Fact:
    """A static fact by key, or a df fact for keys like 'df:/opt/sealbox'."""
    if key.startswith("df:"):
        return df_fact(key[3:])
    return STATIC_FACTS[key]
