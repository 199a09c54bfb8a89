"""Typed module specs: what a bundle's `modules/*.yaml` say a module needs.

The schema is stated here once: each field carries its YAML kind, limits, choices and default
(`spec_field`); the loader (`installer.spec.load`) is generic and reads these declarations.
Cross-field rules live beside the model in `check_module_doc`. The field reference for vendors
is `installer/spec/README.md`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from installer.i18n import _
from installer.spec.schema import Field, SchemaErrors, check_map, schema_of, spec_field, text_of

NETWORK_MODES = ("host", "bridge")
GPU_NEEDS = ("none", "optional", "required")
ACCELERATOR_KINDS = ("none", "nvidia", "ascend")
HEALTH_TYPES = ("tcp", "http", "command")
VARIABLE_TYPES = ("str", "int", "port", "host", "bool")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
BACKUP_METHODS = ("none", "archive", "mysqldump", "pg_dump", "command")
LICENSE_ROLES = ("server",)

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
VAR_RE = re.compile(r"^[a-z][a-z0-9_]{0,60}$")

_STR = Field("str")
_STRS = Field("list", items=_STR)


def _strs(raw: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in raw)


@dataclass(frozen=True)
class ImageRef:
    ref: str = spec_field("str", required=True)
    archive: str = spec_field("str", required=True)  # path relative to the bundle root


@dataclass(frozen=True)
class Port:
    name: str = spec_field("str", required=True)
    port: int = spec_field("int", required=True, minimum=1, maximum=65535)  # instance 0
    variable: Optional[str] = spec_field("str", default=None)  # variable that overrides `port`
    # bridge mode only; defaults to the host port
    container_port: Optional[int] = spec_field("int", default=None, minimum=1, maximum=65535)
    per_instance: bool = spec_field("bool", default=True)  # instance i listens on port + i
    protocol: str = spec_field("str", default="tcp", choices=("tcp", "udp"))


@dataclass(frozen=True)
class DataDir:
    """A host directory that holds data: survives `rm`, removed only by `--purge`."""

    name: str = spec_field("str", required=True)
    container: str = spec_field("str", required=True)
    per_instance: bool = spec_field("bool", default=False)


@dataclass(frozen=True)
class Mount:
    """A host path mounted as is (device trees, /sys for fingerprints...)."""

    host: str = spec_field("str", required=True)
    container: str = spec_field("str", required=True)
    read_only: bool = spec_field("bool", default=True)


@dataclass(frozen=True)
class ConfigFile:
    template: str = spec_field("str", required=True)  # relative to the bundle's templates/
    mount: str = spec_field("str", required=True)  # path inside the container
    secret: bool = spec_field("bool", default=False)  # file holds secrets: written 0600


@dataclass(frozen=True)
class Variable:
    name: str  # the key of `variables:` (or the port's `variable`)
    type: str = spec_field("str", default="str", choices=VARIABLE_TYPES)
    default: Any = spec_field(("str", "int", "bool"), default=None)  # a value or Jinja string
    prompt: Optional[str] = spec_field("text", default=None, convert=text_of)
    secret: bool = spec_field("bool", default=False)
    generate: int = spec_field("int", default=0, minimum=0, maximum=128)  # 0 = not generated
    choices: tuple[str, ...] = spec_field("list", default=(), items=_STR)
    pattern: Optional[str] = spec_field("str", default=None)
    description: str = spec_field("text", default="", convert=text_of)


@dataclass(frozen=True)
class HealthCheck:
    """The health contract: the engine waits for it after a start and reports its reason."""

    type: str = spec_field("str", default="tcp", required=True, choices=HEALTH_TYPES)
    port: Optional[str] = spec_field("str", default=None)  # port name
    path: str = spec_field("str", default="/")
    command: tuple[str, ...] = spec_field("list", default=(), items=_STR)
    # for the truly unknown: no exit, no reason, nothing unreachable
    timeout: float = spec_field("number", default=120.0, minimum=1, maximum=3600, convert=float)
    interval: float = spec_field("number", default=1.0, minimum=0.1, maximum=60, convert=float)
    # a non-2xx reason unchanged this long ends the wait
    same_reason_for: float = spec_field(
        "number", default=10.0, minimum=1, maximum=3600, convert=float
    )


@dataclass(frozen=True)
class WiredTo:
    """An address the module is wired to: the variables holding its host and its port.

    The health wait and the cross-host check connect there from the module's host. The module
    that declares `port_var` is the provider; `host_var` is then the variable that carries the
    provider's address to its dependents (`installer.spec.address`)."""

    host_var: str = spec_field("str", key="host", required=True)
    port_var: str = spec_field("str", key="port", required=True)


