#!/usr/bin/env python3
"""The import graph of installer/, envcheck/ and fingerprint/, read with ast (nothing imported).

Used by ``tests/unit/test_import_graph.py`` (the rules) and run by hand for the figures
(``python scripts/import_graph.py [ROOT]``): module-level cycles (``if TYPE_CHECKING:`` imports
included), imports that run back up the layers, and who imports the CLI. Function-level imports
are listed apart: they do not make a cycle at import time, but they are still a dependency.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

PACKAGES = ("installer", "envcheck", "fingerprint")

MODULE, TYPE_ONLY, FUNCTION = "module", "type", "function"

# Layers, lowest first: a module may import its own layer and the ones below, never one above
# ("an import that runs back up"). Longest prefix wins; ``installer`` alone is the package face.
# The order is ../shared/ARCHITECTURE.md's: leaves, then hosts, then facts and the in-image
# license code, then bundle < transfer < runtime (runtime loads through transfer, never the
# reverse), then the controller's license part, then the engine, then the CLI on top.
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ("installer", "installer.errors", "installer.events", "installer.constants", "installer.i18n"),
    ("installer.archive", "installer.signing"),
    ("installer.hosts",),
    ("installer.facts", "installer.spec", "fingerprint"),
    ("installer.license.shipped",),
    ("installer.bundle",),
    ("installer.transfer",),
    ("installer.runtime",),
    ("envcheck",),
    ("installer.license",),
    # the engine; the bundle's and the license's install gates and the vendor's bundle builder
    # sit beside it
    ("installer.deploy", "installer.fleet", "installer.k8s")
    + ("installer.bundle.gate", "installer.bundle.create", "installer.license.gate")
    # each tool's per-host job: the tool handed to the fleet (used by the CLIs)
    + ("envcheck.jobs", "fingerprint.jobs"),
    ("installer.cli", "envcheck.cli", "fingerprint.cli", "installer.bundle.install_shim"),
)

# Where modules of older trees (before 1dc5e9f's moves) sat, so that their figures compare: a
# loose module at installer/ that is not a leaf was an install-engine file.
LEGACY = {
    "installer.hostfacts": "installer.facts",
    "installer.runtime.facts": "installer.facts",
    "installer.runtime.archive": "installer.archive",
    "installer.runtime.targuard": "installer.archive",
    "installer.bundle.regular": "installer.archive",
    "installer.multihost": "installer.fleet",
    "installer.inventory": "installer.fleet",
    "installer.runtime.load": "installer.runtime.load",
    "installer.bundle.tarscan": "installer.archive.tarscan",
}
for _m in "asks client clock fileformat http keys leases model server service verify".split():
    LEGACY[f"installer.license.{_m}"] = f"installer.license.shipped.{_m}"
ENGINE_DEFAULT = "installer.deploy"

# Programs at the top of the graph, besides the CLI modules and any ``__main__``: the bundle's
# install.py (it starts the CLI once the carried wheels are verified; nothing imports it).
ENTRY_POINTS = ("installer.bundle.install_shim",)


@dataclass(frozen=True)
class Import:
    """One import statement's target (a module of the three packages, or an outside name)."""

    source: str
    target: str
    line: int
    kind: str  # MODULE, TYPE_ONLY or FUNCTION

    def __str__(self) -> str:
        return f"{self.source}:{self.line} -> {self.target} ({self.kind})"


