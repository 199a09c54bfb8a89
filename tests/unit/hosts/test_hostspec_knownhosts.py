"""HostSpec parsing and the host-key policy decisions (no sockets)."""

from __future__ import annotations

import paramiko
import pytest

from installer.errors import UsageError
from installer.hosts import knownhosts
from installer.hosts.spec import HostSpec


@pytest.mark.parametrize(
    "text,user,host,port",
    [
        ("10.0.0.5", "root", "10.0.0.5", 22),
        ("deploy@10.0.0.5", "deploy", "10.0.0.5", 22),
        ("deploy@gpu-1.lan:2222", "deploy", "gpu-1.lan", 2222),
        ("[fd00::5]:2200", "root", "fd00::5", 2200),
        ("ops@[fd00::5]", "ops", "fd00::5", 22),
    ],
)
def test_parse(text: str, user: str, host: str, port: int) -> None:
    spec = HostSpec.parse(text)
    assert (spec.user, spec.host, spec.port) == (user, host, port)


@pytest.mark.parametrize("text", ["", "a@b@c", "host:99999", "host:", "user@", "fd00::5"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        HostSpec.parse(text)


def test_defaults_and_display() -> None:
    spec = HostSpec.parse("gpu1:2222", user="ops", key_filename="/k")
    assert spec.user == "ops" and spec.key_filename == "/k"
    assert str(spec) == "ops@gpu1:2222"
    assert spec.known_hosts_name == "[gpu1]:2222"
    assert HostSpec.parse("gpu1").known_hosts_name == "gpu1"


def test_password_not_in_repr() -> None:
    spec = HostSpec("h", password="s3cret", sudo_password="s3cret2")
    assert "s3cret" not in repr(spec)


KEY_A = "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY_B = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def write_known(tmp_path, lines: list[str]) -> str:
    path = tmp_path / "known_hosts"
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_lookup_plain_port_hashed_wildcard_and_markers(tmp_path) -> None:
    hashed = paramiko.HostKeys.hash_host("10.0.0.9")
    path = write_known(
        tmp_path,
        [
            "# comment",
            f"10.0.0.1,gpu1 ssh-ed25519 {KEY_A}",
            f"[10.0.0.1]:2222 ssh-ed25519 {KEY_B}",
            f"{hashed} ssh-ed25519 {KEY_A}",
            f"@revoked 10.0.0.1 ssh-ed25519 {KEY_B}",
            f"10.0.1.*,!10.0.1.7 ssh-ed25519 {KEY_A}",
        ],
    )
    # marker lines are returned too (marked), for decide() to honour
    assert [(k.lineno, k.marker) for k in knownhosts.lookup(path, "10.0.0.1")] == [
        (2, ""),
        (5, "@revoked"),
    ]
    assert [k.lineno for k in knownhosts.lookup(path, "gpu1")] == [2]
    assert [k.key_b64 for k in knownhosts.lookup(path, "[10.0.0.1]:2222")] == [KEY_B]
    assert [k.lineno for k in knownhosts.lookup(path, "10.0.0.9")] == [4]
    assert [k.lineno for k in knownhosts.lookup(path, "10.0.1.3")] == [6]
    assert knownhosts.lookup(path, "10.0.1.7") == []
    assert knownhosts.lookup(str(tmp_path / "missing"), "x") == []


def test_decide() -> None:
    a = knownhosts.KnownKey(3, "ssh-ed25519", KEY_A)
    rsa = knownhosts.KnownKey(5, "ssh-rsa", "AAAArsa")

    def verdict(known, keytype, key):
        return knownhosts.decide(known, knownhosts.Offered(keytype, key), "h", 0)

    assert verdict([a], "ssh-ed25519", KEY_A).verdict == "ok"
    changed = verdict([rsa, a], "ssh-ed25519", KEY_B)
    assert changed.verdict == "changed" and changed.line == a
    assert verdict([], "ssh-ed25519", KEY_A).verdict == "unknown"
    # only a key of another type known: a change (OpenSSH would call it new and ask)
    other = verdict([rsa], "ssh-ed25519", KEY_A)
    assert other.verdict == "changed" and other.line == rsa
    assert verdict([rsa], "rsa-sha2-512", "AAAArsa").verdict == "ok"


def test_host_key_algorithms_put_known_first() -> None:
    default = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
    known = [knownhosts.KnownKey(1, "ssh-rsa", "x")]
    assert knownhosts.host_key_algorithms(known, default)[:2] == ("rsa-sha2-512", "rsa-sha2-256")
    assert knownhosts.host_key_algorithms([], default) == default


def test_append_creates_file_and_fixes_missing_newline(tmp_path) -> None:
    path = tmp_path / "ssh" / "known_hosts"
    knownhosts.append(str(path), "[h]:2222", "ssh-ed25519", KEY_A)
    assert path.read_text() == f"[h]:2222 ssh-ed25519 {KEY_A}\n"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    path.write_text("x ssh-ed25519 AAAA")  # no trailing newline
    knownhosts.append(str(path), "h", "ssh-ed25519", KEY_B)
    assert path.read_text().splitlines()[1] == f"h ssh-ed25519 {KEY_B}"
    assert [k.key_b64 for k in knownhosts.lookup(str(path), "h")] == [KEY_B]


def test_fingerprint_matches_openssh_format() -> None:
    fp = knownhosts.fingerprint(b"key")
    assert fp.startswith("SHA256:") and not fp.endswith("=")