@dataclass(frozen=True)
class Accelerator:
    """What accelerator the module needs. `gpu:` is the older word for NVIDIA only.

    Each instance gets one device of ``kind`` (NVIDIA GPU, Huawei Ascend NPU chip), round robin
    over the host's; envcheck checks the host has ``count`` of them with the driver (and, for
    NVIDIA, the container toolkit) at the versions given (envcheck.profiles)."""

    kind: str = spec_field("str", default="none", required=True, choices=ACCELERATOR_KINDS)
    count: int = spec_field("int", default=1, minimum=0, maximum=64)  # per instance
    required: bool = spec_field("bool", default=True)  # False: uses one when the host has it
    memory_gb: Optional[float] = spec_field("number", default=None, minimum=0, maximum=4096)
    driver: Optional[str] = spec_field(("str", "number"), default=None, convert=str)  # minimum
    runtime: Optional[str] = spec_field(("str", "number"), default=None, convert=str)  # minimum


@dataclass(frozen=True)
class Backup:
    """How the module's data is backed up and restored (declared now; used by day-2 commands)."""

    method: str = spec_field("str", default="none", required=True, choices=BACKUP_METHODS)
    data: tuple[str, ...] = spec_field("list", default=(), items=_STR)  # archive: data dir names
    stop: bool = spec_field("bool", default=False)  # archive: stop the container for a copy
    command: tuple[str, ...] = spec_field("list", default=(), items=_STR)  # dump to stdout
    restore: tuple[str, ...] = spec_field("list", default=(), items=_STR)  # dump from stdin
    user: Optional[str] = spec_field("str", default=None)  # dump tools: variable with the user
    password: Optional[str] = spec_field("str", default=None)  # variable with the password
    database: Optional[str] = spec_field("str", default=None)  # variable with the database


@dataclass(frozen=True)
class LicenseRole:
    """`license: {role: server}`: this module IS the license server of the bundle."""

    role: str = spec_field("str", default="server", required=True, choices=LICENSE_ROLES)
    license_data: str = spec_field("str", default="license")  # data dir holding license.cfg
    state_data: str = spec_field("str", default="state")  # data dir with the clock witnesses


@dataclass(frozen=True)
class CheckProfile:
    """The module's envcheck profile: what a host needs to run it (items as envcheck data)."""

    about: str = spec_field("text", default="", convert=text_of)
    aliases: tuple[str, ...] = spec_field("list", default=(), items=_STR)
    items: tuple[dict[str, Any], ...] = spec_field(
        "list", default=(), required=True, items=Field("map")
    )


@dataclass(frozen=True)
class ModuleSpec:
    name: str = spec_field("str", required=True)
    version: str = spec_field(("str", "int", "number"), required=True, convert=str)
    description: str = spec_field("text", required=True, convert=text_of)
    image: ImageRef = spec_field("map", required=True, of=ImageRef)
    source: str = ""  # file it was loaded from, for error messages
    depends_on: tuple[str, ...] = spec_field("list", default=(), items=_STR)
    network: str = spec_field("str", default="host", choices=NETWORK_MODES)
    gpu: str = spec_field("str", default="none", choices=GPU_NEEDS)
    instances: int = spec_field("int", default=1, minimum=1, maximum=64)
    max_instances: int = spec_field("int", default=16, minimum=1, maximum=64)
    restart: str = spec_field("str", default="unless-stopped", choices=RESTART_POLICIES)
    ports: tuple[Port, ...] = spec_field("list", default=(), of=Port)
    data: tuple[DataDir, ...] = spec_field("list", default=(), of=DataDir)
    mounts: tuple[Mount, ...] = spec_field("list", default=(), of=Mount)
    configs: tuple[ConfigFile, ...] = spec_field("list", default=(), of=ConfigFile)
    environment: dict[str, str] = spec_field(
        "map",
        default_factory=dict,
        values=Field(("str", "int", "bool")),
        convert=lambda raw: {k: str(v) for k, v in raw.items()},
    )
    command: tuple[str, ...] = spec_field(
        "list", default=(), items=Field(("str", "int")), convert=_strs
    )
    variables: tuple[Variable, ...] = spec_field("map", default=(), of=Variable, keyed="name")
    health: HealthCheck = spec_field("map", default_factory=HealthCheck, of=HealthCheck)
    # extra or tightened envcheck items, on top of `check_profile` (or the default profile)
    envcheck: tuple[dict[str, Any], ...] = spec_field("list", default=(), items=Field("map"))
    licensed: bool = spec_field("bool", default=True)  # the license must grant this module
    wired_to: tuple[WiredTo, ...] = spec_field("list", default=(), of=WiredTo)
    # cluster mode: {requests: {cpu, memory}, limits: {cpu, memory}} (Kubernetes quantities)
    resources: dict[str, dict[str, str]] = spec_field(
        "map",
        default_factory=dict,
        values=Field("map", values=Field(("str", "int"))),
        convert=lambda raw: {
            str(k): {str(n): str(q) for n, q in (v or {}).items()} for k, v in raw.items()
        },
    )
    check_profile: Optional[CheckProfile] = spec_field("map", default=None, of=CheckProfile)
    accelerator: Accelerator = spec_field("map", default_factory=Accelerator, of=Accelerator)
    backup: Backup = spec_field("map", default_factory=Backup, of=Backup)
    migrates_data: bool = spec_field("bool", default=False)  # upgrades its data in place
    license: Optional[LicenseRole] = spec_field("map", default=None, of=LicenseRole)

    def variable(self, name: str) -> Optional[Variable]:
        for var in self.variables:
            if var.name == name:
                return var
        return None

    def data_dir(self, name: str) -> Optional[DataDir]:
        return next((d for d in self.data if d.name == name), None)

    @property
    def is_license_server(self) -> bool:
        return self.license is not None and self.license.role == "server"


