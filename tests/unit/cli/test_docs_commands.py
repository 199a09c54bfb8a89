"""Every command line the READMEs show and every command an error message suggests parses
through the real CLI, and no ``--help`` shows developer text: the docs cannot drift from the code.

Lines are parsed, not run (see ``clitree.parse``): what would install or delete something is
checked without doing it. Scripts the READMEs run (``bash scripts/demo.sh``) must exist and
pass ``bash -n``.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.unit.cli.clitree import parse, roots, walk
from tests.unit.cli.doclines import ROOT, all_documented, expand, script_of

DOCUMENTED = all_documented()


def test_the_readmes_show_commands() -> None:
    """The extractor finds what the READMEs show (an empty list would pass everything)."""
    lines = {line for _, _, line in DOCUMENTED}
    assert "python3 install.py in face-server" in lines
    assert any(line.startswith("sealbox license keygen") for line in lines)
    assert any(line.startswith("sealbox license issue -r finger.tar.gz") for line in lines)
    assert "bash scripts/demo.sh" in lines
    assert len(DOCUMENTED) > 30


@pytest.mark.parametrize(
    "where,line", [(f"{f}:{n}", line) for f, n, line in DOCUMENTED], ids=lambda v: str(v)
)
def test_readme_command_parses(where: str, line: str) -> None:
    script = script_of(shlex.split(line))
    if script:
        path = ROOT / script
        assert path.is_file(), f"{where}: {script} does not exist"
        res = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, f"{where}: {script}: {res.stderr}"
        return
    for concrete in expand(line):
        try:
            parse(concrete)
        except click.ClickException as exc:
            pytest.fail(f"{where}: `{concrete}` (from `{line}`): {exc.format_message()}")


# --- commands that error messages suggest ----------------------------------------------

SOURCES = ["installer", "envcheck", "fingerprint", "install.py"]
SUGGESTED = re.compile(
    r"[`'](?:sudo )?((?:python3 )?(?:install\.py|sealbox|envcheck|fingerprint) [^`']+)[`']"
)
HINTED_OPTION = re.compile(r"\b(?:pass|add|with|use|or)\s+(--[a-z][a-z0-9-]*)")


def _source_strings() -> list[tuple[str, str]]:
    """(file:line, text) of every string literal; f-string holes become ``X``."""
    out: list[tuple[str, str]] = []
    files: list[Path] = []
    for src in SOURCES:
        p = ROOT / src
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docstrings:
                    continue
                text = node.value
            else:
                continue
            out.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    return out


STRINGS = _source_strings()
SUGGESTIONS = sorted(
    {(where, m.group(1).strip()) for where, text in STRINGS for m in SUGGESTED.finditer(text)}
)


def test_error_messages_suggest_commands() -> None:
    found = {cmd for _, cmd in SUGGESTIONS}
    # hints that name a command the user runs on the customer side are built with
    # installer.errors.command() (issue 19, item 1): tested below
    assert any(c.startswith("sealbox bundle ") for c in found)
    assert any(c.startswith(("install.py ", "python3 install.py ")) for c in found)


@pytest.mark.parametrize("where,command", SUGGESTIONS, ids=lambda v: str(v))
def test_suggested_command_parses(where: str, command: str) -> None:
    try:
        parse(command)
    except click.MissingParameter:
        pass  # "run 'fingerprint pack'" names the command; click asks for its arguments
    except click.ClickException as exc:
        pytest.fail(f"{where} suggests `{command}`: {exc.format_message()}")


def _all_options() -> set[str]:
    names: set[str] = set()
    for prog, root in roots().items():
        for _, cmd in walk(root, [prog]):
            for p in cmd.params:
                names.update(o for o in p.opts + p.secondary_opts if o.startswith("--"))
    return names


def test_options_that_messages_hint_at_exist() -> None:
    """``pass --vendor-pub FILE``: every option a message tells the user to add exists."""
    known = _all_options()
    external = {"--gpus"}  # `docker run --gpus` in a docstring-like message about Docker
    missing = sorted(
        f"{where}: {m.group(1)}"
        for where, text in STRINGS
        for m in HINTED_OPTION.finditer(text)
        if m.group(1) not in known and m.group(1) not in external
    )
    assert not missing, missing


def test_license_install_error_suggests_only_its_own_options(tmp_path, monkeypatch) -> None:
    """Regression: with no bundle, `license install` said "pass --vendor-pub", which it lacks."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEALBOX_BUNDLE", raising=False)
    (tmp_path / "license.cfg").write_text("x")
    res = CliRunner().invoke(roots()["sealbox"], ["license", "install", "license.cfg"])
    assert res.exit_code != 0
    message = res.output
    assert "vendor public key" in message or "bundle" in message, message
    hinted = HINTED_OPTION.findall(message)
    assert hinted, message
    for opt in hinted:
        line = f"sealbox {opt} X license install license.cfg"
        if opt != "--bundle":
            line = f"sealbox license install license.cfg {opt} X"
        parse(line)  # raises NoSuchOption if the message lies


