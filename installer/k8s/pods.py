"""What a pod may do and use: security contexts and resource requests/limits.

Security: every container drops ALL capabilities, cannot escalate privileges and runs under
the runtime's default seccomp profile. Non-root where the image allows it; two documented
exceptions keep root (still without capabilities beyond what they use):
  - the license server: hostNetwork + hostPath state dir on the licensed node (root-owned);
  - a module with data volumes (MariaDB): its entrypoint chowns the volume and drops to the
    `mysql` user itself and stops its init server, which needs CHOWN/SETUID/SETGID/
    DAC_OVERRIDE/FOWNER/KILL.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from installer.errors import UsageError
from installer.i18n import _
from installer.spec.model import ModuleSpec

GPU_RESOURCE = "nvidia.com/gpu"
NON_ROOT_UID = 65532
DATA_OWNER_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "KILL", "SETGID", "SETUID")
RESOURCE_NAMES = ("cpu", "memory")
FALLBACK = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$")


def pod_security() -> dict[str, Any]:
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def container_security(spec: ModuleSpec, *, pinned: bool, stateful: bool) -> dict[str, Any]:
    caps: dict[str, Any] = {"drop": ["ALL"]}
    out: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": caps}
    if stateful:
        caps["add"] = list(DATA_OWNER_CAPS)
    elif not pinned and not spec.mounts:
        out["runAsNonRoot"] = True
        out["runAsUser"] = NON_ROOT_UID
        out["runAsGroup"] = NON_ROOT_UID
    return out


def check_quantity(value: str, what: str) -> str:
    if not _QUANTITY.match(value):
        raise UsageError(
            _("{what} {value!r}: expected a Kubernetes quantity such as 500m, 2, 1Gi").format(
                what=what, value=value
            )
        )
    return value


def parse_resource_option(text: str, option: str) -> dict[str, str]:
    """`cpu=500m,memory=1Gi` from --requests/--limits."""
    out: dict[str, str] = {}
    for part in [p for p in text.split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in RESOURCE_NAMES:
            raise UsageError(
                _("{option} {text}: expected cpu=QUANTITY,memory=QUANTITY").format(
                    option=option, text=text
                )
            )
        out[name] = check_quantity(value.strip(), f"{option} {name}")
    return out


def resources(
    spec: ModuleSpec,
    gpus: int,
    requests: Optional[Mapping[str, str]] = None,
    limits: Optional[Mapping[str, str]] = None,
) -> dict[str, Any]:
    """Requests and limits from the module spec (fallbacks for a spec without them), the
    command line's over them; GPUs as a string quantity (1.20's apply refuses an integer)."""
    out: dict[str, dict[str, str]] = {}
    for kind, asked in (("requests", requests), ("limits", limits)):
        merged = {**FALLBACK[kind], **spec.resources.get(kind, {}), **dict(asked or {})}
        out[kind] = {
            k: check_quantity(str(v), f"{spec.name} resources.{kind}.{k}")
            for k, v in merged.items()
        }
    if gpus:
        out["limits"][GPU_RESOURCE] = str(gpus)
    return out


_SUFFIX = {
    "": 1,
    "m": 0.001,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def quantity_value(value: str) -> float:
    """A quantity as a number (bytes, cores, devices), for comparing sizes."""
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return 0.0
    return (
        float(str(value).strip()[: len(str(value).strip()) - len(m.group(2) or "")])
        * _SUFFIX[m.group(2) or ""]
    )
