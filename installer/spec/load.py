"""Load `modules/*.yaml` into ModuleSpec objects, checked against the schema first."""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

import yaml

from installer.errors import SpecError
from installer.spec.model import (
    GPU_NEEDS,
    HEALTH_TYPES,
    NETWORK_MODES,
    RESTART_POLICIES,
    VARIABLE_TYPES,
    ConfigFile,
    DataDir,
    HealthCheck,
    ImageRef,
    ModuleSpec,
    Mount,
    Port,
    Variable,
    WiredTo,
)
from installer.spec.schema import Field, SchemaErrors, check_map

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
VAR_RE = re.compile(r"^[a-z][a-z0-9_]{0,60}$")

PORT_SCHEMA = {
    "name": Field("str", required=True),
    "port": Field("int", required=True, minimum=1, maximum=65535),
    "variable": Field("str"),
    "container_port": Field("int", minimum=1, maximum=65535),
    "per_instance": Field("bool"),
    "protocol": Field("str", choices=("tcp", "udp")),
}
VARIABLE_SCHEMA = {
    "type": Field("str", choices=VARIABLE_TYPES),
    "default": Field(("str", "int", "bool")),
    "prompt": Field("str"),
    "secret": Field("bool"),
    "generate": Field("int", minimum=0, maximum=128),
    "choices": Field("list", items=Field("str")),
    "pattern": Field("str"),
    "description": Field("str"),
}
MODULE_SCHEMA = {
    "name": Field("str", required=True),
    "version": Field(("str", "int", "number"), required=True),
    "description": Field("str", required=True),
    "image": Field(
        "map",
        required=True,
        values=None,
    ),
    "depends_on": Field("list", items=Field("str")),
    "network": Field("str", choices=NETWORK_MODES),
    "gpu": Field("str", choices=GPU_NEEDS),
    "instances": Field("int", minimum=1, maximum=64),
    "max_instances": Field("int", minimum=1, maximum=64),
    "restart": Field("str", choices=RESTART_POLICIES),
    "ports": Field("list", items=PORT_SCHEMA),
    "data": Field(
        "list",
        items={
            "name": Field("str", required=True),
            "container": Field("str", required=True),
            "per_instance": Field("bool"),
        },
    ),
    "mounts": Field(
        "list",
        items={
            "host": Field("str", required=True),
            "container": Field("str", required=True),
            "read_only": Field("bool"),
        },
    ),
    "configs": Field(
        "list",
        items={
            "template": Field("str", required=True),
            "mount": Field("str", required=True),
            "secret": Field("bool"),
        },
    ),
    "environment": Field("map", values=Field(("str", "int", "bool"))),
    "command": Field("list", items=Field(("str", "int"))),
    "variables": Field("map", values=Field("map", items=VARIABLE_SCHEMA)),
    "health": Field("map"),
    "envcheck": Field("list", items=Field("map")),
    "licensed": Field("bool"),
    "wired_to": Field(
        "list", items={"host": Field("str", required=True), "port": Field("str", required=True)}
    ),
    # cluster mode: {requests: {cpu, memory}, limits: {cpu, memory}} (Kubernetes quantities)
    "resources": Field("map", values=Field("map", values=Field(("str", "int")))),
}
IMAGE_SCHEMA = {"ref": Field("str", required=True), "archive": Field("str", required=True)}
HEALTH_SCHEMA = {
    "type": Field("str", required=True, choices=HEALTH_TYPES),
    "port": Field("str"),
    "path": Field("str"),
    "command": Field("list", items=Field("str")),
    "timeout": Field("number", minimum=1, maximum=3600),
    "interval": Field("number", minimum=0.1, maximum=60),
    "same_reason_for": Field("number", minimum=1, maximum=3600),
}


def _semantic_checks(doc: dict[str, Any], errors: SchemaErrors, expected_name: str) -> None:
    """Cross-field rules the plain schema cannot express."""
    name = doc.get("name")
    if isinstance(name, str):
        if not NAME_RE.match(name):
            errors.add("name", f"must be lower-case letters, digits and '-', got {name!r}")
        elif expected_name and name != expected_name:
            errors.add("name", f"is {name!r} but the file is named {expected_name}.yaml")
    port_names = [p.get("name") for p in doc.get("ports") or [] if isinstance(p, dict)]
    for i, pname in enumerate(port_names):
        if pname in port_names[:i]:
            errors.add(f"ports[{i}].name", f"duplicate port name {pname!r}")
    health = doc.get("health")
    if isinstance(health, dict):
        check_map(health, HEALTH_SCHEMA, "health", errors)
        htype = health.get("type")
        if htype in ("tcp", "http") and health.get("port") not in port_names:
            errors.add("health.port", f"must name one of the module's ports {port_names}")
        if htype == "command" and not health.get("command"):
            errors.add("health.command", "is required for a command health check")
    image = doc.get("image")
    if isinstance(image, dict):
        check_map(image, IMAGE_SCHEMA, "image", errors)
    for vname in (doc.get("variables") or {}) if isinstance(doc.get("variables"), dict) else {}:
        if isinstance(vname, str) and not VAR_RE.match(vname):
            errors.add(f"variables.{vname}", "names are lower-case letters, digits and '_'")


