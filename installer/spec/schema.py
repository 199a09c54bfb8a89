"""A small schema checker that names the file and the path of every error.

Modelled on docker-compose's validation messages (`services.web.ports[0]: ...`): the field
engineer must see which line of which file to fix, not a Python traceback.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from dataclasses import field as dc_field
from typing import Any, Callable, Mapping, Optional, Union

from installer.i18n import _, joined, pick


@dataclass
class Field:
    kind: Union[str, tuple[str, ...]]  # "str" "int" "bool" "number" "list" "map" "any"
    required: bool = False
    choices: tuple[Any, ...] = ()
    items: Optional[Union[Field, dict[str, Field]]] = None  # list items: a field or a map schema
    values: Optional[Field] = None  # map values (free keys)
    fields: Optional[dict[str, Field]] = None  # a map with its own schema (known keys)
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
    "str": _("a string"),
    "int": _("an integer"),
    "bool": _("true or false"),
    "number": _("a number"),
    "list": _("a list"),
    "map": _("a mapping"),
    "any": _("a value"),
    "text": _("a string or {en: ..., zh: ...} (en required)"),
}

TEXT_LANGUAGES = ("en", "zh")


def text_of(value: Any) -> str:
    """A vendor's text (``text`` kind) in the user's language; its English stays reachable
    through ``installer.i18n.english`` for machine output."""
    return pick(value) if isinstance(value, dict) else str(value).strip()


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "any":
        return True
    if kind == "str":
        return isinstance(value, str)
    if kind == "text":  # a bundle's own words in both languages (issue 21)
        return isinstance(value, str) or (
            isinstance(value, dict)
            and isinstance(value.get("en"), str)
            and set(value) <= set(TEXT_LANGUAGES)
            and all(isinstance(v, str) for v in value.values())
        )
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
        expected = joined(_(" or "), [_KIND_NAMES[k] for k in kinds])
        errors.add(
            path, _("expected {expected}, got {value!r}").format(expected=expected, value=value)
        )
        return
    if spec.choices and value not in spec.choices:
        errors.add(
            path,
            _("must be one of {str_}, got {value!r}").format(
                str_=", ".join(map(str, spec.choices)), value=value
            ),
        )
    if spec.minimum is not None and _is_kind(value, "number") and value < spec.minimum:
        errors.add(
            path, _("must be >= {minimum:g}, got {value}").format(minimum=spec.minimum, value=value)
        )
    if spec.maximum is not None and _is_kind(value, "number") and value > spec.maximum:
        errors.add(
            path, _("must be <= {maximum:g}, got {value}").format(maximum=spec.maximum, value=value)
        )
    if isinstance(value, list) and spec.items is not None:
        for i, item in enumerate(value):
            if isinstance(spec.items, dict):
                check_map(item, spec.items, _join(path, i), errors)
            else:
                check_field(item, spec.items, _join(path, i), errors)
    if isinstance(value, dict) and spec.fields is not None:
        check_map(value, spec.fields, path, errors)
    if isinstance(value, dict) and spec.values is not None:
        for key, item in value.items():
            if not isinstance(key, str):
                errors.add(_join(path, str(key)), _("keys must be strings"))
                continue
            if isinstance(spec.values.items, dict) and spec.values.kind == "map":
                check_map(item, spec.values.items, _join(path, key), errors)
            else:
                check_field(item, spec.values, _join(path, key), errors)


def check_map(value: Any, schema: dict[str, Field], path: str, errors: SchemaErrors) -> None:
    if not isinstance(value, dict):
        errors.add(path, _("expected a mapping, got {value!r}").format(value=value))
        return
    for key in value:
        if key not in schema:
            known = ", ".join(sorted(schema))
            errors.add(
                _join(path, str(key)), _("unknown field (known: {known})").format(known=known)
            )
    for key, spec in schema.items():
        if key not in value or value[key] is None:
            if spec.required:
                errors.add(_join(path, key), _("is required"))
            continue
        check_field(value[key], spec, _join(path, key), errors)


# --- The schema as data: dataclass fields carry their YAML key, kind, limits and default ------

_SPEC = "sealbox.spec"


@dataclass(frozen=True)
class Meta:
    """How one dataclass field is read from YAML (see `spec_field`)."""

    check: Field
    key: Optional[str] = None  # YAML key when it differs from the attribute name
    of: Optional[type] = None  # a nested dataclass: the map itself, or each list item/map value
    keyed: Optional[str] = None  # map of `of`: the attribute that receives the map key
    convert: Optional[Callable[[Any], Any]] = None  # plain values: YAML value -> attribute


def spec_field(
    kind: Union[str, tuple[str, ...]],
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    key: Optional[str] = None,
    required: bool = False,
    choices: tuple[Any, ...] = (),
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    items: Optional[Field] = None,
    values: Optional[Field] = None,
    of: Optional[type] = None,
    keyed: Optional[str] = None,
    convert: Optional[Callable[[Any], Any]] = None,
) -> Any:
    """A dataclass field that states its own schema: the one place a spec field is declared."""
    meta = Meta(
        Field(
            kind,
            required=required,
            choices=choices,
            items=items,
            values=values,
            minimum=minimum,
            maximum=maximum,
        ),
        key,
        of,
        keyed,
        convert,
    )
    extra: dict[str, Any] = {"metadata": {_SPEC: meta}}
    if default is not MISSING:
        extra["default"] = default
    if default_factory is not MISSING:
        extra["default_factory"] = default_factory
    return dc_field(**extra)


def _meta(f: Any) -> Optional[Meta]:
    return f.metadata.get(_SPEC)


def schema_of(cls: type) -> dict[str, Field]:
    """The checker's schema of a spec dataclass, derived from its fields (in their order)."""
    out: dict[str, Field] = {}
    for f in fields(cls):
        meta = _meta(f)
        if meta is None:
            continue
        fld = meta.check
        if meta.of is not None:
            nested = schema_of(meta.of)
            if fld.kind == "list":
                fld = replace(fld, items=nested)
            elif meta.keyed:
                fld = replace(fld, values=Field("map", items=nested))
            else:
                fld = replace(fld, fields=nested)
        out[meta.key or f.name] = fld
    return out


def build(cls: type, doc: Mapping[str, Any], **given: Any) -> Any:
    """An instance of spec dataclass `cls` from a document `schema_of(cls)` accepted.

    Absent (or null) keys take the dataclass default; `given` sets attributes not read from
    the document (the map key of a keyed map, the file a spec came from)."""
    kwargs = dict(given)
    for f in fields(cls):
        meta = _meta(f)
        if meta is None or f.name in kwargs:
            continue
        raw = doc.get(meta.key or f.name)
        if raw is None:
            continue
        if meta.of is not None and meta.check.kind == "list":
            kwargs[f.name] = tuple(build(meta.of, item) for item in raw)
        elif meta.of is not None and meta.keyed:
            kwargs[f.name] = tuple(
                build(meta.of, v or {}, **{meta.keyed: k}) for k, v in raw.items()
            )
        elif meta.of is not None:
            kwargs[f.name] = build(meta.of, raw)
        elif meta.convert is not None:
            kwargs[f.name] = meta.convert(raw)
        elif isinstance(raw, list):
            kwargs[f.name] = tuple(raw)
        else:
            kwargs[f.name] = raw
    return cls(**kwargs)
