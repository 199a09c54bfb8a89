"""Check kinds: the registry and the pieces every kind is made of.

A check kind knows what it means, how to word its requirement from its thresholds, which facts
it reads and how to judge them. It never prints and never touches the host: facts come in
already read (``installer.facts``), so every check is a pure function that unit tests drive
with recorded facts. The kinds themselves live by subject in ``envcheck.checks_*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from installer.facts.fact import FactResult

Facts = Mapping[str, FactResult]
Params = Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """The verdict of one item: passed or not, what we saw, how to fix it."""

    passed: bool
    actual: str
    fix: str = ""


@dataclass(frozen=True)
class CheckKind:
    id: str
    meaning: str
    defaults: dict[str, Any]
    facts: Callable[[Params], list[str]]
    requirement: Callable[[Params], str]
    evaluate: Callable[[Params, Facts], Outcome]
    fix: str = ""


KINDS: dict[str, CheckKind] = {}


def _kind(
    id: str,
    meaning: str,
    facts: list[str] | Callable[[Params], list[str]],
    requirement: Callable[[Params], str],
    fix: str = "",
    **defaults: Any,
) -> Callable[[Callable[[Params, Facts], Outcome]], Callable[[Params, Facts], Outcome]]:
    def register(fn: Callable[[Params, Facts], Outcome]) -> Callable[[Params, Facts], Outcome]:
        fact_fn = facts if callable(facts) else (lambda _p, keys=tuple(facts): list(keys))
        KINDS[id] = CheckKind(id, meaning, dict(defaults), fact_fn, requirement, fn, fix)
        return fn

    return register


def _gb(kb: int) -> float:
    return kb * 1024 / 1e9


def _fail(actual: str, fix: str = "") -> Outcome:
    return Outcome(False, actual, fix)


def _said(key: str, r: FactResult) -> str:
    """'chronyc: command not found', not 'chronyc: chronyc: command not found'."""
    text = r.error or ""
    return (
        text
        if text.startswith(key.split("_")[0].replace("nvidia", "nvidia-"))
        else f"{key}: {text}"
    )


@dataclass
class ItemSpec:
    """One item of a profile: a check kind plus its thresholds and whether it is required."""

    id: str
    required: bool = True
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> CheckKind:
        return KINDS[self.id]

    def merged(self) -> dict[str, Any]:
        out = dict(self.kind.defaults)
        out.update(self.params)
        return out
