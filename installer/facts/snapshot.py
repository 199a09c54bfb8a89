"""HostFacts: one host's facts for one run, gathered in one round trip and read by everyone.

Ansible's ``gather_subset`` in small: a run states up front which facts it will read (the
engine's own, each gate's, fingerprint's), ``gather`` reads the ones not yet held in ONE round
trip, and every consumer reads typed values from here -- the engine (Docker, root, GPUs, LAN
address, ports), the envcheck gate, the license gate's fingerprint. A key asked for later that
was not gathered costs another round trip, counted in ``gatherings`` so tests can hold a run to
one.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from installer.errors import HostError
from installer.facts import net
from installer.facts.accel import ascend_device_indexes
from installer.facts.arch import HostArch, host_arch
from installer.facts.catalog import fact
from installer.facts.fact import FactResult
from installer.facts.gather import gather
from installer.facts.machine import Virt, virtualization
from installer.facts.osinfo import OS_FACTS, OsInfo, os_from_facts
from installer.facts.podman import podman_facts
from installer.facts.ports import Listener, judge_port, listeners, published_ports
from installer.facts.runtime import DockerFacts, docker_facts
from installer.hosts.base import Host
from installer.i18n import _

DOCKER_FACTS = ("docker_version", "docker_info")
PODMAN_FACTS = ("podman_version", "podman_info")
PODMAN_CHECK_FACTS = PODMAN_FACTS + ("df_podman", "cdi_nvidia")
"""What envcheck's Podman items read where a profile names Docker's (envcheck.checks_podman)."""
RUNTIMES = ("docker", "podman", "auto")
"""A host's container runtime (inventory ``runtime:``, ``--runtime``); auto: Docker where its
command is installed, else Podman where its command is, else Docker (and its install hint)."""
ROOT_FACTS = ("uid",)
LAN_FACTS = ("ip_addr", "ip_route", "net_ifaces")
PORT_FACTS = ("ss", "netstat", "listener_cgroups")
GPU_FACTS = ("nvidia_smi", "npu_smi", "npu_map")
"""The accelerators an install places instances on: NVIDIA GPUs and Huawei Ascend NPU chips."""
VIRT_FACTS = (
    "virt_vm",
    "virt_container",
    "cpu_flags",
    "dmi",
    "container_markers",
    "systemd_container",
    "cgroup1",
)
ARCH_FACTS = ("uname",) + DOCKER_FACTS
ENGINE_FACTS = ROOT_FACTS + ARCH_FACTS + LAN_FACTS + PORT_FACTS + GPU_FACTS + OS_FACTS
"""What an install reads itself: root, Docker, the architecture (the images it picks), the LAN
address default, ports, GPU indexes, and the distribution (its package tool words the fix when
Docker is missing). A Podman host reads PODMAN_FACTS in Docker's place: `runtime_facts`."""


def runtime_facts(kind: str) -> tuple[str, ...]:
    """The facts that tell a host's engine for runtime ``kind`` (auto: both, one round trip)."""
    return {"docker": DOCKER_FACTS, "podman": PODMAN_FACTS}.get(kind, DOCKER_FACTS + PODMAN_FACTS)


def engine_facts(kind: str) -> tuple[str, ...]:
    """ENGINE_FACTS with the engine facts of runtime ``kind``."""
    return tuple(k for k in ENGINE_FACTS if k not in DOCKER_FACTS) + runtime_facts(kind)


