"""A function that binds ``_`` (``a, _, b = s.partition(...)``) and also calls ``_()`` fails with
UnboundLocalError the moment it calls it: the binding makes ``_`` local to the whole function.
Found at merge time in envcheck's run_checks (a crashing check could not be reported)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _binds_and_calls(fn: ast.AST) -> bool:
    binds = calls = False
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, SCOPES):
            continue
        if isinstance(node, ast.Name) and node.id == "_":
            binds |= isinstance(node.ctx, ast.Store) and not _in_comprehension(node, fn)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
            calls = True
        stack.extend(ast.iter_child_nodes(node))
    return binds and calls


def _in_comprehension(name: ast.Name, fn: ast.AST) -> bool:
    for comp in ast.walk(fn):
        if isinstance(comp, COMPREHENSIONS) and any(n is name for n in ast.walk(comp)):
            return True
    return False


def test_no_function_binds_underscore_and_calls_the_translation():
    bad = []
    for folder in ("installer", "envcheck", "fingerprint"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for fn in ast.walk(tree):
                if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) and _binds_and_calls(fn):
                    bad.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}")
    assert not bad, "rename the bound _ (e.g. _sep) in: " + ", ".join(bad)
