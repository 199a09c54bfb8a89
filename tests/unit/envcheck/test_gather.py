"""The one-round-trip fact script: run by real sh here (no root, no Docker needed)."""

from __future__ import annotations

import pytest

from installer.facts import parse
from installer.facts.fact import Fact
from installer.facts.gather import GatherError, build_script, gather, parse_script_output
from installer.hosts.base import Result
from installer.hosts.local import LocalHost
from installer.hosts.recorded import RecordedHost


def text(r: Result) -> str:
    return r.stdout


FACTS = [
    Fact("no_newline", text, command="printf abc"),
    Fact("two_lines", text, command="echo one; echo two"),
    Fact("stderr_and_rc", text, command="echo out; echo err >&2; exit 3"),
    Fact("missing", text, command="surely-not-a-command-sealbox --version"),
    Fact("lookalike", text, command="echo '@@SBX-0000@@ 0 rc 0'"),
    Fact("a_file", text, path="/proc/self/status"),
    Fact("no_file", text, path="/nonexistent/sealbox/file"),
    Fact("locale", text, command="echo $LC_ALL"),
]


def test_script_runs_everything_in_one_round_trip() -> None:
    calls = []

    class Counting(LocalHost):
        def run(self, cmd, **kw):  # type: ignore[no-untyped-def]
            calls.append(cmd)
            return super().run(cmd, **kw)

    got = gather(Counting(), FACTS, mode="script")
    assert len(calls) == 1 and isinstance(calls[0], str) and "@@SBX-" in calls[0]
    raw = {k: v.raw for k, v in got.items()}
    assert raw["no_newline"].stdout == "abc"
    assert raw["two_lines"].stdout == "one\ntwo\n"
    assert (raw["stderr_and_rc"].rc, raw["stderr_and_rc"].stdout) == (3, "out\n")
    assert raw["stderr_and_rc"].stderr == "err\n"
    assert raw["missing"].rc == 127 and raw["missing"].not_found
    assert raw["lookalike"].stdout == "@@SBX-0000@@ 0 rc 0\n"
    assert "Name:" in raw["a_file"].stdout
    assert raw["no_file"].rc == 1 and "No such file" in raw["no_file"].stderr
    assert raw["locale"].stdout == "C\n"
    assert raw["two_lines"].cmd == "echo one; echo two"


def test_each_mode_gives_the_same_results() -> None:
    script = gather(LocalHost(), FACTS, mode="script")
    each = gather(LocalHost(), FACTS, mode="each")
    for key in ("no_newline", "two_lines", "stderr_and_rc", "lookalike", "locale"):
        assert (script[key].raw.rc, script[key].raw.stdout) == (
            each[key].raw.rc,
            each[key].raw.stdout,
        )
    assert each["missing"].raw.rc == 127 and each["no_file"].raw.rc == 1


def test_parse_rejects_foreign_output() -> None:
    assert parse_script_output(FACTS, "abcd", "sh: 1: mktemp: not found\n") is None
    script = build_script(FACTS[:1], "abcd")
    assert "@@SBX-abcd@@" in script and "timeout 20" in script


def test_recorded_host_falls_back_to_one_command_per_fact() -> None:
    f = Fact("uname", parse.uname, {}, command="uname -r -m")
    host = RecordedHost({"uname -r -m": "3.10.0-1160.el7.x86_64 x86_64\n"})
    got = gather(host, [f])
    assert got["uname"].value == {"release": "3.10.0-1160.el7.x86_64", "machine": "x86_64"}
    with pytest.raises(GatherError, match="no usable output"):
        gather(host, [f], mode="script")


def test_unreachable_host_is_a_gather_error() -> None:
    class Down(RecordedHost):
        def run(self, cmd, **kw):  # type: ignore[no-untyped-def]
            raise ConnectionResetError("connection reset by peer")

    with pytest.raises(GatherError, match="could not read facts .*connection reset") as exc:
        gather(Down(name="db-01"), FACTS[:1])
    assert exc.value.exit_code == 1
