"""No untranslated text reaches the user: the CLI under a pseudo-locale that marks every text
the Chinese catalogue translates (⟦...⟧); a line with no mark is a text that never went through
_() or has no translation (issue 21). Help of every command, and the bad inputs the e2e tests
use that need no Docker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MARK = "\u27e6"
BORDERS = " │╭╮╰╯─┃━┏┓┗┛┡┩╇╈┳┻└┘┌┐├┤┬┴┼═"
# a typer argument row: "* name  METAVAR...  ⟦[required]⟧" has no text of its own
ARGUMENT_ROW = re.compile(r"^\*?\s*[\w-]+\s+[\[\]A-Z_. |]*(\s*list)?\s*(⟦\[required\]⟧)?$")
# envcheck's item ids ("os, arch, *gcc"): codes, the same in every language
CODE_LIST = re.compile(r"^\*?[a-z0-9-]+(, \*?[a-z0-9-]+)*$")


def unmarked(text: str, *, data_rows: bool = False) -> list[str]:
    """Lines with no mark. ``data_rows``: a table's body rows ("│ mysql │ 127.0.0.1:5535 │")
    hold names and values, not texts (its title and header rows are still checked)."""
    out = []
    for line in text.splitlines():
        if data_rows and line.startswith("│"):
            continue
        s = line.strip(BORDERS)
        if s and MARK not in s and not ARGUMENT_ROW.match(s) and not CODE_LIST.match(s):
            out.append(s)
    return out


def _env() -> dict[str, str]:
    env = dict(os.environ, SEALBOX_LANG="pseudo", COLUMNS="2000", PYTHONPATH=str(ROOT))
    for var in ("SEALBOX_BUNDLE", "SEALBOX_TRUST"):
        env.pop(var, None)
    return env


def test_every_help_text_is_translated() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "tests.unit.i18n.pseudo_run"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    helps = json.loads(res.stdout)
    assert len(helps) > 30 and "sealbox in --help" in helps
    bad = [f"{cmd}: {line}" for cmd, text in helps.items() for line in unmarked(text)]
    assert not bad, "help lines with untranslated text:\n" + "\n".join(bad)


BAD_INPUTS = [
    ["in"],
    ["in", "--bogus"],
    ["--lang", "fr", "se"],
    ["--bundle", "/nonexistent", "in", "nosuch"],
    ["envcheck", "nosuchprofile", "--no-log"],
    ["envcheck", "--threshold", "nonsense", "--no-log"],
    ["envcheck", "list"],
    ["license", "show", "/nonexistent/license.cfg"],
    ["fingerprint", "check", "/nonexistent.tar.gz"],
]


@pytest.mark.parametrize("args", BAD_INPUTS, ids=[" ".join(a) for a in BAD_INPUTS])
def test_bad_input_and_listings_are_translated(args: list[str], tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "installer.cli.app", *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.stdout + res.stderr, "no output"
    bad = unmarked(res.stdout) + unmarked(res.stderr)
    assert not bad, f"untranslated lines for {args}:\n" + "\n".join(bad)
