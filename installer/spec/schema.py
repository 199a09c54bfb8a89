"""A small schema checker that names the file and the path of every error.

Modelled on docker-compose's validation messages (`services.web.ports[0]: ...`): the field
engineer must see which line of which file to fix, not a Python traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union


@dataclass
class Field:
    kind: Union[str, tuple[str, ...]]  # "str" "int" "bool" "number" "list" "map" "any"
    required: bool = False
    choices: tuple[Any, ...] = ()
    items: Optional[Union[Field, dict[str, Field]]] = None  # list items: a field or a map schema
    values: Optional[Field] = None  # map values (free keys)
    minimum: Optional[float] = None
    maximum: Optional[float] = None


@dataclass
class SchemaErrors:
    source: str
    errors: list[str] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.errors.append(
            f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}"
        )


_KIND_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "number": "a number",
    "list": "a list",
    "map": "a mapping",
    "any": "a value",
}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list)
    if kind == "map":
        return isinstance(value, dict)
    raise ValueError(kind)


def _join(path: str, key: Union[str, int]) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_field(value: Any, spec: Field, path: str, errors: SchemaErrors) -> None:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    if not any(_is_kind(value, k) for k in kinds):
        expected = " or ".join(_KIND_NAMES[k] for k in kinds)
        errors.add(path, f"expected {expected}, got {value!r}")
        return
    if spec.choices and value not in spec.choices:
        errors.add(path, f"must be one of {', '.join(map(str, spec.choices))}, got {value!r}")
    if spec.minimum is not None and _is_kind(value, "number") and value < spec.minimum:
        errors.add(path, f"must be >= {spec.minimum:g}, got {value}")
    if spec.maximum is not None and _is_kind(value, "number") and value > spec.maximum:
        errors.add(path, f"must be <= {spec.maximum:g}, got {value}")
    if isinstance(value, list) and spec.items is not None:
        for i, item in enumerate(value):
            if isinstance(spec.items, dict):
                check_map(item, spec.items, _join(path, i), errors)
            else:
                check_field(item, spec.items, _join(path, i), errors)
    if isinstance(value, dict) and spec.values is not None:
        for key, item in value.items():
            if not isinstance(key, str):
                errors.add(_join(path, str(key)), "keys must be strings")
                continue
            if isinstance(spec.values.items, dict) and spec.values.kind == "map":
                check_map(item, spec.values.items, _join(path, key), errors)
            else:
                check_field(item, spec.values, _join(path, key), errors)


def check_map(value: Any, schema: dict[str, Field], path: str, errors: SchemaErrors) -> None:
    if not isinstance(value, dict):
        errors.add(path, f"expected a mapping, got {value!r}")
        return
    for key in value:
        if key not in schema:
            known = ", ".join(sorted(schema))
            errors.add(_join(path, str(key)), f"unknown field (known: {known})")
    for key, spec in schema.items():
        if key not in value or value[key] is None:
            if spec.required:
                errors.add(_join(path, key), "is required")
            continue
        check_field(value[key], spec, _join(path, key), errors)
