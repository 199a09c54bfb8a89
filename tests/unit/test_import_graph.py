"""The import graph's rules (../shared/ARCHITECTURE.md, issue 17 "Done when"), read with ast from
the source (``scripts/import_graph.py``): nothing is imported, so a rule holds for the function
bodies and ``if TYPE_CHECKING:`` blocks too.

- no cycle at module level, type-only imports included;
- nothing outside the CLI (installer/cli/, envcheck/cli.py, fingerprint/cli.py, the programs
  that start it) imports ``installer.cli``;
- ``installer/archive/`` imports only the standard library, third-party packages and
  ``installer.errors``;
- the in-image license package (``installer/license/shipped/``) imports only itself and what
  its ``__init__`` names (nothing of the controller), at any level;
- no import runs back up the layers (``LAYERS`` in the script);
- ``installer/`` holds only the package face and a few leaves.

Every failure message ends with the imports that run back up, so one run shows the whole picture.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, List, Set

import pytest

from installer.license import shipped
from scripts import import_graph as G

REPO = Path(__file__).resolve().parents[2]
GRAPH = G.build(REPO)

# The engine helper's part of issue 17 ("Gates take a value"): the Docker path's gates take the
# whole Deployment, so installer.deploy.gates -> preflight / bundle.gate -> engine (type-only)
# -> gates. Known, listed here ONLY until that work lands; anything else is a failure now.
# The one folder cycle left (issue 17, not yet done): the fleet's Fleet still drives the engine
# (installer.fleet.fleet imports installer.deploy.engine for its per-host Deployment), the
# install gate checks the environment (installer.deploy.preflight -> envcheck), and envcheck's and
# fingerprint's per-host jobs take the fleet's OnHost. Moving Fleet.install/remove/status into
# installer/deploy/ ends it; until then these edges are known, and no other folder cycle may form.
FLEET_DRIVES_ENGINE = {
    ("envcheck.jobs", "installer.fleet.fleet"),
    ("envcheck.jobs", "installer.fleet.run"),
    ("fingerprint.jobs", "installer.fleet.fleet"),
    ("fingerprint.jobs", "installer.fleet.run"),
    # a gate names its input type (GateInput) while it lives in its tool's folder
    ("installer.bundle.gate", "installer.deploy.gateinput"),
    ("installer.license.gate", "installer.deploy.gateinput"),
}
FOLDER_XFAIL = pytest.mark.xfail(
    strict=True,
    reason="folder cycles: envcheck/fingerprint jobs -> installer.fleet -> installer.deploy -> "
    "envcheck (Fleet still holds the engine's install/remove jobs), and bundle/license gates -> "
    "deploy.gateinput (type only): issue 17, left open",
)


def _upward_text() -> str:
    ups = G.upward(GRAPH)
    lines = [f"imports that run back up ({len(ups)}):"] + [f"  {i}" for i in ups]
    return "\n".join(lines)


def _fail_text(title: str, items: Iterable[object]) -> str:
    return "\n".join([title] + [f"  {x}" for x in items] + [_upward_text()])


def test_the_graph_sees_every_module_and_each_kind_of_import() -> None:
    """The reader itself: if it missed a kind of import every rule below would pass vacuously."""
    assert len(GRAPH.modules) > 100
    kinds = {i.kind for i in GRAPH.imports}
    assert kinds == {G.MODULE, G.TYPE_ONLY, G.FUNCTION}
    # A known import of each kind, by the line that makes it.
    assert any(
        i.source == "installer.license.shipped.server"
        and i.target == "fingerprint.collect"
        and i.kind == G.FUNCTION
        for i in GRAPH.imports
    )
    assert any(i.kind == G.TYPE_ONLY for i in GRAPH.imports)


def test_cycle_finder_finds_a_type_only_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "installer"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("from installer.a.y import Y\n")
    (pkg / "a" / "y.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from installer.a import x\n"
    )
    (pkg / "a" / "z.py").write_text("def f():\n    from installer.a import x\n")
    g = G.build(tmp_path, ("installer",))
    assert G.cycles(g) == [["installer.a.x", "installer.a.y"]]
    assert G.cycles(g, (G.MODULE,)) == []


def test_no_module_level_cycle_at_all() -> None:
    found = G.cycles(GRAPH)
    assert not found, _fail_text("import cycles (type-only imports included):", found)


def _without_engine_cycle() -> G.Graph:
    g = G.Graph(modules=GRAPH.modules, outside=GRAPH.outside)
    g.imports = [i for i in GRAPH.imports if (i.source, i.target) not in FLEET_DRIVES_ENGINE]
    return g


def test_no_folder_cycle_but_through_the_engines_known_one() -> None:
    """bundle <-> runtime <-> transfer was one; the CLI modules count as one folder."""
    found = G.folder_cycles(_without_engine_cycle())
    assert not found, _fail_text("folder cycles:", found)


@FOLDER_XFAIL
def test_no_folder_cycle_at_all() -> None:
    found = G.folder_cycles(GRAPH)
    assert not found, _fail_text("folder cycles:", found)


def test_only_the_cli_imports_the_cli() -> None:
    bad = G.cli_importers(GRAPH)
    assert not bad, _fail_text("installer.cli imported from outside the CLI:", bad)


def test_entry_points_import_nothing_but_start_the_cli() -> None:
    """An entry point may import the CLI only because nothing imports it: keep it that way."""
    importers = [i for i in GRAPH.imports if G.is_cli(i.target) and not G.is_cli(i.source)]
    assert not importers, _fail_text("a CLI module or entry point imported by:", importers)


def test_archive_is_a_leaf() -> None:
    """Streams, regular-file reads and the tar guard import nothing of Sealbox but its errors
    (and the texts' translation, a stdlib-only leaf)."""
    bad = [
        i
        for i in GRAPH.imports
        if i.source.startswith("installer.archive")
        and not (
            i.target in ("installer.errors", "installer.i18n")
            or i.target.startswith("installer.archive")
        )
    ]
    assert not bad, _fail_text("installer/archive/ imports above itself:", bad)
    assert {m for m in GRAPH.modules if m.startswith("installer.archive.")} >= {
        "installer.archive.streams",
        "installer.archive.regular",
        "installer.archive.targuard",
        "installer.archive.tarscan",
    }


def _allowed_for_shipped(module: str) -> bool:
    if module == "installer.license.shipped" or module.startswith("installer.license.shipped."):
        return True
    if module in shipped.OUTSIDE_MODULES:
        return True
    if module in shipped.OUTSIDE_EXCLUDED:
        return False
    return any(module == p or module.startswith(p + ".") for p in shipped.OUTSIDE_PACKAGES)


def _closure(start: Set[str]) -> Set[str]:
    """Every module reached from ``start`` by any import (function-level included)."""
    seen: Set[str] = set()
    todo = list(start)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += [i.target for i in GRAPH.imports if i.source == m]
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = m.split(".")
        todo += [".".join(parts[:n]) for n in range(1, len(parts)) if ".".join(parts[:n])]
    return seen


def test_in_image_license_package_imports_nothing_of_the_controller() -> None:
    """Everything the shipped package reaches, at any level, is in it or in what it names."""
    mine = {m for m in GRAPH.modules if m.startswith("installer.license.shipped")}
    assert "installer.license.shipped.server" in mine and "installer.license.shipped.client" in mine
    reached = _closure(mine)
    bad = sorted(m for m in reached if not _allowed_for_shipped(m))
    why = [
        str(i) for i in GRAPH.imports if i.source in reached and not _allowed_for_shipped(i.target)
    ]
    assert not bad, _fail_text("the in-image license package reaches controller modules:", why)


def test_in_image_license_code_needs_no_third_party_package_but_cryptography() -> None:
    """The images have Debian's python3 and python3-cryptography only."""
    mine = {m for m in GRAPH.modules if m.startswith("installer.license.shipped")}
    reached = _closure(mine)
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad: List[str] = []
    for imp in GRAPH.outside:
        top = imp.target.split(".")[0]
        if imp.source in reached and top not in stdlib and top not in shipped.THIRD_PARTY:
            bad.append(str(imp))
    assert not bad, _fail_text("third-party imports the images do not have:", bad)


def test_no_import_runs_back_up() -> None:
    ups = G.upward(GRAPH)
    assert not ups, _upward_text()


def test_installer_root_holds_only_the_face_and_leaves() -> None:
    loose = sorted(p.name for p in (REPO / "installer").glob("*.py"))
    assert set(loose) <= {"__init__.py", "errors.py", "events.py", "constants.py"}, loose
    leaves = {"installer.errors", "installer.events", "installer.constants"}
    bad = [i for i in GRAPH.imports if i.source in leaves | {"installer"}]
    assert not bad, _fail_text("the package face and the root leaves import:", bad)
