"""Dependency order of modules: a topological sort with a readable cycle error."""

from __future__ import annotations

from typing import Iterable, Mapping

from installer.errors import SpecError
from installer.i18n import _
from installer.spec.model import ModuleSpec


def dependency_closure(specs: Mapping[str, ModuleSpec], names: Iterable[str]) -> set[str]:
    """The named modules plus everything they depend on, transitively."""
    wanted: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        stack.extend(specs[name].depends_on)
    return wanted


def install_order(specs: Mapping[str, ModuleSpec], names: Iterable[str]) -> list[str]:
    """Dependencies first; ties broken by name so the order is stable run to run."""
    wanted = dependency_closure(specs, names)
    order: list[str] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, path: list[str]) -> None:
        mark = state.get(name)
        if mark == "done":
            return
        if mark == "visiting":
            cycle = path[path.index(name) :] + [name]
            raise SpecError(
                _("dependency cycle between modules: {cycle}").format(cycle=" -> ".join(cycle))
            )
        state[name] = "visiting"
        for dep in sorted(specs[name].depends_on):
            visit(dep, path + [name])
        state[name] = "done"
        order.append(name)

    for name in sorted(wanted):
        visit(name, [])
    return order


def dependents(specs: Mapping[str, ModuleSpec], name: str) -> list[str]:
    """Modules that depend on `name`, directly or not (what breaks if it goes)."""
    result = []
    for other in specs:
        if other != name and name in dependency_closure(specs, specs[other].depends_on):
            result.append(other)
    return sorted(result)
