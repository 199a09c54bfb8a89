"""RunSpec: everything that decides what a container is, as a value.

Its hash (with the image ID and the rendered files' contents) is the config-hash label that
decides create / recreate / noop, like docker-compose's config-hash. Containers are created
from `image_id` (the signed ID in the manifest), never from `image_ref`: a tag on a shared
engine can name another image at any time.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Optional

from installer import constants as L
from installer.errors import UsageError
from installer.facts.runtime import DockerFacts, gpu_run_args
from installer.i18n import english_tree


@dataclass(frozen=True)
class PortBinding:
    host_port: int
    container_port: int
    protocol: str = "tcp"
    bind: str = "0.0.0.0"


@dataclass(frozen=True)
class VolumeBinding:
    host: str
    container: str
    read_only: bool = False


@dataclass(frozen=True)
class RunSpec:
    name: str
    module: str
    instance: int
    image_ref: str
    image_id: str
    network: str = "host"
    restart: str = "unless-stopped"
    ports: tuple[PortBinding, ...] = ()
    volumes: tuple[VolumeBinding, ...] = ()
    env_file: Optional[str] = None
    command: tuple[str, ...] = ()
    gpu: Optional[str] = None  # the accelerator device: a GPU index, an Ascend chip's number
    accelerator: str = ""  # its kind where not NVIDIA ("ascend"); "" = NVIDIA, as before
    bundle_version: str = ""
    module_version: str = ""
    deployment: str = L.DEFAULT_DEPLOYMENT
    # sha256 of each file the container gets (rendered configs, env file): changes recreate
    file_hashes: dict[str, str] = field(default_factory=dict)
    ulimits: tuple[str, ...] = ()  # "nofile=1024:1024": the host's setting (runtime.ulimits)

    def config_hash(self) -> str:
        data = asdict(self)
        data.pop("bundle_version")  # a new bundle with identical content is not a change
        if not data["ulimits"]:
            data.pop("ulimits")  # hosts that set none keep the hash they had before the field
        if not data["accelerator"]:
            data.pop("accelerator")  # containers made before accelerator kinds keep their hash
        # English: a hash must not change with the user's language (it would recreate)
        blob = json.dumps(english_tree(data), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()

    def labels(self) -> dict[str, str]:
        return {
            L.MANAGED: "true",
            L.DEPLOYMENT: self.deployment,
            L.MODULE: self.module,
            L.INSTANCE: str(self.instance),
            L.BUNDLE_VERSION: self.bundle_version,
            L.MODULE_VERSION: self.module_version,
            L.CONFIG_HASH: self.config_hash(),
        }

    def create_argv(self, facts: DockerFacts) -> list[str]:
        """`docker create` arguments valid back to Docker 17.12, or `podman create`'s (4.x)."""
        cli = facts.engine
        argv = [cli, "create", "--name", self.name, "--restart", restart_policy(cli, self.restart)]
        for key, value in sorted(self.labels().items()):
            argv += ["--label", f"{key}={value}"]
        if self.network == "host":
            argv += ["--network", "host"]
        else:
            argv += ["--network", "bridge"]
            for p in self.ports:
                argv += ["-p", f"{p.bind}:{p.host_port}:{p.container_port}/{p.protocol}"]
        for v in self.volumes:
            argv += ["-v", f"{v.host}:{v.container}:{'ro' if v.read_only else 'rw'}"]
        if self.env_file:
            argv += ["--env-file", self.env_file]
        argv += log_args(cli)
        for limit in self.ulimits:
            argv += ["--ulimit", limit]
        argv += gpu_run_args(facts, self.gpu, self.accelerator)
        argv.append(self.image_id)  # the signed ID, never the tag: a tag can be moved
        argv += list(self.command)
        return argv


def restart_policy(cli: str, policy: str) -> str:
    """Podman has no daemon to restart containers at boot: ``podman-restart.service`` (enabled
    by Debian's and RHEL's packages) starts those with policy ``always`` only, so Docker's
    ``unless-stopped`` becomes ``always`` there. A container that dies while the host runs is
    restarted by its conmon either way (no systemd needed)."""
    if cli == "podman" and policy == "unless-stopped":
        return "always"
    return policy


def log_args(cli: str) -> list[str]:
    """Bounded logs. Podman: the k8s-file driver explicitly (its default is journald where
    systemd runs, a file elsewhere), so ``podman logs`` and the size cap work on every host."""
    if cli == "podman":
        return ["--log-driver", "k8s-file", "--log-opt", "max-size=50m"]
    return ["--log-opt", "max-size=50m", "--log-opt", "max-file=3"]


def parse_ulimit(text: str) -> str:
    """``nofile=1024:1024`` / ``nproc=4096``, checked: a bad value is a one-line usage error
    here, not an engine error at create time."""
    name, sep, value = text.strip().partition("=")
    soft, _, hard = value.partition(":")
    if (
        not sep
        or not re.fullmatch(r"[a-z]+", name)
        or not re.fullmatch(r"-?\d+", soft)
        or (hard and not re.fullmatch(r"-?\d+", hard))
    ):
        raise UsageError(
            f"ulimit {text!r}: expected NAME=SOFT[:HARD] with numbers, e.g. nofile=1024:1024"
        )
    return f"{name}={soft}:{hard}" if hard else f"{name}={soft}"
