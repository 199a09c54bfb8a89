"""Docker facts: `docker version` / `docker info` / `docker ps`, each read once per run (in the
host's one fact round trip) and parsed here for every consumer: the engine's DockerFacts and
envcheck's views are two shapes of the same two outputs.

Parsers are pure functions so unit tests feed them recorded outputs from Docker 17.12 onwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from installer.errors import HostError
from installer.facts.fact import Unavailable
from installer.facts.osinfo import OsInfo, install_hint
from installer.hosts.base import Result
from installer.i18n import _

VERSION_FORMAT = "{{json .}}"


def parse_version(text: str) -> tuple[int, int, int]:
    """'17.12.1-ce' -> (17, 12, 1); '20.10.24+dfsg1' -> (20, 10, 24)."""
    m = re.match(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text or "")
    if not m:
        return (0, 0, 0)
    return tuple(int(g or 0) for g in m.groups())  # type: ignore[return-value]


@dataclass(frozen=True)
class DockerFacts:
    client_version: str
    server_version: str
    api_version: str = ""
    runtimes: tuple[str, ...] = ()
    default_runtime: str = "runc"
    storage_driver: str = ""
    data_root: str = "/var/lib/docker"
    raw_info: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    engine: str = "docker"  # the CLI that drives it: "docker" or "podman" (same commands)
    rootless: bool = False

    @property
    def server(self) -> tuple[int, int, int]:
        return parse_version(self.server_version)

    @property
    def supports_gpus_flag(self) -> bool:
        """`docker run --gpus` arrived in 19.03 (client and engine)."""
        return parse_version(self.client_version) >= (19, 3, 0) and self.server >= (19, 3, 0)

    @property
    def has_nvidia_runtime(self) -> bool:
        return "nvidia" in self.runtimes


def first_json(text: str) -> dict[str, Any]:
    """The JSON object a docker command printed; a down daemon can add error lines after it."""
    text = text.strip()
    start = text.find("{")
    if start < 0:
        return {}
    for candidate in (text[start:], *(ln.strip() for ln in text[start:].splitlines())):
        if candidate.startswith("{"):
            try:
                doc = json.loads(candidate)
            except json.JSONDecodeError:
                continue
            return doc if isinstance(doc, dict) else {}
    return {}


def parse_docker_version(text: str) -> tuple[str, str, str]:
    """Client version, server version ('' when the daemon is down), API version."""
    doc = first_json(text)
    client = (doc.get("Client") or {}).get("Version", "")
    server = doc.get("Server") or {}
    return (
        client,
        server.get("Version", "") if server else "",
        server.get("ApiVersion", "") if server else "",
    )


def parse_docker_info(text: str) -> dict[str, Any]:
    return first_json(text)


def build_facts(version_out: str, info_out: str) -> DockerFacts:
    client, server, api = parse_docker_version(version_out)
    info = parse_docker_info(info_out)
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    return DockerFacts(
        client_version=client,
        server_version=server,
        api_version=api,
        runtimes=runtimes,
        default_runtime=info.get("DefaultRuntime", "runc") or "runc",
        storage_driver=info.get("Driver", "") or "",
        data_root=info.get("DockerRootDir", "/var/lib/docker") or "/var/lib/docker",
        raw_info=info,
    )


def docker_facts(
    version: Result, info: Result, host_name: str, os: Optional[OsInfo] = None
) -> DockerFacts:
    """The engine's view; raises HostError with the fix when Docker is missing or down.
    ``os``: the host's distribution, so the fix names its own package tool."""
    if version.not_found:
        raise HostError(
            _(
                "Docker is not installed on {host_name}: install it ({hint}) and start the daemon"
            ).format(host_name=host_name, hint=install_hint(os, "docker"))
        )
    client, server, _unused = parse_docker_version(version.stdout)
    if not version.ok or not server:
        detail = version.first_error_line()
        if "permission denied" in detail.lower():
            raise HostError(
                _(
                    "cannot use Docker on {host_name} ({detail}): run as root or a user in the docker group"
                ).format(host_name=host_name, detail=detail)
            )
        raise HostError(
            _(
                "Docker daemon is not running on {host_name} ({detail}): start it with 'systemctl start docker' (or 'dockerd &' where there is no systemd)"
            ).format(host_name=host_name, detail=detail)
        )
    return build_facts(version.stdout, info.stdout if info.ok else "")


ASCEND_NODES = ("/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc")
ASCEND_MOUNTS = (
    "/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro",
    "/usr/local/dcmi:/usr/local/dcmi:ro",
    "/usr/local/bin/npu-smi:/usr/local/bin/npu-smi:ro",
)
"""Without the Ascend Docker Runtime a container needs the chip's node, the manager nodes and the
driver's libraries and tools from the host (the driver's own `docker run` examples)."""


