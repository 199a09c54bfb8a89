"""Docker facts: `docker version` / `docker info` read through a Host and parsed into values.

Parsers are pure functions so unit tests feed them recorded outputs from Docker 17.12 onwards.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from installer.errors import HostError
from installer.hosts.base import Host

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


def parse_docker_version(text: str) -> tuple[str, str, str]:
    """Client version, server version ('' when the daemon is down), API version."""
    doc: dict[str, Any] = {}
    for line in text.splitlines():  # a down daemon can leave a JSON line plus an error line
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    client = (doc.get("Client") or {}).get("Version", "")
    server = doc.get("Server") or {}
    return (
        client,
        server.get("Version", "") if server else "",
        server.get("ApiVersion", "") if server else "",
    )


def parse_docker_info(text: str) -> dict[str, Any]:
    text = text.strip()
    start = text.find("{")
    if start < 0:
        return {}
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError:
        return {}


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


def read_docker_facts(host: Host) -> DockerFacts:
    """Raises HostError with the fix when Docker is missing or its daemon is not reachable."""
    ver = host.run(["docker", "version", "--format", VERSION_FORMAT], timeout=30)
    if ver.not_found:
        raise HostError(
            f"Docker is not installed on {host.name}: install it (Debian/Ubuntu: "
            f"apt-get install docker.io; CentOS/RHEL: docker-ce) and start the daemon"
        )
    client, server, _ = parse_docker_version(ver.stdout)
    if not ver.ok or not server:
        detail = ver.first_error_line()
        if "permission denied" in detail.lower():
            raise HostError(
                f"cannot use Docker on {host.name} ({detail}): run as root or a user in the docker group"
            )
        raise HostError(
            f"Docker daemon is not running on {host.name} ({detail}): start it with "
            f"'systemctl start docker' (or 'dockerd &' where there is no systemd)"
        )
    info = host.run(["docker", "info", "--format", VERSION_FORMAT], timeout=30)
    return build_facts(ver.stdout, info.stdout if info.ok else "")


def gpu_run_args(facts: DockerFacts, gpu: Optional[str]) -> list[str]:
    """The `docker run` flags that give a container one GPU, for this engine.

    --gpus on Docker >= 19.03; the nvidia runtime (nvidia-docker2) on older engines where it is
    registered. Raises when a GPU is asked for and the engine can give none.
    """
    if gpu is None or gpu == "":
        return []
    if facts.supports_gpus_flag:
        return ["--gpus", f"device={gpu}"]
    if facts.has_nvidia_runtime:
        return ["--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={gpu}"]
    raise HostError(
        f"GPU {gpu} requested but Docker {facts.server_version} has neither --gpus (19.03+) "
        f"nor the nvidia runtime: install nvidia-docker2 (or upgrade Docker and install "
        f"nvidia-container-toolkit)"
    )
