"""SSHHost against real sshd processes in sandbox hosts (network + mount namespaces)."""

from __future__ import annotations

import io
import os
import subprocess
import time

import paramiko
import pytest

from installer.hosts.base import Host
from installer.hosts.ssh import (
    AuthFailedError,
    HostKeyChangedError,
    HostKeyUnknownError,
    HostUnreachableError,
    SSHHost,
    SudoRefusedError,
)

pytestmark = pytest.mark.e2e


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text
    return text


def test_run_read_write_put_as_root(ssh_hosts, connect, tmp_path) -> None:
    h = ssh_hosts[0]
    host = connect(h)
    assert isinstance(host, Host) and host.is_local is False and host.name == f"root@{h.address}"
    res = host.run(["printf", "%s|", "a b", "c'd", "$HOME", ""])
    assert res.ok and res.stdout == "a b|c'd|$HOME||"
    assert host.run("echo err >&2; exit 7").rc == 7
    assert host.run("echo err >&2; exit 7").stderr == "err\n"
    assert host.run(["sealbox-no-such-command"]).rc == 127
    assert host.run("cat", input=b"x" * 3_000_000).stdout == "x" * 3_000_000
    assert host.run("sleep 5", timeout=0.5).rc == 124
    assert host.run("echo $A", env={"A": "b c"}).stdout == "b c\n"

    host.write("/var/lib/sealbox/state/s.json", b'{"a": 1}', 0o600)
    assert host.read("/var/lib/sealbox/state/s.json") == b'{"a": 1}'
    assert host.run(["stat", "-c", "%a", "/var/lib/sealbox/state/s.json"]).stdout == "600\n"
    # the file is in this host's private /var/lib/sealbox only
    assert os.path.exists(h.path("/var/lib/sealbox/state/s.json"))
    assert not os.path.exists("/var/lib/sealbox/state/s.json")
    assert not os.path.exists(ssh_hosts[1].path("/var/lib/sealbox/state/s.json"))

    src = tmp_path / "blob"
    src.write_bytes(os.urandom(2_500_000))
    host.put(str(src), "/tmp/blob", 0o640)
    assert host.read("/tmp/blob") == src.read_bytes()
    host.put(io.BytesIO(b"from a file object"), "/tmp/fo")
    assert host.read("/tmp/fo") == b"from a file object"

    host.makedirs("/var/lib/sealbox/a/b")
    assert host.exists("/var/lib/sealbox/a/b") and not host.exists("/var/lib/sealbox/nope")
    host.remove("/var/lib/sealbox/a", recursive=True)
    host.remove("/var/lib/sealbox/never-existed")
    assert not host.exists("/var/lib/sealbox/a")
    with pytest.raises(FileNotFoundError):
        host.read("/var/lib/sealbox/nope")


def test_unknown_host_key_refused_then_accepted_with_flag(ssh_hosts, connect, tmp_path) -> None:
    h = ssh_hosts[0]
    kh = tmp_path / "empty_known_hosts"
    with pytest.raises(HostKeyUnknownError) as err:
        connect(h, known_hosts=str(kh)).connect()
    msg = one_line(err.value)
    assert h.address in msg and "--accept-new-host-keys" in msg and "SHA256:" in msg
    assert not kh.exists()

    host = connect(h, known_hosts=str(kh), accept_new_host_keys=True)
    assert host.run(["true"]).ok
    assert kh.read_text() == h.known_hosts_line()
    # and now it is known: strict mode accepts it
    assert connect(h, known_hosts=str(kh)).run(["true"]).ok


def test_changed_host_key_refused_even_with_accept_flag(ssh_hosts, connect, tmp_path) -> None:
    h = ssh_hosts[0]
    other = paramiko.Ed25519Key.from_private_key_file(h.wrong_key)  # any other ed25519 key
    kh = tmp_path / "known_hosts"
    kh.write_text(
        f"# old entries\nbox ssh-ed25519 AAAA\n{h.address} ssh-ed25519 {other.get_base64()}\n"
    )
    before = kh.read_text()
    for accept in (False, True):
        with pytest.raises(HostKeyChangedError) as err:
            connect(h, known_hosts=str(kh), accept_new_host_keys=accept).connect()
        msg = one_line(err.value)
        assert "CHANGED" in msg and h.address in msg and f"line 3 of {kh}" in msg
    assert kh.read_text() == before


def test_wrong_password_and_wrong_key_are_one_line_errors(ssh_hosts, connect) -> None:
    h = ssh_hosts[0]
    with pytest.raises(AuthFailedError) as err:
        connect(h, "secure", key_filename=None, password="not-the-password").connect()
    msg = one_line(err.value)
    assert f"secure@{h.address}" in msg and "password" in msg

    with pytest.raises(AuthFailedError) as err:
        connect(h, "deploy", key_filename=h.wrong_key).connect()
    assert h.wrong_key in one_line(err.value)

    # the right password works
    ok = connect(h, "secure", key_filename=None, password=h.users["secure"].password)
    assert ok.run(["id", "-u"]).stdout == "0\n"  # and is reused for sudo