@dataclass
class Graph:
    """Every module of the packages and what each imports."""

    modules: Dict[str, Path] = field(default_factory=dict)
    imports: List[Import] = field(default_factory=list)  # internal targets only
    outside: List[Import] = field(default_factory=list)  # stdlib / third-party targets

    def edges(self, kinds: Iterable[str]) -> Dict[str, Set[str]]:
        wanted = set(kinds)
        out: Dict[str, Set[str]] = {m: set() for m in self.modules}
        for imp in self.imports:
            if imp.kind in wanted and imp.target != imp.source:
                out[imp.source].add(imp.target)
        return out


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    """Walks one module, noting each import with where it sits (module, TYPE_CHECKING, def)."""

    def __init__(self, name: str, is_package: bool) -> None:
        self.name = name
        self.package = name if is_package else name.rpartition(".")[0]
        self.found: List[Tuple[str, List[str], int, str]] = []  # (module, names, line, kind)
        self._func = 0
        self._typing = 0

    def _kind(self) -> str:
        if self._func:
            return FUNCTION
        return TYPE_ONLY if self._typing else MODULE

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._func += 1
        self.generic_visit(node)
        self._func -= 1

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._func += 1
        self.generic_visit(node)
        self._func -= 1

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self._typing += 1
            for stmt in node.body:
                self.visit(stmt)
            self._typing -= 1
            for stmt in node.orelse:
                self.visit(stmt)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, [], node.lineno, self._kind()))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            pkg = self.package.split(".")
            pkg = pkg[: len(pkg) - (node.level - 1)]
            base = ".".join(pkg + ([base] if base else []))
        names = [a.name for a in node.names if a.name != "*"]
        self.found.append((base, names, node.lineno, self._kind()))


def _resolve(target: str, modules: Dict[str, Path]) -> Optional[str]:
    """The longest known module that ``target`` names (None: not one of ours)."""
    parts = target.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in modules:
            return cand
        parts.pop()
    return None


def build(root: Path, packages: Sequence[str] = PACKAGES) -> Graph:
    """Parse every module under ``root/<package>`` (no import, so no side effect)."""
    graph = Graph()
    files: List[Path] = []
    for pkg in packages:
        files.extend(sorted((root / pkg).rglob("*.py")))
    for path in files:
        graph.modules[module_name(root, path)] = path
    for name, path in graph.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        col = _Collector(name, path.name == "__init__.py")
        col.visit(tree)
        for base, names, line, kind in col.found:
            targets = [f"{base}.{n}" for n in names if f"{base}.{n}" in graph.modules]
            if not targets or len(targets) < len(names):
                targets.append(base)
            for t in dict.fromkeys(targets):
                known = _resolve(t, graph.modules)
                if known is None:
                    graph.outside.append(Import(name, t, line, kind))
                elif known != name:
                    graph.imports.append(Import(name, known, line, kind))
    return graph


