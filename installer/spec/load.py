"""Load `modules/*.yaml` into ModuleSpec objects, checked against the schema first."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Mapping

import yaml

from installer.errors import SpecError
from installer.i18n import _
from installer.spec.model import (
    Accelerator,
    HealthCheck,
    ModuleSpec,
    Variable,
    check_module_doc,
    gpu_of,
)
from installer.spec.schema import SchemaErrors, build


def parse_module(doc: Any, source: str, expected_name: str = "") -> ModuleSpec:
    """Validate a loaded YAML document and build the spec; all errors reported at once."""
    errors = SchemaErrors(source)
    if not isinstance(doc, dict):
        raise SpecError(
            _("{source}: expected a mapping at the top level, got {name}").format(
                source=source, name=type(doc).__name__
            )
        )
    check_module_doc(doc, errors, expected_name)
    if errors.errors:
        raise SpecError("; ".join(errors.errors))
    spec: ModuleSpec = build(ModuleSpec, doc, source=source)
    return replace(spec, **_derived(spec, doc))


def _derived(spec: ModuleSpec, doc: dict[str, Any]) -> dict[str, Any]:
    """Defaults that depend on other fields: port variables, the health port, gpu/accelerator,
    the license server's own `licensed`."""
    out: dict[str, Any] = {}
    declared = {v.name for v in spec.variables}
    port_vars: dict[str, Variable] = {}
    for p in spec.ports:
        if p.variable and p.variable not in declared and p.variable not in port_vars:
            port_vars[p.variable] = Variable(
                name=p.variable,
                type="port",
                default=p.port,
                description=_("{name} port").format(name=p.name),
            )
    if port_vars:
        out["variables"] = spec.variables + tuple(port_vars.values())
    if doc.get("health") is None:
        out["health"] = HealthCheck(type="tcp", port=spec.ports[0].name if spec.ports else None)
    if doc.get("accelerator") is None:
        gpu = spec.gpu
        out["accelerator"] = Accelerator(
            kind="none" if gpu == "none" else "nvidia",
            count=0 if gpu == "none" else 1,
            required=gpu == "required",
        )
    elif doc.get("gpu") is None:
        out["gpu"] = gpu_of(doc["accelerator"])
    if spec.license is not None and "licensed" not in doc:
        out["licensed"] = False
    return out


def parse_module_bytes(data: bytes, source: str, expected_name: str = "") -> ModuleSpec:
    """A spec from the exact bytes that were verified (`source`: "modules/x.yaml" in errors)."""
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(
            _("{source}:{where}: malformed YAML: {problem}").format(
                source=source, where=where, problem=problem
            )
        ) from None
    return parse_module(doc, source, expected_name)


def load_module_file(path: str) -> ModuleSpec:
    """A spec from a source tree on disk (vendor side: `bundle create`, tests)."""
    source = os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise SpecError(_("{source}: file not found").format(source=source)) from None
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
        raise SpecError(
            _("{modules_dir}: no modules folder in the bundle").format(modules_dir=modules_dir)
        )
    files: dict[str, bytes] = {}
    for fname in sorted(os.listdir(modules_dir)):
        if fname.endswith((".yaml", ".yml")):
            try:
                with open(os.path.join(modules_dir, fname), "rb") as fh:
                    files[f"modules/{fname}"] = fh.read()
            except FileNotFoundError:
                raise SpecError(_("modules/{fname}: file not found").format(fname=fname)) from None
    return load_modules_from_bytes(files)


def check_bundle_rules(specs: dict[str, ModuleSpec]) -> None:
    owners: dict[str, str] = {}
    for spec in specs.values():
        for dep in spec.depends_on:
            if dep not in specs:
                raise SpecError(
                    _("{source}: depends_on: unknown module {dep!r} (known: {specs})").format(
                        source=spec.source, dep=dep, specs=", ".join(sorted(specs))
                    )
                )
        for var in spec.variables:
            if var.name in owners:
                raise SpecError(
                    _(
                        "{source}: variables.{name}: already declared by {owners}; variables are shared across modules, declare it once"
                    ).format(source=spec.source, name=var.name, owners=owners[var.name])
                )
            owners[var.name] = spec.source
    servers = [s.source for s in specs.values() if s.is_license_server]
    if len(servers) > 1:
        raise SpecError(
            _(
                "{servers}: license.role: {servers2} is already the license server; a bundle has one"
            ).format(servers=servers[1], servers2=servers[0])
        )
    for spec in specs.values():
        b = spec.backup
        for key, name in (("user", b.user), ("password", b.password), ("database", b.database)):
            if name is not None and name not in owners:
                raise SpecError(
                    _(
                        "{source}: backup.{key}: unknown variable {name!r}; name a variable of this module or of a module it depends on"
                    ).format(source=spec.source, key=key, name=name)
                )
        for i, w in enumerate(spec.wired_to):
            for key, name in (("host", w.host_var), ("port", w.port_var)):
                if name not in owners:
                    raise SpecError(
                        _(
                            "{source}: wired_to[{i}].{key}: unknown variable {name!r}; name a variable of this module or of a module it depends on"
                        ).format(source=spec.source, i=i, key=key, name=name)
                    )
