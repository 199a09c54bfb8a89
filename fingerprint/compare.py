"""Comparing fingerprints: license matching (k of n), clone detection, and what changed.

Matching is per component *kind*. Multi-valued kinds (MACs, disks, GPUs) are sets of hashes
and match when the two sets share a member, so a renamed, reordered, added or single replaced
NIC does not break a license. Nothing that changes on reboot (boot id, uptime, IPs) is a
component, so a reboot cannot change a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

from fingerprint.errors import AlgorithmError
from fingerprint.model import (
    COMPONENT_TITLES,
    COMPONENTS,
    IDENTITY_COMPONENTS,
    Fingerprint,
    MachineRecord,
)

SHARED_BY_MODEL: Tuple[str, ...] = tuple(c for c in COMPONENTS if c not in IDENTITY_COMPONENTS)
"""Components every machine of a model shares (CPU model): shown, never counted toward k.
A clone keeps them, so counting them would let a disk-image clone with a new MAC match."""

VM_MUST_MATCH = "product_uuid"
"""On a virtual machine the hypervisor's per-VM UUID must match (when the license has it):
a cloned VM gets a new one, a copied disk keeps machine-id and disk serials."""


@dataclass(frozen=True)
class MatchPolicy:
    """``required`` of the components the license recorded must match; ``must_match`` kinds
    must match regardless of the count (e.g. the vendor insists on ``product_uuid``)."""

    required: int
    must_match: FrozenSet[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.required < 1:
            raise ValueError("MatchPolicy.required must be at least 1")
        unknown = set(self.must_match) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components in must_match: {', '.join(sorted(unknown))}")

    @classmethod
    def suggested(cls, record: MachineRecord) -> MatchPolicy:
        """A default for issuing, over the identity components only (not the CPU model): all
        but one when four or more were recorded (one part may be replaced), else all."""
        n = sum(1 for k in record.components if k not in SHARED_BY_MODEL)
        return cls(required=max(1, n - 1 if n >= 4 else n))

    def to_dict(self) -> dict:
        return {"required": self.required, "must_match": sorted(self.must_match)}

    @classmethod
    def from_dict(cls, data: Mapping) -> MatchPolicy:
        return cls(int(data["required"]), frozenset(data.get("must_match") or ()))


@dataclass(frozen=True)
class ComponentDiff:
    kind: str
    reason: str  # "changed" | "missing here" | "not recorded in license"

    def __str__(self) -> str:
        return f"{COMPONENT_TITLES.get(self.kind, self.kind)} ({self.reason})"


@dataclass(frozen=True)
class MatchResult:
    """The verdict plus everything needed to explain it in words."""

    ok: bool
    matched: Tuple[str, ...]
    differing: Tuple[ComponentDiff, ...]
    required: int
    total: int
    algorithm: str
    failed_must_match: Tuple[str, ...] = ()

    @property
    def differing_components(self) -> List[str]:
        return [d.kind for d in self.differing]

    def explain(self) -> str:
        """One line: ``4 of 5 components match (4 required); differ: board serial (changed)``."""
        text = f"{len(self.matched)} of {self.total} components match ({self.required} required)"
        if self.differing:
            text += "; differ: " + ", ".join(str(d) for d in self.differing)
        if self.failed_must_match:
            text += "; must match: " + ", ".join(self.failed_must_match)
        return text

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "matched": list(self.matched),
            "differing": [{"component": d.kind, "reason": d.reason} for d in self.differing],
            "required": self.required,
            "total": self.total,
            "algorithm": self.algorithm,
            "explanation": self.explain(),
        }


def _live_hashes(
    licensed: MachineRecord, live: Union[Fingerprint, MachineRecord]
) -> Mapping[str, Tuple[str, ...]]:
    if isinstance(live, Fingerprint):
        # Re-hash the live raw values with the license's own algorithm: old licenses keep
        # verifying after the default algorithm moves on.
        return live.to_record(algorithm=licensed.algorithm, product=licensed.product).components
    if live.algorithm != licensed.algorithm or live.product != licensed.product:
        raise AlgorithmError(
            f"cannot compare {live.algorithm}/{live.product} with the license's "
            f"{licensed.algorithm}/{licensed.product}; match against a live collect() instead"
        )
    return live.components


def match(
    licensed: MachineRecord,
    live: Union[Fingerprint, MachineRecord],
    policy: MatchPolicy,
    *,
    on_vm: bool = False,
) -> MatchResult:
    """Does ``live`` (raw, from ``collect``; or a record hashed the same way) match the machine
    the license recorded? n = identity components the license recorded (``SHARED_BY_MODEL``
    ones never count); a component the license did not record never counts, whether or not
    this machine has it. ``on_vm``: ``product_uuid`` must match too (if recorded)."""
    here = _live_hashes(licensed, live)
    matched: List[str] = []
    differing: List[ComponentDiff] = []
    must = set(policy.must_match)
    if on_vm and licensed.components.get(VM_MUST_MATCH):
        must.add(VM_MUST_MATCH)
    for kind in IDENTITY_COMPONENTS:
        want = licensed.components.get(kind)
        if not want:
            continue
        have = here.get(kind)
        if not have:
            differing.append(ComponentDiff(kind, "missing here"))
        elif set(want) & set(have):
            matched.append(kind)
        else:
            differing.append(ComponentDiff(kind, "changed"))
    failed_must = tuple(k for k in sorted(must) if k not in matched)
    total = len(matched) + len(differing)
    ok = total > 0 and len(matched) >= policy.required and not failed_must
    return MatchResult(
        ok=ok,
        matched=tuple(matched),
        differing=tuple(differing),
        required=policy.required,
        total=total,
        algorithm=licensed.algorithm,
        failed_must_match=failed_must,
    )


@dataclass(frozen=True)
class SharedComponent:
    """An identity component found on more than one machine: cloned VM, copied disk image."""

    kind: str
    machines: Tuple[str, ...]


def shared_components(records: Sequence[MachineRecord]) -> List[SharedComponent]:
    """Identity components (not CPU model) whose hash appears on two or more machines."""
    owners: Dict[Tuple[str, str, str, str], List[str]] = {}
    for r in records:
        for kind in IDENTITY_COMPONENTS:
            for h in r.components.get(kind, ()):
                owners.setdefault((r.algorithm, r.product, kind, h), []).append(r.name)
    found: Dict[Tuple[str, Tuple[str, ...]], SharedComponent] = {}
    for (_, _, kind, _), names in owners.items():
        if len(names) > 1:
            key = (kind, tuple(sorted(names)))
            found[key] = SharedComponent(kind, key[1])
    return sorted(found.values(), key=lambda s: (COMPONENTS.index(s.kind), s.machines))


def clone_flags(records: Sequence[MachineRecord]) -> Dict[str, List[str]]:
    """Per machine name: ``["machine_id, macs with secfile_b", ...]`` for the inspect table."""
    with_other: Dict[str, Dict[str, List[str]]] = {r.name: {} for r in records}
    for s in shared_components(records):
        for name in s.machines:
            for other in s.machines:
                if other != name:
                    kinds = with_other.setdefault(name, {}).setdefault(other, [])
                    if s.kind not in kinds:
                        kinds.append(s.kind)
    return {
        name: [f"{', '.join(kinds)} with {other}" for other, kinds in sorted(by_other.items())]
        for name, by_other in with_other.items()
    }


def _overlap(a: MachineRecord, b: MachineRecord) -> int:
    if a.algorithm != b.algorithm or a.product != b.product:
        return 0
    return sum(
        1
        for kind in IDENTITY_COMPONENTS
        if set(a.components.get(kind, ())) & set(b.components.get(kind, ()))
    )


def pair_records(
    old: Sequence[MachineRecord], new: Sequence[MachineRecord]
) -> List[Tuple[Optional[MachineRecord], Optional[MachineRecord]]]:
    """Pair the same machine across two archives: by shared identity components first (IPs
    and file names may change), then by file name, then by hostname."""
    pairs: List[Tuple[Optional[MachineRecord], Optional[MachineRecord]]] = []
    left = list(old)
    for n in new:
        best = max(left, key=lambda o: _overlap(o, n), default=None)
        if best is None or _overlap(best, n) == 0:
            best = next((o for o in left if o.name == n.name), None) or next(
                (o for o in left if o.host == n.host and n.host != "?"), None
            )
        if best is not None:
            left.remove(best)
        pairs.append((best, n))
    pairs.extend((o, None) for o in left)
    return pairs


_LABELS_DIFFED = (
    "hostname",
    "primary_ip",
    "os",
    "kernel",
    "cpu_model",
    "memory_bytes",
    "gpus",
    "npus",
    "vm",
)


def diff_records(old: Optional[MachineRecord], new: Optional[MachineRecord]) -> List[str]:
    """Human lines describing what changed for one machine between two collections."""
    if old is None:
        return ["new machine"]
    if new is None:
        return ["machine no longer in the archive"]
    changes: List[str] = []
    if old.algorithm != new.algorithm or old.product != new.product:
        changes.append(f"algorithm {old.algorithm} -> {new.algorithm} (components not comparable)")
    else:
        for kind in COMPONENTS:
            a, b = set(old.components.get(kind, ())), set(new.components.get(kind, ()))
            title = COMPONENT_TITLES[kind]
            if a == b:
                continue
            if not a:
                changes.append(f"{title}: now readable")
            elif not b:
                changes.append(f"{title}: no longer readable ({new.missing.get(kind, 'missing')})")
            elif len(a) > 1 or len(b) > 1:
                changes.append(f"{title}: {len(a - b)} removed, {len(b - a)} added")
            else:
                changes.append(f"{title}: changed")
    for key in _LABELS_DIFFED:
        if old.labels.get(key) != new.labels.get(key):
            changes.append(f"{key}: {old.labels.get(key)} -> {new.labels.get(key)}")
    return changes
