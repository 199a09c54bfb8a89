"""envcheck's failure table in Chinese at 80 and 120 columns: CJK characters take two cells,
rich folds by cells, so every row fits the terminal and the borders line up (issue 21)."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

import envcheck  # noqa: F401  (registers the check kinds)
from envcheck import output
from envcheck.engine import Item, Report
from envcheck.kinds import KINDS
from installer.i18n import _, english, set_language


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_language("en")


def _report() -> Report:
    items = []
    for kid, actual in (
        ("memory", _("{gib:.1f} GiB (MemTotal {kb} kB)").format(gib=3.8, kb=3984588)),
        ("selinux", "enforcing"),
        ("nouveau", _("nouveau is loaded")),
    ):
        kind = KINDS[kid]
        items.append(
            Item(
                kid,
                "face-server",
                _(english(kind.meaning)),
                kind.requirement(kind.defaults),
                actual,
                required=True,
                passed=False,
                fix=_(english(kind.fix)),
            )
        )
    return Report("10.0.0.5", ["face-server"], items)


@pytest.mark.parametrize("columns", [80, 120])
def test_the_chinese_failure_table_fits_and_aligns(columns: int) -> None:
    set_language("zh")
    buf = io.StringIO()
    Console(file=buf, width=columns, color_system=None).print(output.failures_table(_report()))
    lines = buf.getvalue().splitlines()
    assert "修复方法" in lines[1] and "增加内存" in buf.getvalue()
    assert all(cell_len(line) == cell_len(lines[0]) for line in lines), buf.getvalue()
    assert cell_len(lines[0]) <= columns
    # the conclusion line stays the reference tool's English, for scripts
    assert _report().conclusion == "The conclusion of environment checking is: fail"