class HostFacts:
    """The snapshot of one host for one run. ``root`` prefixes file paths (fixture trees)."""

    def __init__(
        self, host: Host, *, root: str = "", mode: str = "auto", runtime: str = "docker"
    ) -> None:
        self.host = host
        self.runtime = runtime  # docker | podman | auto (RUNTIMES)
        self.root = root
        self.mode = mode
        self.results: dict[str, FactResult] = {}
        self.gatherings = 0

    def gather(self, keys: Iterable[str]) -> dict[str, FactResult]:
        """The results for ``keys``; those not held yet are read in one round trip."""
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self.results]
        if missing:
            self.gatherings += 1
            found = gather(self.host, [fact(k) for k in missing], mode=self.mode, root=self.root)
            self.results.update(found)
        return {k: self.results[k] for k in wanted}

    def __getitem__(self, key: str) -> FactResult:
        return self.gather([key])[key]

    def value(self, key: str) -> object:
        return self[key].value

    # typed views ------------------------------------------------------------------------
    @property
    def runtime_kind(self) -> str:
        """``docker`` or ``podman``: the runtime asked for, or auto's pick on this host."""
        if self.runtime != "auto":
            return self.runtime
        got = self.gather(runtime_facts("auto"))
        if got["docker_version"].raw.not_found and not got["podman_version"].raw.not_found:
            return "podman"
        return "docker"

    @property
    def docker(self) -> DockerFacts:
        """The engine of this host's runtime (Docker or Podman; the name predates Podman).
        Raises HostError with the fix when it is missing or its daemon is down."""
        kind = self.runtime_kind
        if kind == "podman":
            got = self.gather(PODMAN_FACTS)
            return podman_facts(got["podman_version"].raw, got["podman_info"].raw, self.host.name)
        got = self.gather(DOCKER_FACTS)
        host_os = self.os if got["docker_version"].raw.not_found else None
        return docker_facts(
            got["docker_version"].raw, got["docker_info"].raw, self.host.name, host_os
        )

    @property
    def os(self) -> Optional[OsInfo]:
        """The distribution and its package tool (None when no release file is readable)."""
        return os_from_facts(self.gather(OS_FACTS))

    @property
    def arch(self) -> Optional[HostArch]:
        """The architecture the engine picks images for (None: neither fact answered)."""
        if self.runtime_kind == "podman":  # podman info says host.arch where Docker says
            got = self.gather(("uname", "podman_info"))  # Architecture
            uname, pinfo = got["uname"], got["podman_info"]
            parch = (pinfo.value.get("host") or {}).get("arch") if pinfo.ok else None
            engine = {"Architecture": parch} if isinstance(parch, str) and parch else None
            return host_arch(uname.value if uname.ok else None, engine, self.host.name)
        got = self.gather(ARCH_FACTS)
        uname, info = got["uname"], got["docker_info"]
        return host_arch(
            uname.value if uname.ok else None, info.value if info.ok else None, self.host.name
        )

    @property
    def is_root(self) -> bool:
        return self["uid"].value == 0

    @property
    def gpu_indexes(self) -> list[str]:
        """Indexes of the GPUs nvidia-smi lists ([] without a driver)."""
        smi = self["nvidia_smi"]
        return [g["index"] for g in smi.value or []] if smi.ok else []

    def accelerator_indexes(self, kind: str) -> list[str]:
        """The device numbers of the host's accelerators of ``kind`` ([] without a driver):
        GPU indexes for 'nvidia', NPU chip device numbers for 'ascend'."""
        if kind == "nvidia":
            return self.gpu_indexes
        if kind == "ascend":
            got = self.gather(("npu_smi", "npu_map"))
            smi, mapping = got["npu_smi"], got["npu_map"]
            if not smi.ok:
                return []
            return ascend_device_indexes(smi.value, mapping.value if mapping.ok else None)
        return []

    @property
    def ifaces(self) -> dict[str, net.Iface]:
        return self["net_ifaces"].value or {}

    def lan_addresses(self) -> list[tuple[str, str]]:
        got = self.gather(LAN_FACTS)
        addrs = got["ip_addr"].value or []
        return net.lan_addresses(addrs, got["net_ifaces"].value or {}, got["ip_route"].value)

    @property
    def lan_ip(self) -> Optional[str]:
        """The address others reach this host on: a LAN-capable interface's (the default
        route's first), else the default route's own (a container or sandbox has a veth)."""
        found = self.lan_addresses()
        if found:
            return found[0][1]
        got = self.gather(LAN_FACTS)
        dev = got["ip_route"].value
        return next(
            (
                a["address"].split("/")[0]
                for a in got["ip_addr"].value or []
                if dev and a["iface"].split("@")[0] == dev
            ),
            None,
        )

    @property
    def listeners(self) -> list[Listener]:
        got = self.gather(PORT_FACTS)
        return listeners(got["ss"], got["netstat"])

    @property
    def listener_containers(self) -> dict[int, str]:
        return self["listener_cgroups"].value or {}

    def port_blocker(self, port: int, ours: Sequence[Any]) -> Optional[Listener]:
        """Who keeps ``port`` from us (None: free, or held by one of ``ours``: running
        containers with ``id``, ``name``, ``raw`` inspect data) -- the one ownership rule."""
        conts = [
            {"id": c.id, "name": c.name, "ports": published_ports(c.raw), "managed": True}
            for c in ours
        ]
        verdict = judge_port(
            port, self.listeners, self.listener_containers, conts, [c["id"] for c in conts]
        )
        return None if verdict.free else verdict.holder

    @property
    def virt(self) -> Virt:
        got = self.gather(VIRT_FACTS)
        return virt_of(got)


def read_docker_facts(host: Host, runtime: str = "docker") -> DockerFacts:
    """Engine facts of ``host`` on their own (one round trip); a run reads its HostFacts."""
    return HostFacts(host, runtime=runtime).docker


def virt_of(got: dict[str, FactResult]) -> Virt:
    """The one VM/container verdict from the gathered facts."""

    def text(key: str) -> str:
        r = got.get(key)
        return str(r.value) if r is not None and r.ok and r.value else ""

    return virtualization(
        detect_vm=text("virt_vm"),
        detect_container=text("virt_container"),
        cpu_flags=got["cpu_flags"].value or [] if "cpu_flags" in got else [],
        dmi_values=got["dmi"].value or {} if "dmi" in got else {},
        markers=got["container_markers"].value or [] if "container_markers" in got else [],
        systemd_container=text("systemd_container"),
        pid1_cgroup=text("cgroup1"),
    )


class TemplateFacts:
    """``facts.*`` in a spec's Jinja defaults: read from the run's snapshot when used."""

    def __init__(self, facts: HostFacts) -> None:
        self._facts = facts

    @property
    def lan_ip(self) -> str:
        lan = self._facts.lan_ip
        if not lan:
            raise HostError(
                _(
                    "{name} has no LAN IPv4 address for a default; pass the address with --set (e.g. --set license_server_host=10.0.0.5)"
                ).format(name=self._facts.host.name)
            )
        return lan
