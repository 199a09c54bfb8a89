"""envcheck's machine output is the same in Chinese and English (issue 21): every recorded host,
every profile, JSON and JUnit; the table shows Chinese."""

from __future__ import annotations

import re

import pytest

from envcheck import output, run_checks
from installer.i18n import english_tree, set_language

from .conftest import HOSTS, recorded_host

PROFILES = ["default", "license-server", "mysql", "face-server"]
CJK = re.compile("[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_language("en")


def _run(host: str, lang: str):  # type: ignore[no-untyped-def]
    set_language(lang)
    return run_checks(recorded_host(host), PROFILES)


@pytest.mark.parametrize("host", HOSTS)
def test_json_and_junit_do_not_change_with_the_language(host: str) -> None:
    zh, en = _run(host, "zh"), _run(host, "en")
    for report in (zh, en):
        report.started, report.elapsed_s = "", 0.0
    zh_json, en_json = output.report_json(zh), output.report_json(en)
    assert zh_json == en_json and not CJK.search(zh_json)
    assert output.report_junit(zh) == output.report_junit(en)
    assert english_tree(zh.to_dict()) == en.to_dict()
    # ... while the people's view of a failed item is in Chinese
    failed = [i for i in zh.items if i.status in ("fail", "warn")]
    if failed:
        assert any(CJK.search(str(i.actual)) or CJK.search(str(i.requirement)) for i in failed)