def gpu_run_args(facts: DockerFacts, gpu: Optional[str], kind: str = "") -> list[str]:
    """The `docker run` flags that give a container one accelerator, for this engine.

    NVIDIA (kind ''): --gpus on Docker >= 19.03; the nvidia runtime (nvidia-docker2) on older
    engines where it is registered; a CDI device on Podman. Ascend: the 'ascend' runtime with
    ASCEND_VISIBLE_DEVICES where the Ascend Docker Runtime is registered, else the device nodes
    and driver mounts. Raises when a GPU is asked for and the engine can give none.
    """
    if gpu is None or gpu == "":
        return []
    if kind == "ascend":
        if "ascend" in facts.runtimes:
            return ["--runtime", "ascend", "-e", f"ASCEND_VISIBLE_DEVICES={gpu}"]
        argv = ["--device", f"/dev/davinci{gpu}"]
        for node in ASCEND_NODES:
            argv += ["--device", node]
        for mount in ASCEND_MOUNTS:
            argv += ["-v", mount]
        return argv
    if facts.engine == "podman":
        # Podman takes the NVIDIA Container Toolkit's CDI devices (`nvidia-ctk cdi generate
        # --output=/etc/cdi/nvidia.yaml` once per host), not Docker's --gpus hook.
        return ["--device", f"nvidia.com/gpu={gpu}"]
    if facts.supports_gpus_flag:
        return ["--gpus", f"device={gpu}"]
    if facts.has_nvidia_runtime:
        return ["--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={gpu}"]
    raise HostError(
        _(
            "GPU {gpu} requested but Docker {server_version} has neither --gpus (19.03+) nor the nvidia runtime: install nvidia-docker2 (or upgrade Docker and install nvidia-container-toolkit)"
        ).format(gpu=gpu, server_version=facts.server_version)
    )


# --- envcheck's views -----------------------------------------------------------------------


def docker_version(r: Result) -> dict[str, Any]:
    """`docker version --format '{{json .}}'`: client always, server when the daemon answers."""
    if r.not_found:
        raise Unavailable("docker: command not found (not installed)")
    if not first_json(r.stdout):
        raise Unavailable(r.first_error_line())
    client, server, _ = parse_docker_version(r.stdout)
    return {
        "client": client,
        "server": server,
        "server_error": "" if r.ok else r.first_error_line(),
    }


def docker_info(r: Result) -> dict[str, Any]:
    """`docker info --format '{{json .}}'`; a down daemon still prints JSON (empty) but rc 1."""
    if r.not_found:
        raise Unavailable("docker: command not found (not installed)")
    if not r.ok:
        raise Unavailable(r.first_error_line())
    data = parse_docker_info(r.stdout)
    if not data:
        raise Unavailable(f"docker info printed no JSON: {r.first_error_line()}")
    if not data.get("ServerVersion"):
        errors = data.get("ServerErrors")
        raise Unavailable("; ".join(errors) if errors else r.first_error_line())
    return data


def docker_ps(r: Result) -> list[dict[str, Any]]:
    """`docker ps --no-trunc --format 'ID\\tNames\\tPorts\\tLabel managed'` -> containers."""
    if r.not_found:
        raise Unavailable("docker: command not found (not installed)")
    if not r.ok:
        raise Unavailable(r.first_error_line())
    text = r.stdout
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        fields += [""] * (4 - len(fields))
        out.append(
            {
                "id": fields[0].strip(),
                "name": fields[1].strip(),
                "ports": published_ports(fields[2]),
                "managed": fields[3].strip().lower() == "true",
            }
        )
    return out


def published_ports(text: str) -> list[int]:
    """'0.0.0.0:8300->8300/tcp, :::8000-8001->8000-8001/tcp, 3306/tcp' -> [8300, 8000, 8001]."""
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "->" not in part:
            continue  # exposed but not published
        host_side = part.split("->")[0]
        spec = host_side.rsplit(":", 1)[-1]
        lo, _, hi = spec.partition("-")
        if lo.isdigit():
            for p in range(int(lo), int(hi or lo) + 1):
                if p not in ports:
                    ports.append(p)
    return ports


def devicemapper_base_size_gb(info: dict[str, Any]) -> Optional[float]:
    """'Base Device Size' from DriverStatus ('10.74GB', '32.21 GB') in GB, if present."""
    for pair in info.get("DriverStatus") or []:
        if len(pair) == 2 and pair[0] == "Base Device Size":
            m = re.match(r"\s*([\d.]+)\s*([kMGT]?B)", pair[1])
            if m:
                scale = {"B": 1e-9, "kB": 1e-6, "MB": 1e-3, "GB": 1.0, "TB": 1e3}[m.group(2)]
                return float(m.group(1)) * scale
    return None
