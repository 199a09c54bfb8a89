"""The Chinese catalogue is complete, consistent and compiled (issue 21).

A failure here lists each message id that has no Chinese (a text someone marked with _() after
the last catalogue update): run `python scripts/i18n_update.py`, fill in the empty msgstr
lines of installer/i18n/locale/zh_CN/LC_MESSAGES/sealbox.po, and run it again.
"""

from __future__ import annotations

import gettext

import pytest
from babel.messages.catalog import Catalog

from installer import i18n
from installer.i18n import LOCALE_DIR, _, english, english_tree, pick, set_language
from scripts import i18n_update


@pytest.fixture(autouse=True)
def _english_after():
    yield
    set_language("en")


def test_every_message_has_chinese_with_the_same_placeholders_and_the_mo_is_current() -> None:
    issues = i18n_update.check()
    assert not issues, "catalogue out of date (scripts/i18n_update.py):\n" + "\n".join(issues)


def test_the_check_names_an_untranslated_text_and_a_placeholder_mismatch() -> None:
    cat = Catalog(locale="zh_CN")
    cat.add("disk {path} is full", "磁盘已满")  # the translation lost {path}
    cat.add("new text nobody translated", "")
    cat.add("fine {x}", "好 {x}")
    found = i18n_update.problems(cat)
    assert found == [
        "placeholders differ: 'disk {path} is full' -> '磁盘已满'",
        "no zh translation: 'new text nobody translated'",
    ]


def test_every_marked_text_in_the_code_is_in_the_catalogue() -> None:
    """The extraction the update script runs sees the texts this test knows are marked."""
    ids = {m.id for m in i18n_update.template()}
    assert "Profile" in ids and "How to fix" in ids  # envcheck's failure table
    assert "Show this message and exit." in ids  # click's own text
    assert not any(
        rel.startswith("installer/license/shipped/") for rel, _m, _l in i18n_update.extracted()
    )


def test_the_compiled_catalogue_is_what_gettext_loads() -> None:
    tr = gettext.translation("sealbox", localedir=str(LOCALE_DIR), languages=["zh_CN"])
    assert tr.gettext("How to fix") == "修复方法"


def test_language_from_the_locale_variables() -> None:
    assert i18n.language_from_env({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert i18n.language_from_env({"LANG": "C"}) == "en"
    assert i18n.language_from_env({}) == "en"
    # the first that is set wins, as in gettext
    assert i18n.language_from_env({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert i18n.language_from_env({"LC_MESSAGES": "zh_TW.UTF-8", "LANG": "C"}) == "zh"
    assert i18n.language_from_argv(["--bundle", "b", "--lang", "zh", "in", "x"]) == "zh"
    assert i18n.language_from_argv(["--lang=en"]) == "en"
    assert i18n.language_from_argv(["in", "--", "--lang", "zh"]) is None


def test_a_text_is_shown_in_chinese_and_serialised_in_english() -> None:
    set_language("zh")
    msg = _("{path}: answers file not found").format(path="/a.yaml")
    assert msg == "/a.yaml：答案文件不存在"
    assert english(msg) == "/a.yaml: answers file not found"
    data = {"error": msg, "items": [_("Profile")], "n": 1}
    assert english_tree(data) == {
        "error": "/a.yaml: answers file not found",
        "items": ["Profile"],
        "n": 1,
    }
    set_language("en")
    assert _("Profile") == "Profile"


def test_a_bundle_text_in_both_languages_shows_the_matching_one() -> None:
    text = {"en": "Face recognition service", "zh": "人脸识别服务"}
    set_language("zh")
    assert pick(text) == "人脸识别服务" and english(pick(text)) == "Face recognition service"
    assert pick({"en": "only English"}) == "only English"
    set_language("en")
    assert pick(text) == "Face recognition service"
    assert pick("plain") == "plain"


def test_pseudo_locale_marks_translated_texts_only() -> None:
    set_language("pseudo")
    assert _("How to fix") == "\u27e6How to fix\u27e7"
    assert _("a text nobody marked for translation") == "a text nobody marked for translation"


def test_a_host_failure_keeps_its_english_for_json_and_the_log(tmp_path) -> None:
    """-H / --inventory: the summary shows the error in the user's language; --json and the
    per-host log carry the English (machine output)."""
    from installer.errors import UsageError
    from installer.fleet.run import Job, run_jobs

    set_language("zh")

    def fails(_report):  # type: ignore[no-untyped-def]
        raise UsageError(_("{path}: answers file not found").format(path="/a.yaml"))

    (res,) = run_jobs([Job("h1", fails)], parallel=1, log_dir=str(tmp_path))
    assert res.message == "/a.yaml：答案文件不存在"
    assert res.to_dict()["message"] == "/a.yaml: answers file not found"
    assert res.to_dict()["code"] == "UsageError"
    log = (tmp_path / "h1.log").read_text()
    assert "/a.yaml: answers file not found" in log and "答案" not in log


def test_a_subject_is_split_off_a_message_in_either_language() -> None:
    """`bundle verify` files each refusal under its path: parsed from the English form, since
    a Chinese message has '：' after the path (regression: partition(': ') found none)."""
    from installer.i18n import split_subject

    set_language("zh")
    msg = _("{path}: image archive missing from the bundle; copy the bundle again").format(
        path="images/a.tar.zst"
    )
    path, reason = split_subject(msg)
    assert path == "images/a.tar.zst"
    assert reason == "安装包中缺少镜像归档；请重新拷贝安装包"
    assert english(reason) == "image archive missing from the bundle; copy the bundle again"
    assert split_subject(msg, "images/a.tar.zst")[1] == reason
    assert split_subject("no colon here") == ("", "no colon here")


def test_the_wheel_ships_the_compiled_catalogue() -> None:
    """pyproject's package-data names the .mo (so the wheel, and bundles, carry it); checked by
    building one in the report: `pip wheel --no-deps .` lists
    installer/i18n/locale/zh_CN/LC_MESSAGES/sealbox.mo."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    text = (root / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]")[1].split("\n[")[0]
    globs = re.findall(r'"([^"]+)"', re.search(r"^installer = \[(.*)\]", section, re.M)[1])
    found = [p for g in globs for p in (root / "installer").glob(g)]
    assert (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "sealbox.mo") in found


def test_joining_and_adding_texts_keeps_their_english() -> None:
    set_language("zh")
    msg = _("{n} instance(s)").format(n=2)
    msg += _(", {n} not healthy").format(n=1)
    assert (msg, english(msg)) == ("2 个实例，1 个不健康", "2 instance(s), 1 not healthy")
    both = "x: " + _("no")
    assert (both, english(both)) == ("x: 否", "x: no")
    either = _(" or ").join(["overlay2", "overlayfs"])
    assert (either, english(either)) == ("overlay2 或 overlayfs", "overlay2 or overlayfs")


def test_a_text_survives_copy_and_pickle() -> None:
    import copy
    import pickle

    set_language("zh")
    t = _("no")
    for c in (copy.deepcopy(t), copy.copy(t), pickle.loads(pickle.dumps(t))):
        assert (c, english(c)) == ("否", "no")


def test_yaml_that_sealbox_writes_carries_the_english() -> None:
    import yaml

    from installer.k8s import yamlout

    set_language("zh")
    text = _("{name} port").format(name="http")
    assert yaml.safe_load(yamlout.dump([{"description": text}])) == {"description": "http port"}
    assert yaml.safe_dump({"d": text}) == "d: http port\n"