# --- help texts ---------------------------------------------------------------------------

DEVELOPER_PHRASES = [
    "no checking logic",
    "no logic here",
    "parse arguments",
    "parses, calls the engine",
    "printing only",
    "run the engine",
    "typer",
    "docstring",
    "``",
    "\\[",
]


def _help_pages() -> list[tuple[str, list[str]]]:
    pages = []
    for prog, root in roots().items():
        for path, _ in walk(root, [prog]):
            pages.append((prog, path[1:]))
    return pages


@pytest.mark.parametrize(
    "prog,path", _help_pages(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_help_has_no_developer_text(prog: str, path: list[str]) -> None:
    root = roots()[prog]
    res = CliRunner().invoke(root, [*path, "--help"], prog_name=prog, terminal_width=200)
    assert res.exit_code == 0, res.output
    low = res.output.lower()
    bad = [p for p in DEVELOPER_PHRASES if p in low]
    assert not bad, f"{prog} {' '.join(path)} --help shows {bad}:\n{res.output}"


def test_install_py_envcheck_takes_profiles_like_envcheck() -> None:
    """Regression: `install.py envcheck face-server` was "No such command"."""
    mounted = parse("install.py envcheck face-server -v")
    standalone = parse("envcheck face-server -v")
    assert mounted.params["profiles"] == standalone.params["profiles"] == ("face-server",)
    assert mounted.command.params[0].name == standalone.command.params[0].name


# --- one convention: --purge asks, --yes answers ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["rmall", "--purge"],
        ["rm", "mysql", "--purge"],
        ["rm", "face-server", "--purge", "--k8s"],
        ["k8s", "delete", "--purge"],
    ],
)
def test_purge_without_a_terminal_needs_yes(args: list[str], tmp_path, monkeypatch) -> None:
    """No terminal to ask on: exit 2 with the fix, before any bundle, host or cluster is read."""
    from installer.errors import UsageError

    monkeypatch.chdir(tmp_path)  # no bundle here: reaching the engine would fail differently
    res = CliRunner().invoke(roots()["sealbox"], args)
    assert isinstance(res.exception, UsageError), res.output
    assert res.exception.exit_code == 2
    message = str(res.exception)
    assert "--yes" in message and "nothing was deleted" in message
    suggested = re.search(r"\(([^()]*--purge --yes)\)", message)
    assert suggested, message
    parse("sealbox " + suggested.group(1))  # the fix it names is a real command line


@pytest.mark.parametrize("cmd", ["in", "inall", "rm", "rmall", "k8s delete"])
def test_every_command_that_can_ask_takes_yes(cmd: str) -> None:
    root = roots()["sealbox"]
    sub = root
    for part in cmd.split():
        assert isinstance(sub, click.Group)
        sub = sub.commands[part]
    assert any("--yes" in p.opts for p in sub.params), f"{cmd} has no --yes"


def test_readme_scripts_run_from_a_root_shell_without_sudo() -> None:
    """Regression: the README said `sudo bash scripts/demo.sh`; a minimal Debian root shell has
    no sudo. The lines are shown without it, and the scripts never call it themselves."""
    scripts = [(w, line) for w, _, line in DOCUMENTED if script_of(shlex.split(line))]
    assert scripts
    for where, line in scripts:
        assert not line.startswith("sudo "), f"{where}: {line}"
    call = re.compile(r"(^|[;&|(`]|\$\()\s*sudo\s")
    for path in sorted((ROOT / "scripts").glob("*.sh")):
        for n, text in enumerate(path.read_text().splitlines(), 1):
            code = text.split("#", 1)[0]
            assert not call.search(code), f"{path.name}:{n} calls sudo: {text.strip()}"


@pytest.mark.parametrize("script_dir", [None, "/media/usb/bundle"])
def test_hint_names_the_command_the_user_has(monkeypatch, script_dir) -> None:
    """Issue 19, item 1: a controller that has only the bundle has `python3 install.py`, not
    `sealbox`; the refusal's hint names the one that exists there, and it parses."""
    from installer.errors import SCRIPT_DIR_ENV, command

    if script_dir is None:
        monkeypatch.delenv(SCRIPT_DIR_ENV, raising=False)
    else:
        monkeypatch.setenv(SCRIPT_DIR_ENV, script_dir)
    hint = command("bundle verify")
    parse(command("license install license.cfg"))
    assert hint == (
        "sealbox bundle verify" if script_dir is None else "python3 install.py bundle verify"
    )
    parse(hint)
