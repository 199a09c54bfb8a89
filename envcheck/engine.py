"""run_checks: profiles + thresholds -> one fact round trip -> a Report. Never prints."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Optional, Sequence

from envcheck.checks import KINDS, ItemSpec, Outcome
from envcheck.checks_podman import FOR_PODMAN
from envcheck.profiles import MERGE_DICTS, Catalog, default_catalog
from installer.errors import UsageError
from installer.facts.fact import FactResult
from installer.facts.snapshot import HostFacts
from installer.hosts.base import Host
from installer.i18n import _, english

CONCLUSION = "The conclusion of environment checking is: {}"


@dataclass
class Item:
    """One checked item as the user sees it (a row of the reference tool's table)."""

    id: str
    profile: str
    meaning: str
    requirement: str
    actual: str
    required: bool
    passed: bool
    skipped: bool = False
    fix: str = ""
    error: Optional[str] = None
    """Set when the check itself crashed (a bug or an unexpected fact shape): exit code 1."""

    @property
    def name(self) -> str:
        """The reference tool marks optional items with a leading '*'."""
        return self.id if self.required else f"*{self.id}"

    @property
    def status(self) -> str:
        if self.skipped:
            return "skip"
        if self.passed:
            return "pass"
        return "fail" if self.required else "warn"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "profile": self.profile,
            "meaning": english(self.meaning),
            "requirement": english(self.requirement),
            "actual": english(self.actual),
            "required": self.required,
            "passed": self.passed,
            "skipped": self.skipped,
            "status": self.status,
            "fix": english(self.fix),
            "error": english(self.error),
        }


@dataclass
class Report:
    """Everything one run found on one host: items, verdict and the raw facts for support."""

    host: str
    profiles: list[str]
    items: list[Item]
    facts: dict[str, FactResult] = field(default_factory=dict)
    started: str = ""
    elapsed_s: float = 0.0
    overrides: dict[str, str] = field(default_factory=dict)
    skip: list[str] = field(default_factory=list)

    def failed_required(self) -> list[Item]:
        return [i for i in self.items if i.status == "fail"]

    def failed_optional(self) -> list[Item]:
        return [i for i in self.items if i.status == "warn"]

    def errors(self) -> list[Item]:
        return [i for i in self.items if i.error]

    @property
    def verdict(self) -> str:
        """'fail' if a required item failed, 'warn' if only optional ones did, else 'pass'."""
        if self.failed_required():
            return "fail"
        if self.failed_optional():
            return "warn"
        return "pass"

    @property
    def conclusion(self) -> str:
        """The reference tool's last line; 'warn' still concludes 'pass' (nothing required)."""
        return CONCLUSION.format("fail" if self.verdict == "fail" else "pass")

    def to_dict(self, *, raw: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "host": self.host,
            "profiles": self.profiles,
            "verdict": self.verdict,
            "started": self.started,
            "elapsed_s": round(self.elapsed_s, 3),
            "overrides": self.overrides,
            "skip": self.skip,
            "items": [i.to_dict() for i in self.items],
        }
        if raw:
            out["facts"] = {k: v.to_dict() for k, v in sorted(self.facts.items())}
        return out


def resolve_profiles(names: Sequence[str], catalog: Optional[Catalog] = None) -> list[str]:
    """Canonical profile names (aliases resolved, duplicates dropped); none means default.

    ``catalog``: the profiles of a bundle's specs (``envcheck.profiles.catalog_from_specs``);
    default: this checkout's or the bundle's ``modules/`` (``default_catalog``)."""
    cat = catalog or default_catalog()
    out: list[str] = []
    for name in names or ["default"]:
        canonical = cat.canonical(name)
        if canonical not in cat.profiles:
            known = ", ".join(cat.known())
            raise UsageError(
                _("unknown profile {name!r}; known profiles: {known}").format(
                    name=name, known=known
                )
            )
        if canonical not in out:
            out.append(canonical)
    return out