def parse_module(doc: Any, source: str, expected_name: str = "") -> ModuleSpec:
    """Validate a loaded YAML document and build the spec; all errors reported at once."""
    errors = SchemaErrors(source)
    if not isinstance(doc, dict):
        raise SpecError(f"{source}: expected a mapping at the top level, got {type(doc).__name__}")
    check_map(doc, MODULE_SCHEMA, "", errors)
    _semantic_checks(doc, errors, expected_name)
    if errors.errors:
        raise SpecError("; ".join(errors.errors))

    variables: dict[str, Variable] = {}
    for vname, v in (doc.get("variables") or {}).items():
        variables[vname] = Variable(
            name=vname,
            type=v.get("type", "str"),
            default=v.get("default"),
            prompt=v.get("prompt"),
            secret=bool(v.get("secret", False)),
            generate=int(v.get("generate", 0)),
            choices=tuple(v.get("choices") or ()),
            pattern=v.get("pattern"),
            description=v.get("description", ""),
        )
    ports = []
    for p in doc.get("ports") or []:
        port = Port(
            name=p["name"],
            port=p["port"],
            variable=p.get("variable"),
            container_port=p.get("container_port"),
            per_instance=p.get("per_instance", True),
            protocol=p.get("protocol", "tcp"),
        )
        ports.append(port)
        if port.variable and port.variable not in variables:
            variables[port.variable] = Variable(
                name=port.variable, type="port", default=port.port, description=f"{port.name} port"
            )
    h = doc.get("health") or {"type": "tcp", "port": ports[0].name if ports else None}
    health = HealthCheck(
        type=h.get("type", "tcp"),
        port=h.get("port"),
        path=h.get("path", "/"),
        command=tuple(h.get("command") or ()),
        timeout=float(h.get("timeout", 120)),
        interval=float(h.get("interval", 1)),
        same_reason_for=float(h.get("same_reason_for", 10)),
    )
    img = doc["image"]
    return ModuleSpec(
        name=doc["name"],
        version=str(doc["version"]),
        description=doc["description"].strip(),
        image=ImageRef(ref=img["ref"], archive=img["archive"]),
        source=source,
        depends_on=tuple(doc.get("depends_on") or ()),
        network=doc.get("network", "host"),
        gpu=doc.get("gpu", "none"),
        instances=doc.get("instances", 1),
        max_instances=doc.get("max_instances", 16),
        restart=doc.get("restart", "unless-stopped"),
        ports=tuple(ports),
        data=tuple(
            DataDir(d["name"], d["container"], d.get("per_instance", False))
            for d in doc.get("data") or []
        ),
        mounts=tuple(
            Mount(m["host"], m["container"], m.get("read_only", True))
            for m in doc.get("mounts") or []
        ),
        configs=tuple(
            ConfigFile(c["template"], c["mount"], c.get("secret", False))
            for c in doc.get("configs") or []
        ),
        environment={k: str(v) for k, v in (doc.get("environment") or {}).items()},
        command=tuple(str(c) for c in doc.get("command") or ()),
        variables=tuple(variables.values()),
        health=health,
        envcheck=tuple(doc.get("envcheck") or ()),
        licensed=doc.get("licensed", True),
        wired_to=tuple(WiredTo(w["host"], w["port"]) for w in doc.get("wired_to") or []),
        resources={
            str(k): {str(n): str(q) for n, q in (v or {}).items()}
            for k, v in (doc.get("resources") or {}).items()
        },
    )


def parse_module_bytes(data: bytes, source: str, expected_name: str = "") -> ModuleSpec:
    """A spec from the exact bytes that were verified (`source`: "modules/x.yaml" in errors)."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}:{where}: malformed YAML: {problem}") from None
    return parse_module(doc, source, expected_name)


def load_module_file(path: str) -> ModuleSpec:
    """A spec from a source tree on disk (vendor side: `bundle create`, tests)."""
    source = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise SpecError(f"{source}: file not found") from None
    return parse_module_bytes(data, source, os.path.splitext(os.path.basename(path))[0])


def load_modules_from_bytes(files: Mapping[str, bytes]) -> dict[str, ModuleSpec]:
    """Every `modules/*.yaml` of `files` (bundle path -> verified bytes), checked together."""
    specs: dict[str, ModuleSpec] = {}
    for rel in sorted(files):
        folder, _, fname = rel.rpartition("/")
        if folder == "modules" and fname.endswith((".yaml", ".yml")):
            spec = parse_module_bytes(files[rel], rel, os.path.splitext(fname)[0])
            specs[spec.name] = spec
    check_bundle_rules(specs)
    return specs


def load_modules(modules_dir: str) -> dict[str, ModuleSpec]:
    """Every `*.yaml` in a source folder on disk (vendor side: `bundle create`, tests)."""
    if not os.path.isdir(modules_dir):
        raise SpecError(f"{modules_dir}: no modules folder in the bundle")
    files: dict[str, bytes] = {}
    for fname in sorted(os.listdir(modules_dir)):
        if fname.endswith((".yaml", ".yml")):
            try:
                with open(os.path.join(modules_dir, fname), "rb") as fh:
                    files[f"modules/{fname}"] = fh.read()
            except FileNotFoundError:
                raise SpecError(f"modules/{fname}: file not found") from None
    return load_modules_from_bytes(files)


def check_bundle_rules(specs: dict[str, ModuleSpec]) -> None:
    owners: dict[str, str] = {}
    for spec in specs.values():
        for dep in spec.depends_on:
            if dep not in specs:
                raise SpecError(
                    f"{spec.source}: depends_on: unknown module {dep!r} "
                    f"(known: {', '.join(sorted(specs))})"
                )
        for var in spec.variables:
            if var.name in owners:
                raise SpecError(
                    f"{spec.source}: variables.{var.name}: already declared by "
                    f"{owners[var.name]}; variables are shared across modules, declare it once"
                )
            owners[var.name] = spec.source
    for spec in specs.values():
        for i, w in enumerate(spec.wired_to):
            for key, name in (("host", w.host_var), ("port", w.port_var)):
                if name not in owners:
                    raise SpecError(
                        f"{spec.source}: wired_to[{i}].{key}: unknown variable {name!r}; "
                        "name a variable of this module or of a module it depends on"
                    )
