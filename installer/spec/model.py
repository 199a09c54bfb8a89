"""Typed module specs: what a bundle's `modules/*.yaml` say a module needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

NETWORK_MODES = ("host", "bridge")
GPU_NEEDS = ("none", "optional", "required")
HEALTH_TYPES = ("tcp", "http", "command")
VARIABLE_TYPES = ("str", "int", "port", "host", "bool")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class ImageRef:
    ref: str
    archive: str  # path relative to the bundle root


@dataclass(frozen=True)
class Port:
    name: str
    port: int  # default host port of instance 0
    variable: Optional[str] = None  # variable that overrides `port`
    container_port: Optional[int] = None  # bridge mode only; defaults to the host port
    per_instance: bool = True  # instance i listens on port + i
    protocol: str = "tcp"


@dataclass(frozen=True)
class DataDir:
    """A host directory that holds data: survives `rm`, removed only by `--purge`."""

    name: str
    container: str
    per_instance: bool = False


@dataclass(frozen=True)
class Mount:
    """A host path mounted as is (device trees, /sys for fingerprints...)."""

    host: str
    container: str
    read_only: bool = True


@dataclass(frozen=True)
class ConfigFile:
    template: str  # relative to the bundle's templates/
    mount: str  # path inside the container
    secret: bool = False  # file holds secrets: written 0600


@dataclass(frozen=True)
class Variable:
    name: str
    type: str = "str"
    default: Any = None  # a value or a Jinja expression string
    prompt: Optional[str] = None
    secret: bool = False
    generate: int = 0  # length of a generated secret; 0 = not generated
    choices: tuple[str, ...] = ()
    pattern: Optional[str] = None
    description: str = ""


@dataclass(frozen=True)
class HealthCheck:
    type: str = "tcp"
    port: Optional[str] = None  # port name
    path: str = "/"
    command: tuple[str, ...] = ()
    timeout: float = 120.0  # for the truly unknown: no exit, no reason, nothing unreachable
    interval: float = 1.0
    same_reason_for: float = 10.0  # a non-2xx reason unchanged this long ends the wait


@dataclass(frozen=True)
class WiredTo:
    """An address the module is wired to: the variables holding its host and its port.

    The health wait and the cross-host check connect there from the module's host."""

    host_var: str
    port_var: str


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    version: str
    description: str
    image: ImageRef
    source: str  # file it was loaded from, for error messages
    depends_on: tuple[str, ...] = ()
    network: str = "host"
    gpu: str = "none"
    instances: int = 1
    max_instances: int = 16
    restart: str = "unless-stopped"
    ports: tuple[Port, ...] = ()
    data: tuple[DataDir, ...] = ()
    mounts: tuple[Mount, ...] = ()
    configs: tuple[ConfigFile, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    variables: tuple[Variable, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)
    envcheck: tuple[dict[str, Any], ...] = ()  # extra or tightened envcheck items
    licensed: bool = True  # the license must grant this module before it is deployed
    wired_to: tuple[WiredTo, ...] = ()
    resources: dict[str, dict[str, str]] = field(default_factory=dict)  # cluster requests/limits

    def variable(self, name: str) -> Optional[Variable]:
        for var in self.variables:
            if var.name == name:
                return var
        return None
