"""The facts table: every fact a consumer may ask for, declared once (pyinfra's FactBase as a
table): a command (sh text) or a file, its parser, its default, what it is about.

Consumers never parse command output: envcheck's checks, fingerprint's components, the engine
(Docker, ports, GPUs, LAN address, root) and the license gate all read typed values of the one
snapshot (``installer.facts.snapshot.HostFacts``) gathered in one round trip per host and run.
Builtin-only snippets (``builtin=True``) write paths as ``$R/...`` so tests can point them at a
fixture tree; they must not fork (no ``cat``, ``dirname`` or ``$(...)``): on a small target each
fork costs more than the read itself.
"""

from __future__ import annotations

import shlex

from installer.constants import MANAGED
from installer.facts import accel, machine, net, parse, podman, runtime
from installer.facts.fact import Fact


def _nearest_existing_df(path_expr: str) -> str:
    """df on a path that may not exist yet: walk up to the nearest existing parent."""
    return (
        f'p={path_expr}; echo "path: $p"; '
        'while [ ! -e "$p" ] && [ "$p" != / ]; do p=${p%/*}; p=${p:-/}; done; '
        'echo "checked: $p"; df -Pk "$p"'
    )


_PCI_NVIDIA = r"""for d in "$R"/sys/bus/pci/devices/*; do
  v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/vendor"; [ "$v" = 0x10de ] || continue
  c=; { IFS= read -r c || [ -n "$c" ]; } 2>/dev/null <"$d/class"
  i=; { IFS= read -r i || [ -n "$i" ]; } 2>/dev/null <"$d/device"
  echo "${d##*/} $c $i"
done; true"""

_NET_IFACES = r"""for d in "$R"/sys/class/net/*; do
  [ -e "$d" ] || continue; echo "@if ${d##*/}"
  [ -e "$d/device" ] && echo device=1; [ -d "$d/bridge" ] && echo bridge=1
  [ -d "$d/bonding" ] && echo bond=1; [ -e "$d/tun_flags" ] && echo tun=1
  { [ -d "$d/wireless" ] || [ -e "$d/phy80211" ]; } && echo wireless=1
  for a in address type addr_assign_type operstate bonding_slave/perm_hwaddr; do
    [ -r "$d/$a" ] || continue
    v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/$a"; printf '%s=%s\n' "$a" "$v"
  done
  if [ -r "$d/uevent" ]; then while IFS= read -r l; do
    case $l in DEVTYPE=*) printf 'devtype=%s\n' "${l#DEVTYPE=}";; esac
  done 2>/dev/null <"$d/uevent"; fi
  for l in "$d"/lower_* "$d"/brif/*; do [ -e "$l" ] || continue; l=${l##*/}; echo "lower=${l#lower_}"; done
  if [ -r "$d/bonding/slaves" ]; then
    v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/bonding/slaves"
    for l in $v; do echo "lower=$l"; done
  fi
done; true"""

_LISTENER_CGROUPS = r"""s=; for w in ${SBX_SS-$(ss -ltnp 2>/dev/null)}; do
  while :; do
    case $w in *pid=*) ;; *) break;; esac
    w=${w#*pid=}; p=${w%%[!0-9]*}
    case " $s " in *" $p "*) continue;; esac; s="$s $p"
    while IFS= read -r l; do echo "$p $l"; done 2>/dev/null <"$R/proc/$p/cgroup"
  done
done; true"""

_DMI = r"""for a in sys_vendor product_name bios_vendor board_vendor chassis_vendor product_uuid board_serial product_serial; do
  f=$R/sys/class/dmi/id/$a
  if [ -r "$f" ]; then
    v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$f"
    printf '%s:%s\n' "/sys/class/dmi/id/$a" "$v"
  elif [ -e "$f" ]; then echo "#denied $a"; fi
done; true"""

_MARKERS = r"""for p in /.dockerenv /run/.containerenv; do [ -e "$R$p" ] && echo "$p"; done; true"""

_PKG_TOOLS = r"""for p in /usr/bin/dnf /usr/bin/yum /usr/bin/apt-get /usr/bin/zypper; do [ -x "$R$p" ] && echo "$p"; done; true"""

_UID = r"""while IFS= read -r l; do case $l in Uid:*) printf '%s\n' "$l";; esac; done 2>/dev/null <"$R/proc/self/status"; true"""