def _coerce(value: Any, like: Any, where: str) -> Any:
    """A threshold from a string (CLI, --set) into the type of its default."""
    if not isinstance(value, str):
        return value
    try:
        if isinstance(like, bool):
            low = value.strip().lower()
            if low not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(value)
            return low in ("true", "yes", "1")
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
        if isinstance(like, list):
            elem = like[0] if like else ""
            parts = [v.strip() for v in value.split(",") if v.strip()]
            return [
                int(v) if isinstance(elem, int) or (not like and v.isdigit()) else v for v in parts
            ]
    except ValueError as exc:
        raise UsageError(
            _("{where}: bad value {value!r} (expected {name})").format(
                where=where, value=value, name=type(like).__name__
            )
        ) from exc
    return value


def _set_param(spec: ItemSpec, param: str, value: Any, where: str) -> None:
    defaults = spec.kind.defaults
    head, _unused, sub = param.partition(".")
    if head not in defaults:
        known = ", ".join(sorted(defaults)) or "none"
        raise UsageError(
            _("{where}: item {id_!r} has no threshold {head!r} (known: {known})").format(
                where=where, id_=spec.id, head=head, known=known
            )
        )
    current = spec.merged()[head]
    if sub:
        if not isinstance(current, dict):
            raise UsageError(
                _("{where}: threshold {id_}.{head} is not a mapping").format(
                    where=where, id_=spec.id, head=head
                )
            )
        spec.params[head] = {**current, sub: value if not isinstance(value, str) else value}
    elif isinstance(current, dict) and isinstance(value, dict) and head in MERGE_DICTS:
        spec.params[head] = {**current, **value}
    else:
        spec.params[head] = _coerce(value, defaults[head], where)


def _known_item(item_id: str, where: str) -> None:
    if item_id not in KINDS:
        raise UsageError(
            _("{where}: unknown item {item_id!r}; known items: {kinds}").format(
                where=where, item_id=item_id, kinds=", ".join(sorted(KINDS))
            )
        )


def build_plan(
    profiles: Sequence[str],
    overrides: Optional[Mapping[str, str]] = None,
    extra_items: Optional[Sequence[Mapping[str, Any]]] = None,
    catalog: Optional[Catalog] = None,
) -> list[tuple[str, ItemSpec]]:
    """(profile, item spec) pairs with module additions and overrides applied. Pure data."""
    cat = catalog or default_catalog()
    names = resolve_profiles(profiles, cat)
    plan: list[tuple[str, ItemSpec]] = []
    own: list[Mapping[str, Any]] = []  # each profile's own extra items (a spec's `envcheck:`)
    for name in names:
        for entry in cat.profiles[name]["items"]:
            _known_item(str(entry.get("id", "")), f"profile {name}")
            spec = ItemSpec(entry["id"], bool(entry.get("required", True)))
            for k, v in entry.items():
                if k not in ("id", "required"):
                    _set_param(spec, k, v, f"profile {name}")
            plan.append((name, spec))
        own += [{**e, "profile": name} for e in cat.profiles[name].get("extra", ())]
    for extra in [*own, *(extra_items or [])]:
        where = f"extra item {dict(extra)!r}"
        item_id = str(extra.get("id", ""))
        _known_item(item_id, where)
        target = cat.canonical(str(extra.get("profile", names[0])))
        if target not in names:
            raise UsageError(
                _("{where}: profile {target!r} is not among {names}").format(
                    where=where, target=target, names=", ".join(names)
                )
            )
        found = next((s for p, s in plan if p == target and s.id == item_id), None)
        if found is None:
            found = ItemSpec(item_id)
            plan.append((target, found))
        spec = found
        if "required" in extra:
            spec.required = bool(extra["required"])
        for k, v in extra.items():
            if k not in ("id", "profile", "required"):
                _set_param(spec, k, v, where)
    for key, value in (overrides or {}).items():
        scope, _unused, rest = key.rpartition("/")
        item_id, _unused, param = rest.partition(".")
        _known_item(item_id, f"override {key}")
        if not param:
            raise UsageError(
                _("override {key}: write ITEM.THRESHOLD=VALUE, e.g. memory.min_gb=16").format(
                    key=key
                )
            )
        if scope:
            resolve_profiles([scope], cat)
        _set_param(ItemSpec(item_id), param, value, f"override {key}")  # validate even if unused
        for prof, spec in plan:
            if spec.id == item_id and (not scope or cat.canonical(scope) == prof):
                _set_param(spec, param, value, f"override {key}")
    return plan


