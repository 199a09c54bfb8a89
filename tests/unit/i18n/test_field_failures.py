"""The field guide's known failures each map to a check whose fix reads in both languages, and
the README's two tables name them (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

import envcheck  # noqa: F401  (registers the check kinds)
from envcheck.kinds import KINDS
from installer.i18n import _, english, set_language

ROOT = Path(__file__).resolve().parents[3]

FIELD_FAILURES = {
    "GLIBC_2.14 not found": "glibc",
    "permission denied": "selinux",
    "machine auth check failure": "network",
    "no space left on device": "disk-docker",
    "nvidia-docker: command not found": "nvidia-runtime",
    "nouveau": "nouveau",
    "kernel headers": "kernel-headers",
    "nginx/openresty": "ports",
    "authenticate failed: Couldn't connect to server": "firewall",
}


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_language("en")


@pytest.mark.parametrize("symptom,item", FIELD_FAILURES.items())
def test_each_known_failure_has_a_check_with_a_fix_in_both_languages(symptom, item) -> None:
    set_language("zh")
    kind = KINDS[item]
    assert kind.fix and kind.meaning
    # the kinds' texts were read when envcheck was imported (in English here): look them up
    for text in (_(english(kind.fix)), _(english(kind.meaning))):
        assert str(text) != english(text), f"{item}: no Chinese for {english(text)!r}"
        assert any("\u4e00" <= ch <= "\u9fff" for ch in str(text))
    readme = (ROOT / "README.md").read_text()
    table_en = readme.split("### The field's known failures")[1].split("| 现场症状")[0]
    table_zh = readme.split("| 现场症状")[1].split("## Exit codes")[0]
    assert symptom.split(":")[0] in table_en and f"`{item}`" in table_en
    assert f"`{item}`" in table_zh