_ROOT_MOUNT = r"""while read -r a b mm rt mp rest; do [ "$mp" = / ] && printf '%s %s\n' "$mm" "$rest"; done 2>/dev/null <"$R/proc/self/mountinfo"; true"""

_BLOCKS = r"""for d in "$R"/sys/block/*; do
  [ -e "$d" ] || continue; n=${d##*/}
  case $n in loop*|ram*|zram*|fd*|sr*|nbd*) continue;; esac
  echo "@block $n"; dev=
  for a in dev serial device/serial device/wwid wwid; do
    [ -r "$d/$a" ] || continue
    v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$d/$a"; printf '%s=%s\n' "$a" "$v"
    [ "$a" = dev ] && dev=$v
  done
  for s in "$d"/slaves/*; do [ -e "$s" ] && printf 'slave=%s\n' "${s##*/}"; done
  for p in "$d/$n"*; do
    [ -e "$p/partition" ] || continue
    v=; { IFS= read -r v || [ -n "$v" ]; } 2>/dev/null <"$p/dev"; printf 'part=%s %s\n' "${p##*/}" "$v"
  done
  if [ -n "$dev" ] && [ -r "$R/run/udev/data/b$dev" ]; then
    while IFS= read -r l; do
      case $l in E:ID_SERIAL=*|E:ID_SERIAL_SHORT=*|E:ID_WWN=*) printf 'udev_%s\n' "${l#E:}";; esac
    done 2>/dev/null <"$R/run/udev/data/b$dev"
  fi
done; true"""

_DOCKER_PS = "docker ps --no-trunc --format " + shlex.quote(
    f'{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.Ports}}}}\t{{{{.Label "{MANAGED}"}}}}'
)

NVIDIA_QUERY = (
    "nvidia-smi --query-gpu=index,name,memory.total,driver_version,pci.bus_id,uuid --format=csv"
)


def _text(r):  # type: ignore[no-untyped-def]
    return r.stdout