def needed_facts(plan: Sequence[tuple[str, ItemSpec]]) -> list[str]:
    """The fact keys a plan's checks read (what a run asks its snapshot to gather)."""
    return sorted({key for _, spec in plan for key in spec.kind.facts(spec.merged())})


def for_podman(plan: Sequence[tuple[str, ItemSpec]]) -> list[tuple[str, ItemSpec]]:
    """Docker's items judged by their Podman equivalents (envcheck.checks_podman), each once
    per profile, required as the Docker item was."""
    out: list[tuple[str, ItemSpec]] = []
    seen: set[tuple[str, str]] = set()
    for prof, spec in plan:
        if spec.id in FOR_PODMAN:
            spec = ItemSpec(FOR_PODMAN[spec.id], spec.required)
        if (prof, spec.id) not in seen:
            seen.add((prof, spec.id))
            out.append((prof, spec))
    return out


def run_checks(
    host: Host,
    profiles: list[str],
    *,
    overrides: Optional[dict[str, str]] = None,
    skip: Optional[list[str]] = None,
    extra_items: Optional[list[dict]] = None,
    mode: str = "auto",
    catalog: Optional[Catalog] = None,
    facts: Optional[HostFacts] = None,
    runtime: str = "docker",
) -> Report:
    """Check ``host`` against ``profiles``; see the package docstring for every argument.

    ``facts``: the run's snapshot of ``host`` (the install gate passes the engine's); the
    checks read it, and only keys it does not hold yet are gathered (one round trip)."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    cat = catalog or default_catalog()
    names = resolve_profiles(profiles, cat)
    plan = build_plan(names, overrides, extra_items, cat)
    skips = set(skip or [])
    for s in skips:
        _known_item(s.rpartition("/")[2], f"--skip-check {s}")
    snapshot = facts if facts is not None else HostFacts(host, mode=mode, runtime=runtime)
    if any(spec.id in FOR_PODMAN for _, spec in plan) and snapshot.runtime_kind == "podman":
        plan = for_podman(plan)
        for s in list(skips):  # --skip-check docker-running skips what stands in for it
            scope, _sep, item = s.rpartition("/")
            if item in FOR_PODMAN:
                skips.add(f"{scope}/{FOR_PODMAN[item]}" if scope else FOR_PODMAN[item])
    facts_read = snapshot.gather(needed_facts(plan))
    items = []
    for prof, spec in plan:
        params = spec.merged()
        kind = spec.kind
        error = None
        try:
            outcome = kind.evaluate(params, facts_read)
        except Exception as exc:  # a check bug must not pass silently: fail the item, say why
            error = f"{type(exc).__name__}: {exc}"
            outcome = Outcome(False, _("check error: {error}").format(error=error))
        items.append(
            Item(
                id=spec.id,
                profile=prof,
                meaning=kind.meaning,
                requirement=kind.requirement(params),
                actual=outcome.actual,
                required=spec.required,
                passed=outcome.passed,
                skipped=spec.id in skips or f"{prof}/{spec.id}" in skips,
                fix="" if outcome.passed else (outcome.fix or kind.fix),
                error=error,
            )
        )
    return Report(
        host=host.name,
        profiles=names,
        items=items,
        facts=facts_read,
        started=started,
        elapsed_s=time.monotonic() - t0,
        overrides=dict(overrides or {}),
        skip=sorted(skips),
    )
