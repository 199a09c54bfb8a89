"""Fingerprint data: raw components (in memory only) and hashed machine records (portable).

``Fingerprint`` holds raw serials and exists only on the machine it describes: it has no
serialiser and its repr hides the values. ``MachineRecord`` is what travels (secfile, archive,
license): hashes plus human-readable labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from fingerprint.errors import SecfileError
from fingerprint.hashing import DEFAULT_ALGORITHM, DEFAULT_PRODUCT, get_algorithm

COMPONENTS: Tuple[str, ...] = (
    "machine_id",
    "product_uuid",
    "board_serial",
    "system_serial",
    "disk_serials",
    "macs",
    "cpu_model",
    "gpu_uuids",
    "npu_serials",
)
"""Component kinds in display order. Multi-valued kinds end in ``s`` (sets of hashes)."""

COMPONENT_TITLES: Dict[str, str] = {
    "machine_id": "/etc/machine-id",
    "product_uuid": "DMI product UUID",
    "board_serial": "board serial",
    "system_serial": "system serial",
    "disk_serials": "root disk serial(s)",
    "macs": "physical NIC MACs",
    "cpu_model": "CPU model",
    "gpu_uuids": "GPU UUIDs",
    "npu_serials": "Ascend NPU board serials",
}

IDENTITY_COMPONENTS: Tuple[str, ...] = tuple(c for c in COMPONENTS if c != "cpu_model")
"""Components that should be unique per machine: sharing one means a clone or a copied disk."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Fingerprint:
    """A live machine as read through a Host: raw values, never written anywhere.

    ``missing`` maps a component kind to why it could not be read (e.g. needs root).
    """

    raw: Mapping[str, Tuple[str, ...]] = field(repr=False)
    labels: Mapping[str, Any]
    missing: Mapping[str, str]
    collected_at: str = ""

    def to_record(
        self,
        *,
        name: str = "",
        product: str = DEFAULT_PRODUCT,
        algorithm: str = DEFAULT_ALGORITHM,
    ) -> MachineRecord:
        """Hash every component; this is the only way raw values leave this object."""
        algo = get_algorithm(algorithm)
        components = {
            kind: algo.hash_all(kind, self.raw[kind], product)
            for kind in COMPONENTS
            if self.raw.get(kind)
        }
        return MachineRecord(
            name=name or secfile_name(self.labels),
            algorithm=algo.id,
            product=product,
            components=components,
            missing={k: v for k, v in self.missing.items() if k not in components},
            labels=dict(self.labels),
            collected_at=self.collected_at,
        )


@dataclass(frozen=True)
class MachineRecord:
    """One machine as hashed components plus readable labels (hostname, IPs, CPU, VM evidence)."""

    name: str
    algorithm: str
    product: str
    components: Mapping[str, Tuple[str, ...]]
    missing: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, Any] = field(default_factory=dict)
    collected_at: str = ""

    @property
    def host(self) -> str:
        return str(self.labels.get("hostname") or "?")

    @property
    def primary_ip(self) -> Optional[str]:
        ip = self.labels.get("primary_ip")
        return str(ip) if ip else None

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready form, used by the secfile and embedded by the license."""
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "product": self.product,
            "collected_at": self.collected_at,
            "components": {k: list(v) for k, v in self.components.items()},
            "missing": dict(self.missing),
            "labels": dict(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "record") -> MachineRecord:
        """Validate and build; errors name ``source`` and what is wrong with it."""
        if not isinstance(data, Mapping):
            raise SecfileError(f"{source}: not a fingerprint record (expected an object)")
        algorithm = data.get("algorithm")
        if not isinstance(algorithm, str):
            raise SecfileError(f"{source}: no 'algorithm' field; collect it again")
        get_algorithm(algorithm)
        comps = data.get("components")
        if not isinstance(comps, Mapping):
            raise SecfileError(f"{source}: no 'components' object; collect it again")
        components: Dict[str, Tuple[str, ...]] = {}
        for kind, hashes in comps.items():
            if kind not in COMPONENTS:
                raise SecfileError(f"{source}: unknown component {kind!r}; upgrade sealbox")
            if (
                not isinstance(hashes, list)
                or not hashes
                or not all(isinstance(h, str) and _HEX64.match(h) for h in hashes)
            ):
                raise SecfileError(f"{source}: component {kind!r} is not a list of sha256 hashes")
            components[kind] = tuple(sorted(set(hashes)))
        missing = data.get("missing") or {}
        labels = data.get("labels") or {}
        if not isinstance(missing, Mapping) or not isinstance(labels, Mapping):
            raise SecfileError(f"{source}: 'missing' and 'labels' must be objects")
        return cls(
            name=str(data.get("name") or ""),
            algorithm=algorithm,
            product=str(data.get("product") or DEFAULT_PRODUCT),
            components=components,
            missing={str(k): str(v) for k, v in missing.items()},
            labels=dict(labels),
            collected_at=str(data.get("collected_at") or ""),
        )


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def secfile_name(labels: Mapping[str, Any]) -> str:
    """``secfile_<primary LAN IPv4>``, or ``secfile_<hostname>`` when there is no IPv4."""
    ident = labels.get("primary_ip") or labels.get("hostname") or "unknown"
    return "secfile_" + (_UNSAFE.sub("_", str(ident)).strip("._") or "unknown")
