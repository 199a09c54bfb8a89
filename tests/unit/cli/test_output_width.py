"""Output without a terminal keeps each message on one line (issue 19, item 9).

A piped or logged run used to be drawn 160 columns wide with ``COLUMNS`` ignored, so a long
one-line failure in the summary table folded over several lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LONG = "port 3306 (mysql port) is already in use by nc (pid 42) on gpu: " + "x" * 250 + " END"

SCRIPT = f"""
from installer.cli import output
output.error({LONG!r})
output.table("result", ["host", "result", "detail"], [("gpu", "failed", {LONG!r})])
"""


def _run(columns: str | None) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert res.returncode == 0, res.stderr
    return res.stdout, res.stderr


def test_piped_output_does_not_wrap_without_columns() -> None:
    out, err = _run(None)
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1
    assert LONG in err
    rows = [ln for ln in out.splitlines() if "END" in ln or "gpu" in ln]
    assert len(rows) == 1 and LONG in rows[0], out


def test_piped_output_honours_columns() -> None:
    out, err = _run("100")
    assert max(len(ln) for ln in out.splitlines()) <= 100, out
    assert "END" in out  # folded, not cut
    assert LONG in err  # a message line is never folded