STATIC_FACTS: dict[str, Fact] = {
    f.key: f
    for f in [
        # --- OS, kernel, CPU, memory -------------------------------------------------------
        Fact("os_release", parse.os_release, {}, path="/etc/os-release", about="distribution"),
        Fact("redhat_release", parse.redhat_release, "", path="/etc/redhat-release", lines=1),
        Fact(
            "system_release",
            parse.file_text,
            "",
            path="/etc/system-release",
            lines=1,
            about="Kylin, openEuler, UOS (RPM line): their release line ('... release V10 (Sword)')",
        ),
        Fact(
            "product_info",
            parse.file_text,
            "",
            path="/etc/.productinfo",
            about="Kylin's build line with the service pack: 'release V10 (SP1) /(Tercel)-...'",
        ),
        Fact("pkg_tools", parse.existing_paths, [], command=_PKG_TOOLS, builtin=True),
        Fact("uname", parse.uname, {}, command="uname -r -m", about="kernel and machine"),
        Fact("cpu_count", parse.count, 0, command="grep -c ^processor /proc/cpuinfo"),
        Fact(
            "cpu_flags",
            parse.cpu_flags,
            [],
            path="/proc/cpuinfo",
            lines=-1,
            about="the first CPU's block of /proc/cpuinfo (model, flags)",
        ),
        Fact("cpu_online", parse.file_text, "", path="/sys/devices/system/cpu/online", lines=1),
        Fact("meminfo", parse.meminfo, {}, path="/proc/meminfo"),
        Fact("glibc_getconf", parse.glibc, "", command="getconf GNU_LIBC_VERSION"),
        Fact("ldd_version", parse.glibc, "", command="ldd --version 2>&1 | head -n 1"),
        Fact("gcc", parse.first_version, "", command="gcc --version"),
        Fact("uid", parse.status_uid, None, command=_UID, builtin=True, about="who reads"),
        # --- identity files (fingerprint) ----------------------------------------------------
        Fact("machine_id", parse.file_text, "", path="/etc/machine-id", lines=1),
        Fact("dbus_machine_id", parse.file_text, "", path="/var/lib/dbus/machine-id", lines=1),
        Fact("hostname", parse.file_text, "", path="/proc/sys/kernel/hostname", lines=1),
        Fact("rootmount", _text, "", command=_ROOT_MOUNT, builtin=True),
        Fact("blocks", _text, "", command=_BLOCKS, builtin=True, about="block devices"),
        # --- Docker --------------------------------------------------------------------------
        Fact(
            "docker_version",
            runtime.docker_version,
            {},
            command="docker version --format '{{json .}}'",
            may_hang=True,
        ),
        Fact(
            "docker_info",
            runtime.docker_info,
            {},
            command="docker info --format '{{json .}}'",
            may_hang=True,
        ),
        Fact(
            "df_docker",
            parse.df,
            {},
            command=_nearest_existing_df(
                "${SBX_DOCKER_ROOT:-$(docker info --format '{{.DockerRootDir}}' 2>/dev/null)}; "
                "p=${p:-/var/lib/docker}"
            ),
            about="free space on Docker's data-root (read from docker_info in the same script)",
            may_hang=True,
        ),
        Fact("containers", runtime.docker_ps, [], command=_DOCKER_PS, may_hang=True),
        # --- Podman (the second runtime; no daemon: the command is the engine) --------------
        Fact(
            "podman_version",
            podman.podman_version,
            {},
            command=podman.VERSION_COMMAND,
            may_hang=True,
        ),
        Fact("podman_info", podman.podman_info, {}, command=podman.INFO_COMMAND, may_hang=True),
        Fact(
            "df_podman",
            parse.df,
            {},
            command=_nearest_existing_df(
                "$(podman info --format '{{.Store.GraphRoot}}' 2>/dev/null); "
                "p=${p:-/var/lib/containers/storage}"
            ),
            about="free space on Podman's graph root",
            may_hang=True,
        ),
        Fact("cdi_nvidia", podman.cdi_nvidia_specs, [], command=podman.CDI_COMMAND),
        # --- security, modules, GPU ----------------------------------------------------------
        Fact("getenforce", parse.word, "", command="getenforce"),
        Fact("selinux_enforce", parse.file_text, "", path="/sys/fs/selinux/enforce", lines=1),
        Fact("firewalld", parse.word, "", command="firewall-cmd --state", may_hang=True),
        Fact("iptables_input", parse.iptables_chain, {}, command="iptables -S INPUT"),
        Fact("nvidia_smi", machine.nvidia_smi_csv, [], command=NVIDIA_QUERY, may_hang=True),
        Fact("pci_nvidia", machine.pci_devices, [], command=_PCI_NVIDIA, builtin=True),
        Fact(
            "npu_smi",
            accel.npu_smi_info,
            {},
            command="npu-smi info",
            may_hang=True,
            about="Huawei Ascend NPUs: driver version, chips, health, memory",
        ),
        Fact("npu_map", accel.npu_smi_map, [], command="npu-smi info -m", may_hang=True),
        Fact(
            "npu_boards",
            accel.npu_boards,
            [],
            command=accel.NPU_BOARDS,
            may_hang=True,
            about="each Ascend card's board record (serial number, firmware)",
        ),
        Fact(
            "ascend_devices", parse.existing_paths, [], command=accel.ASCEND_DEVICES, builtin=True
        ),
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
        # --- virtualisation ------------------------------------------------------------------
        Fact("virt_vm", machine.detect_virt, "", command="systemd-detect-virt --vm"),
        Fact("virt_container", machine.detect_virt, "", command="systemd-detect-virt --container"),
        Fact("dmi", machine.dmi, {}, command=_DMI, builtin=True),
        Fact("container_markers", parse.existing_paths, [], command=_MARKERS, builtin=True),
        Fact("cgroup1", parse.file_text, "", path="/proc/1/cgroup"),
        Fact("systemd_container", parse.file_text, "", path="/run/systemd/container", lines=1),
        # --- network and ports ---------------------------------------------------------------
        Fact("ip_addr", net.ip_addresses, [], command="ip -4 -o addr show"),
        Fact("ip_route", net.default_route_dev, "", command="ip -4 route show default"),
        Fact("net_ifaces", net.net_interfaces, {}, command=_NET_IFACES, builtin=True),
        Fact("ss", net.ss_listeners, [], command="ss -ltnp"),
        Fact(
            "netstat",
            net.netstat_listeners,
            [],
            command="command -v ss >/dev/null 2>&1 && { echo 'ss is there: netstat not run' >&2; "
            "exit 3; }; netstat -ltnp",
            about="listening ports where ss is missing (net-tools)",
        ),
        Fact("listener_cgroups", net.pid_containers, {}, command=_LISTENER_CGROUPS, builtin=True),
        # --- time ----------------------------------------------------------------------------
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

CAPTURED = {"ss": "SBX_SS"}
"""Facts whose stdout later facts of the same script read from a shell variable."""


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