MODULE_SCHEMA = schema_of(ModuleSpec)


def license_server(specs: Mapping[str, ModuleSpec]) -> Optional[ModuleSpec]:
    """The module whose spec declares `license: {role: server}` (one per bundle), if any."""
    return next((s for s in specs.values() if s.is_license_server), None)


def gpu_of(acc: dict[str, Any]) -> str:
    """The `gpu:` word an `accelerator:` means (only NVIDIA is driven by the engine today)."""
    if acc.get("kind") != "nvidia" or acc.get("count", 1) == 0:
        return "none"
    return "required" if acc.get("required", True) else "optional"


def check_module_doc(doc: dict[str, Any], errors: SchemaErrors, expected_name: str) -> None:
    """The whole document: the schema, then the rules across fields it cannot express."""
    check_map(doc, MODULE_SCHEMA, "", errors)
    name = doc.get("name")
    if isinstance(name, str):
        if not NAME_RE.match(name):
            errors.add(
                "name",
                _("must be lower-case letters, digits and '-', got {name!r}").format(name=name),
            )
        elif expected_name and name != expected_name:
            errors.add(
                "name",
                _("is {name!r} but the file is named {expected_name}.yaml").format(
                    name=name, expected_name=expected_name
                ),
            )
    port_names = [p.get("name") for p in _maps(doc.get("ports"))]
    for i, pname in enumerate(port_names):
        if pname in port_names[:i]:
            errors.add(f"ports[{i}].name", _("duplicate port name {pname!r}").format(pname=pname))
    health = doc.get("health")
    if isinstance(health, dict):
        htype = health.get("type")
        if htype in ("tcp", "http") and health.get("port") not in port_names:
            errors.add(
                "health.port",
                _("must name one of the module's ports {port_names}").format(port_names=port_names),
            )
        if htype == "command" and not health.get("command"):
            errors.add("health.command", _("is required for a command health check"))
    variables = doc.get("variables")
    for vname in variables if isinstance(variables, dict) else {}:
        if isinstance(vname, str) and not VAR_RE.match(vname):
            errors.add(f"variables.{vname}", _("names are lower-case letters, digits and '_'"))
    data_names = [d.get("name") for d in _maps(doc.get("data"))]
    _check_accelerator(doc, errors)
    _check_backup(doc.get("backup"), data_names, errors)
    _check_license(doc, data_names, errors)
    _check_profile(doc.get("check_profile"), doc.get("envcheck"), errors)


def _maps(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _check_accelerator(doc: dict[str, Any], errors: SchemaErrors) -> None:
    acc = doc.get("accelerator")
    if not isinstance(acc, dict) or "gpu" not in doc:
        return
    if doc["gpu"] in GPU_NEEDS and gpu_of(acc) != doc["gpu"]:
        errors.add(
            "accelerator",
            _("says gpu {acc!r} but gpu: is {doc!r}; state one of them").format(
                acc=gpu_of(acc), doc=doc["gpu"]
            ),
        )


def _check_backup(backup: Any, data_names: list[Any], errors: SchemaErrors) -> None:
    if not isinstance(backup, dict):
        return
    method = backup.get("method")
    for i, name in enumerate(backup.get("data") or []):
        if name not in data_names:
            errors.add(
                f"backup.data[{i}]",
                _("must name one of the module's data {data_names}").format(data_names=data_names),
            )
    if method == "archive" and not data_names:
        errors.add("backup.method", _("archive needs a data directory (data:) to archive"))
    if method == "command":
        for key in ("command", "restore"):
            if not backup.get(key):
                errors.add(f"backup.{key}", _("is required for a command backup"))


def _check_license(doc: dict[str, Any], data_names: list[Any], errors: SchemaErrors) -> None:
    lic = doc.get("license")
    if not isinstance(lic, dict):
        return
    if doc.get("licensed") is True:
        errors.add("licensed", _("the license server is not licensed itself; set licensed: false"))
    for key, default in (("license_data", "license"), ("state_data", "state")):
        if lic.get(key, default) not in data_names:
            errors.add(
                f"license.{key}",
                _("must name one of the module's data {data_names} (default {default!r})").format(
                    data_names=data_names, default=default
                ),
            )


def _check_profile(profile: Any, extra: Any, errors: SchemaErrors) -> None:
    """Item ids are checked against envcheck's kinds when the catalog is built (envcheck is
    above the spec); here only the shape every item needs."""
    lists = [("envcheck", extra)]
    if isinstance(profile, dict):
        lists.insert(0, ("check_profile.items", profile.get("items")))
    for path, items in lists:
        for n, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            if not isinstance(item.get("id"), str):
                errors.add(f"{path}[{n}].id", _("is required: the envcheck item, e.g. memory"))
            if "required" in item and not isinstance(item["required"], bool):
                errors.add(
                    f"{path}[{n}].required",
                    _("expected true or false, got {item!r}").format(item=item["required"]),
                )
