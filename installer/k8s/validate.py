"""Offline validation of rendered objects: Kubernetes OpenAPI schemas + API-server name rules.

The schemas (package `kubernetes-validate`, strict variants: unknown fields refused) carry
types and required fields; the API server's own rules on names, ports and keys are not in
them, so the few that a module spec can break are checked here too. Every error names the
object (Kind/name) and the field path, so a bad spec is fixed without guessing.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator, Sequence

from installer.errors import SpecError
from installer.i18n import _

# The oldest and newest schema sets kubernetes-validate ships, plus a middle one.
DEFAULT_VERSIONS: tuple[str, ...] = ("1.25", "1.30", "1.37")

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
IANA_SVC_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class ValidationFailed(SpecError):
    """One or more rendered objects would be refused by the cluster."""


def object_name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('name', '?')}"


def field_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def schema_errors(obj: dict[str, Any], versions: Sequence[str]) -> list[str]:
    import kubernetes_validate as kv

    errors = []
    for version in versions:
        try:
            kv.validate(obj, version, strict=True)
        except kv.ValidationError as exc:
            errors.append(
                f"{object_name(obj)}: {field_path(exc.path)}: {exc.message} "
                f"(Kubernetes {version} schema)"
            )
        except kv.SchemaNotFoundError:
            errors.append(
                f"{object_name(obj)}: apiVersion {obj.get('apiVersion')} has no {obj.get('kind')} "
                f"in the Kubernetes {version} schema"
            )
    return sorted(set(errors), key=errors.index)


def _check(ok: bool, where: str, value: Any, rule: str) -> Iterator[str]:
    if not ok:
        yield f"{where}: {value!r} {rule}"


def _name_rules(obj: dict[str, Any]) -> Iterator[str]:
    kind = obj.get("kind", "")
    name = str((obj.get("metadata") or {}).get("name", ""))
    where = f"{object_name(obj)}: metadata.name"
    if kind in ("Service", "Namespace"):
        rule = DNS1035_LABEL if kind == "Service" else DNS1123_LABEL
        yield from _check(
            bool(rule.match(name)) and len(name) <= 63,
            where,
            name,
            "is not a valid name (lower-case letters, digits and '-', at most 63)",
        )
    else:
        yield from _check(
            bool(DNS1123_SUBDOMAIN.match(name)) and len(name) <= 253,
            where,
            name,
            "is not a valid name (lower-case DNS subdomain)",
        )
    for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
        yield from _check(
            bool(LABEL_VALUE.match(str(value))) and len(str(value)) <= 63,
            f"{object_name(obj)}: metadata.labels.{key}",
            value,
            "is not a valid label value (at most 63 of A-Z a-z 0-9 - _ .)",
        )


def _pod_rules(obj: dict[str, Any], pod: dict[str, Any], base: str) -> Iterator[str]:
    prefix = f"{object_name(obj)}: {base}"
    for i, vol in enumerate(pod.get("volumes") or []):
        yield from _check(
            bool(DNS1123_LABEL.match(str(vol.get("name", "")))),
            f"{prefix}.volumes[{i}].name",
            vol.get("name"),
            "is not a valid volume name (lower-case letters, digits and '-')",
        )
    for ci, cont in enumerate(pod.get("containers") or []):
        cbase = f"{prefix}.containers[{ci}]"
        yield from _check(
            bool(DNS1123_LABEL.match(str(cont.get("name", "")))),
            f"{cbase}.name",
            cont.get("name"),
            "is not a valid container name",
        )
        for pi, port in enumerate(cont.get("ports") or []):
            pname = str(port.get("name", ""))
            yield from _check(
                bool(IANA_SVC_NAME.match(pname)) and len(pname) <= 15,
                f"{cbase}.ports[{pi}].name",
                pname,
                "is not a valid port name (at most 15 of a-z 0-9 '-', with a letter; "
                "rename the port in the module spec)",
            )
            number = port.get("containerPort")
            yield from _check(
                isinstance(number, int) and 1 <= number <= 65535,
                f"{cbase}.ports[{pi}].containerPort",
                number,
                "must be 1-65535",
            )


def semantic_errors(obj: dict[str, Any]) -> list[str]:
    """API-server rules the OpenAPI schemas do not express."""
    errors = list(_name_rules(obj))
    kind = obj.get("kind")
    if kind in ("ConfigMap", "Secret"):
        for field in ("data", "stringData", "binaryData"):
            for key in obj.get(field) or {}:
                errors += _check(
                    bool(CONFIG_KEY.match(key)) and len(key) <= 253,
                    f"{object_name(obj)}: {field}.{key}",
                    key,
                    "is not a valid key (A-Z a-z 0-9 - _ .)",
                )
    if kind in ("Deployment", "StatefulSet"):
        spec = obj.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        errors += _pod_rules(obj, pod, "spec.template.spec")
        for i, claim in enumerate(spec.get("volumeClaimTemplates") or []):
            cname = str((claim.get("metadata") or {}).get("name", ""))
            errors += _check(
                bool(DNS1123_LABEL.match(cname)),
                f"{object_name(obj)}: spec.volumeClaimTemplates[{i}].metadata.name",
                cname,
                "is not a valid claim name (lower-case letters, digits and '-')",
            )
    if kind == "Service":
        for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            pname = str(port.get("name", ""))
            errors += _check(
                bool(IANA_SVC_NAME.match(pname)) and len(pname) <= 15,
                f"{object_name(obj)}: spec.ports[{i}].name",
                pname,
                "is not a valid port name (at most 15 of a-z 0-9 '-', with a letter)",
            )
    return errors


def validate_objects(
    objects: Sequence[dict[str, Any]], versions: Sequence[str] = DEFAULT_VERSIONS
) -> None:
    """Raise ValidationFailed listing every problem in every object (not just the first)."""
    errors: list[str] = []
    for obj in objects:
        errors += schema_errors(obj, versions)
        errors += semantic_errors(obj)
    if errors:
        shown = "; ".join(errors[:8])
        more = f" (and {len(errors) - 8} more)" if len(errors) > 8 else ""
        raise ValidationFailed(
            _("rendered manifests refused: {shown}{more}").format(shown=shown, more=more)
        )


def supported_versions() -> list[str]:
    import kubernetes_validate.utils as kvu

    return [kvu.major_minor(v) for v in kvu.all_versions()]
