"""Remote command text: quoting survives a real sh, sudo prefixes, file scripts behave."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess

import pytest

from installer.hosts.ssh import read_script, remote_command, write_script


def sh(text: str, input: bytes = b"") -> subprocess.CompletedProcess:
    # sshd hands the command text to the login shell, as here
    return subprocess.run(["sh", "-c", text], input=input, capture_output=True)


def test_argv_is_quoted_for_the_remote_shell() -> None:
    nasty = ["printf", "%s|", "a b", "c'd", '"e"', "$HOME", "`id`", "x;y", ""]
    text = remote_command(nasty)
    assert shlex.split(text)[:2] == ["sh", "-c"]
    assert sh(text).stdout == b'a b|c\'d|"e"|$HOME|`id`|x;y||'


def test_string_command_keeps_shell_features() -> None:
    res = sh(remote_command("echo one | tr o O; exit 3"))
    assert res.stdout == b"One\n" and res.returncode == 3


def test_missing_command_is_127() -> None:
    assert sh(remote_command(["sealbox-no-such-command-xyz"])).returncode == 127


def test_env_is_passed_and_validated() -> None:
    text = remote_command("echo $A-$B", env={"A": "x y", "B": "'q'"})
    assert sh(text).stdout == b"x y-'q'\n"
    with pytest.raises(ValueError):
        remote_command("true", env={"A;rm": "x"})


def test_sudo_prefixes() -> None:
    assert remote_command(["id"], sudo="nopasswd").startswith("sudo -n -- sh -c ")
    text = remote_command(["id"], sudo="password")
    assert text.startswith("sudo -S -k -p '' -- sh -c ")
    with pytest.raises(ValueError):
        remote_command(["id"], sudo="maybe")


def test_env_goes_after_sudo_so_sudo_does_not_drop_it() -> None:
    argv = shlex.split(remote_command("true", env={"X": "1"}, sudo="nopasswd"))
    assert argv.index("env") > argv.index("sudo") and "X=1" in argv


def test_write_script_is_atomic_with_mode(tmp_path) -> None:
    target = tmp_path / "sub dir" / "it's.conf"
    res = sh(remote_command(write_script(str(target), 0o640)), input=b"k=v\n")
    assert res.returncode == 0, res.stderr
    assert target.read_bytes() == b"k=v\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert os.listdir(target.parent) == ["it's.conf"]  # no temp file left behind


def test_write_script_failure_leaves_old_file(tmp_path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    # a directory where the temp file would go cannot be created: the old content stays
    res = sh(remote_command(write_script(str(target / "x"), 0o600)), input=b"new")
    assert res.returncode != 0
    assert target.read_bytes() == b"old"


def test_read_script_missing_is_66(tmp_path) -> None:
    assert sh(remote_command(read_script(str(tmp_path / "nope")))).returncode == 66
    (tmp_path / "a b").write_bytes(b"\x00\x01data")
    res = sh(remote_command(read_script(str(tmp_path / "a b"))))
    assert res.returncode == 0 and res.stdout == b"\x00\x01data"
