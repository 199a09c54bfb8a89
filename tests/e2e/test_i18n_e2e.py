"""The main flows speak the locale (issue 21): Chinese under LANG=zh_CN.UTF-8, English under
LANG=C, and the machine output (--json, the envcheck conclusion line) identical in both."""

from __future__ import annotations

import re
import shutil

import pytest
from rich.cells import cell_len

from tests.e2e.conftest import port_sets, run_cli

pytestmark = pytest.mark.e2e

ZH = {"LANG": "zh_CN.UTF-8"}
C = {"LANG": "C"}
CJK = re.compile("[\u4e00-\u9fff]")
CONCLUSION = re.compile(r"^The conclusion of environment checking is: (pass|fail)$")
FAIL_MEMORY = ("--threshold", "memory.min_gb=100000")  # a required item that fails anywhere


def _stable(report: dict) -> dict:
    """Two runs on a live machine: free disk, load and listeners move between them; every
    text field must still be the same English."""
    out = {k: v for k, v in report.items() if k not in ("started", "elapsed_s", "facts")}
    out["items"] = [
        {k: v for k, v in item.items() if k not in ("actual", "error")} for item in out["items"]
    ]
    return out


@pytest.mark.parametrize("columns", [80, 120])
def test_envcheck_failure_table_in_chinese_keeps_the_english_conclusion(columns, docker_engine):
    zh = run_cli("envcheck", "--no-log", *FAIL_MEMORY, env={**ZH, "COLUMNS": str(columns)})
    en = run_cli("envcheck", "--no-log", *FAIL_MEMORY, env={**C, "COLUMNS": str(columns)})
    assert zh.rc == en.rc == 3, (zh.stderr, en.stderr)
    zh_lines, en_lines = zh.stdout.splitlines(), en.stdout.splitlines()
    # scripts parse the last line: the reference tool's exact English in both languages
    assert CONCLUSION.match(zh_lines[-1]) and zh_lines[-1] == en_lines[-1], zh_lines[-1]
    assert "修复方法" in zh.stdout and "增加内存" in zh.stdout and "How to fix" not in zh.stdout
    assert "How to fix" in en.stdout and "add memory" in en.stdout and not CJK.search(en.stdout)
    # CJK characters take two cells: the table still fits the terminal, borders aligned
    table = [line for line in zh_lines if line[:1] in "┏┃┡│└"]
    assert table and all(cell_len(line) <= columns for line in table), columns
    assert len({cell_len(line) for line in table}) == 1


def test_envcheck_under_the_pseudo_locale_prints_no_untranslated_line(docker_engine):
    res = run_cli(
        "envcheck",
        "--no-log",
        "-v",
        *FAIL_MEMORY,
        env={"SEALBOX_LANG": "pseudo", "COLUMNS": "2000"},
    )
    assert res.rc == 3
    lines = res.stdout.splitlines()
    assert CONCLUSION.match(lines[-1])  # the one line kept in English on purpose
    body = "\n".join(lines[:-1])
    # -v lists passed items as "PASS <profile> <item id> <actual>": codes and a value
    body = "\n".join(x for x in body.splitlines() if not x.startswith("PASS "))
    bad = _unmarked(body) + _unmarked(res.stderr)
    assert not bad, "untranslated lines of envcheck:\n" + "\n".join(bad)


def test_envcheck_json_and_junit_are_the_same_in_both_languages(docker_engine):
    for fmt in ("json", "junit"):
        zh = run_cli("envcheck", "--no-log", "-f", fmt, *FAIL_MEMORY, env=ZH)
        en = run_cli("envcheck", "--no-log", "-f", fmt, *FAIL_MEMORY, env=C)
        assert zh.rc == en.rc == 3
        assert not CJK.search(zh.stdout), zh.stdout
        if fmt == "json":
            assert _stable(zh.json()) == _stable(en.json())
            memory = next(i for i in zh.json()["items"] if i["id"] == "memory")
            assert memory["fix"] == "add memory" and memory["status"] == "fail"


def test_bad_inputs_in_both_languages(demo_bundle, tmp_path):
    state = tmp_path / "state"
    zh = run_cli("in", "face-serve", "-y", bundle=demo_bundle, state_dir=state, env=ZH)
    en = run_cli("in", "face-serve", "-y", bundle=demo_bundle, state_dir=state, env=C)
    assert zh.rc == en.rc == 2
    assert zh.error_lines() == [line for line in zh.stderr.splitlines() if line.strip()]
    assert zh.error_lines()[0].startswith("错误：未知模块 face-serve；安装包包含："), zh.stderr
    assert en.error_lines()[0].startswith("error: unknown module face-serve; the bundle has:")
    # --lang beats the locale, both ways
    forced = run_cli(
        "--lang", "en", "in", "face-serve", "-y", bundle=demo_bundle, state_dir=state, env=ZH
    )
    assert forced.error_lines() == en.error_lines()
    forced = run_cli(
        "--lang", "zh", "in", "face-serve", "-y", bundle=demo_bundle, state_dir=state, env=C
    )
    assert forced.error_lines() == zh.error_lines()
    # Docker missing: the host error and its fix in Chinese, one line, same exit code
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("setpriv", "ip", "sh"):
        path = shutil.which(tool)
        if path:
            (bindir / tool).symlink_to(path)
    res = run_cli(
        "in", "mysql", "-y", bundle=demo_bundle, state_dir=state, env={**ZH, "PATH": str(bindir)}
    )
    assert res.rc == 3 and len(res.error_lines()) == 1, res.stderr
    assert (
        "上未安装 Docker" in res.error_lines()[0] and "apt-get install -y docker.io" in res.stderr
    )
    assert not state.exists() or not any(state.iterdir())


def _unmarked(text: str) -> list[str]:
    """Lines that never went through the catalogue (see tests/unit/i18n/test_pseudo_locale.py);
    a table's body rows are data (module, container, address)."""
    from tests.unit.i18n.test_pseudo_locale import unmarked

    return unmarked(text, data_rows=True)


def test_install_list_remove_speak_the_locale(demo_bundle, tmp_path, ports, skip_args):
    """`in` under the pseudo-locale: every line it prints went through the catalogue; then `li`
    and `rm` in Chinese, and `li --json` the same in both languages."""
    state = tmp_path / "state"
    sets = port_sets(ports) + skip_args
    pseudo = {"SEALBOX_LANG": "pseudo", "COLUMNS": "2000"}
    try:
        res = run_cli("in", "mysql", "-y", *sets, bundle=demo_bundle, state_dir=state, env=pseudo)
        assert res.rc == 0, res.stderr
        bad = _unmarked(res.stdout) + _unmarked(res.stderr)
        assert not bad, "untranslated lines of `in`:\n" + "\n".join(bad)
        li = run_cli("li", bundle=demo_bundle, state_dir=state, env=ZH)
        assert li.rc == 0 and "健康" in li.stdout and "容器" in li.stdout, li.stdout
        zh = run_cli("li", "--json", bundle=demo_bundle, state_dir=state, env=ZH)
        en = run_cli("li", "--json", bundle=demo_bundle, state_dir=state, env=C)
        assert zh.rc == en.rc == 0 and zh.json() == en.json()
        assert not CJK.search(zh.stdout)
        rm = run_cli("rm", "mysql", bundle=demo_bundle, state_dir=state, env=ZH)
        assert rm.rc == 0 and "[mysql] 正在删除" in rm.stderr, rm.stderr
    finally:
        run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)
