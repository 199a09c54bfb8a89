"""Only the command lines import the CLI: the engine, the fleet and the tools never do."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
# The command lines themselves, and install.py's launcher (it starts the CLI).
ALLOWED = {"envcheck/cli.py", "fingerprint/cli.py", "installer/bundle/install_shim.py"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    offenders = []
    for pkg in ("installer", "envcheck", "fingerprint"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("installer/cli/") or rel in ALLOWED:
                continue
            bad = sorted(
                m for m in _imports(path) if m == "installer.cli" or m.startswith("installer.cli.")
            )
            if bad:
                offenders.append(f"{rel}: {', '.join(bad)}")
    assert offenders == []