def cycles(graph: Graph, kinds: Iterable[str] = (MODULE, TYPE_ONLY)) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = graph.edges(kinds)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: List[Tuple[str, Iterable[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: List[str] = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def folder_of(module: str, graph: Graph) -> str:
    """The folder a module lives in (a package's own name for its __init__); the CLI modules
    (envcheck/cli.py and fingerprint/cli.py too) count as one folder, the CLI."""
    if is_cli(module):
        return "installer.cli"
    path = graph.modules[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def folder_cycles(graph: Graph, kinds: Iterable[str] = (MODULE, TYPE_ONLY)) -> List[List[str]]:
    """Cycles between folders (installer.bundle -> installer.runtime -> installer.bundle)."""
    folders = Graph()
    for m in graph.modules:
        folders.modules.setdefault(folder_of(m, graph), graph.modules[m])
    for imp in graph.imports:
        if imp.kind in set(kinds):
            a, b = folder_of(imp.source, graph), folder_of(imp.target, graph)
            if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
                folders.imports.append(Import(a, b, imp.line, imp.kind))
    return cycles(folders, kinds)


def _prefixed(module: str, names: Iterable[str]) -> Optional[str]:
    best: Optional[str] = None
    for n in names:
        if (module == n or module.startswith(n + ".")) and (best is None or len(n) > len(best)):
            best = n
    return best


def layer(module: str) -> int:
    """The layer of ``module`` (index into LAYERS); a ``__main__`` is a program, on top."""
    if module.endswith(".__main__"):
        return len(LAYERS) - 1
    legacy = _prefixed(module, LEGACY)
    if legacy is not None:
        module = LEGACY[legacy] + module[len(legacy) :]
    parts = module.split(".")
    if parts[0] == "installer" and len(parts) >= 2:
        known = [n for names in LAYERS for n in names if n != "installer"]
        if _prefixed(module, known) is None:
            module = ENGINE_DEFAULT  # an old loose install file at installer/
    best, rank = "", 0
    for i, names in enumerate(LAYERS):
        hit = _prefixed(module, names)
        if (
            hit is not None
            and (hit != "installer" or module == "installer")
            and len(hit) > len(best)
        ):
            best, rank = hit, i
    return rank


def upward(graph: Graph, kinds: Iterable[str] = (MODULE, TYPE_ONLY, FUNCTION)) -> List[Import]:
    """Imports from a lower layer to a higher one (``LAYERS``)."""
    wanted = set(kinds)
    return [i for i in graph.imports if i.kind in wanted and layer(i.target) > layer(i.source)]


ROOT_LEAVES = ("installer", "installer.errors", "installer.events", "installer.constants")


def into_root(graph: Graph) -> List[Import]:
    """Imports from a sub-folder of installer/ up into a loose installer/*.py that is not a leaf
    (the old engine files that sat at the root)."""
    loose = {
        m
        for m, p in graph.modules.items()
        if m.count(".") == 1 and m.startswith("installer.") and p.name != "__init__.py"
    }
    return [
        i
        for i in graph.imports
        if i.source.count(".") >= 2
        and i.source.startswith("installer.")
        and i.target in loose - set(ROOT_LEAVES)
    ]


CLI = ("installer.cli", "envcheck.cli", "fingerprint.cli")


def is_cli(module: str) -> bool:
    """The CLI's own modules (and the entry points that start it)."""
    return module.endswith(".__main__") or _prefixed(module, CLI + ENTRY_POINTS) is not None


def cli_importers(graph: Graph) -> List[Import]:
    """Imports of ``installer.cli`` from outside the CLI modules."""
    return [
        i
        for i in graph.imports
        if (i.target == "installer.cli" or i.target.startswith("installer.cli."))
        and not is_cli(i.source)
    ]


def report(root: Path) -> str:
    graph = build(root)
    lines = [f"modules: {len(graph.modules)}"]
    by_kind = {k: [i for i in upward(graph) if i.kind == k] for k in (MODULE, TYPE_ONLY, FUNCTION)}
    total = sum(len(v) for v in by_kind.values())
    lines.append(
        f"imports that run back up: {total} "
        f"(module {len(by_kind[MODULE])}, type-only {len(by_kind[TYPE_ONLY])}, "
        f"function-level {len(by_kind[FUNCTION])})"
    )
    for imp in sorted(upward(graph), key=str):
        lines.append(f"  up: {imp}")
    root_ups = into_root(graph)
    lines.append(f"imports from a sub-folder into a loose installer/ module: {len(root_ups)}")
    for imp in root_ups:
        lines.append(f"  root: {imp}")
    loose = sorted(p.name for p in (root / "installer").glob("*.py"))
    lines.append(f"installer/*.py: {len(loose)} ({', '.join(loose)})")
    mod_cycles = cycles(graph, (MODULE,))
    all_cycles = cycles(graph, (MODULE, TYPE_ONLY))
    lines.append(
        f"module-level cycles: {len(mod_cycles)}; with type-only imports: {len(all_cycles)}"
    )
    for c in all_cycles:
        lines.append("  cycle: " + " <-> ".join(c))
    fc = folder_cycles(graph)
    lines.append(f"folder cycles: {len(fc)}")
    for c in fc:
        lines.append("  folders: " + " <-> ".join(c))
    cli = cli_importers(graph)
    lines.append(f"CLI imported from outside the CLI: {len(cli)}")
    for imp in cli:
        lines.append(f"  {imp}")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args(argv)
    print(report(Path(args.root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