def test_unreachable_is_one_line_after_retries(ssh_hosts, connect) -> None:
    h = ssh_hosts[0]
    host = connect(h, port=2222, connect_retries=1, connect_timeout=2)
    with pytest.raises(HostUnreachableError) as err:
        host.connect()
    msg = one_line(err.value)
    assert f"{h.address}:2222" in msg and "2 attempts" in msg


def test_sudo_without_password(ssh_hosts, connect) -> None:
    host = connect(ssh_hosts[0], "deploy")
    assert host.sudo_mode == "nopasswd"
    assert host.run(["id", "-u"]).stdout == "0\n"
    host.write("/var/lib/sealbox/by-deploy", b"x")
    assert host.run(["stat", "-c", "%U", "/var/lib/sealbox/by-deploy"]).stdout == "root\n"


def test_sudo_with_password_keeps_stdin_clean(ssh_hosts, connect) -> None:
    h = ssh_hosts[0]
    secret = h.users["secure"].password
    assert secret
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return secret

    host = connect(h, "secure", prompt=prompt)
    assert host.sudo_mode == "password" and len(prompts) == 1
    assert host.run(["id", "-u"]).stdout == "0\n"
    assert host.run("cat", input=b"payload\n").stdout == "payload\n"  # password not in stdin
    host.write("/var/lib/sealbox/by-secure", b"ok")
    assert host.read("/var/lib/sealbox/by-secure") == b"ok"
    assert host.run(["true"]).ok and len(prompts) == 1  # asked once per host
    with open(os.path.join(h.hostdir, "sshd.log"), "rb") as fh:
        assert secret.encode() not in fh.read()


def test_sudo_refusals(ssh_hosts, connect, monkeypatch) -> None:
    h = ssh_hosts[0]
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a TTY: never prompt
    with pytest.raises(SudoRefusedError) as err:
        connect(h, "secure").connect()
    assert "needs a password" in one_line(err.value)
    with pytest.raises(SudoRefusedError) as err:
        connect(h, "secure", sudo_password="wrong").connect()
    assert f"secure@{h.address}" in one_line(err.value)
    with pytest.raises(SudoRefusedError) as err:
        connect(h, "nosudo", sudo_password=h.users["nosudo"].password).connect()
    assert "sudoers" in one_line(err.value)
    # sudo=False: work as the login user
    plain = connect(h, "nosudo", sudo=False)
    assert plain.run(["id", "-un"]).stdout == "nosudo\n"


def test_jump_host(ssh_hosts, connect, tmp_path) -> None:
    h = ssh_hosts[0]
    kh = tmp_path / "kh"
    # behind the jump host, its own sshd answers on 127.0.0.1 inside the namespace
    kh.write_text(h.known_hosts_line() + h.known_hosts_line().replace(h.address, "127.0.0.1", 1))
    jump = connect(h, known_hosts=str(kh))
    inner = SSHHost(
        "root@127.0.0.1",
        key_filename=h.client_key,
        known_hosts=str(kh),
        use_agent=False,
        look_for_keys=False,
        jump=jump,
    )
    try:
        out = inner.run("echo $SSH_CONNECTION").stdout.split()
        assert out[0] == "127.0.0.1" and out[2] == "127.0.0.1"
    finally:
        inner.close()


def test_openssh_client_agrees_on_the_sandbox(ssh_hosts) -> None:
    """The sandbox is a faithful sshd: OpenSSH's own client sees the same DOCKER_HOST."""
    h = ssh_hosts[1]
    res = subprocess.run(
        [
            "ssh",
            "-i",
            h.client_key,
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            f"root@{h.address}",
            "echo $DOCKER_HOST",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0 and res.stdout == "unix:///var/run/docker.sock\n"


class Refused(Exception):
    pass


@pytest.mark.parametrize("user", ["root", "secure"])
def test_a_failed_producer_kills_the_remote_command_before_its_input_ends(
    ssh_hosts, connect, user
) -> None:
    """Issue 18, item 2: over SSH a failed stream used to END the command's input (EOF), so a
    `docker load` holding a withheld tar went on and registered it. Now the remote process
    group is killed and no EOF is ever sent: a command that acts on EOF never acts."""
    h = ssh_hosts[0]
    secret = h.users[user].password if user != "root" else None
    host = connect(h, user, prompt=lambda _text: secret)  # secure: sudo with a password
    mark = f"/var/lib/sealbox/eof-{os.getpid()}-{user}"
    host.remove(mark)

    def chunks():
        yield b"x" * 100_000
        time.sleep(0.5)  # the command is reading by now
        raise Refused("sha256 mismatch")

    # like docker load: does its work once its input ends
    t0 = time.monotonic()
    with pytest.raises(Refused):
        host.run_streaming_input(f"cat > /dev/null; touch {mark}", chunks())
    assert time.monotonic() - t0 < 10  # killed, not waited out
    time.sleep(1)
    assert host.run(["test", "-e", mark]).rc == 1, "the command saw EOF and went on"
    res = host.run_streaming_input("cat; echo done >&2", iter([b"a", b"b"]))
    assert res.ok and res.stdout == "ab" and res.stderr == "done\n", res
