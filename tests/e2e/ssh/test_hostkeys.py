"""Issue 11 item 9 against a real sshd: @revoked, a key of another type, @cert-authority.

The sandbox host is this module's own (its sshd is reconfigured with other host keys and
certificates), so the shared hosts of the other SSH tests keep their one ed25519 key.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from installer.hosts.ssh import (
    HostKeyChangedError,
    HostKeyRevokedError,
    HostKeyUntrustedError,
    SSHHost,
)
from tests.e2e.conftest import run_cli
from tests.e2e.testhosts import SSHD_CONFIG, SandboxHost, sandbox_hosts_fixture

pytestmark = pytest.mark.e2e

keyed_host = sandbox_hosts_fixture(1, docker=False, scope="module")


def keygen(path: Path, keytype: str) -> str:
    """A new key pair; returns ``type base64`` of its public half."""
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", keytype, "-N", "", "-C", path.name, "-f", str(path)],
            check=True,
        )
    return " ".join(Path(f"{path}.pub").read_text().split()[:2])


def sign(ca: Path, key: Path, principal: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "test", "-h", "-n", principal, f"{key}.pub"],
        check=True,
    )
    return Path(f"{key}-cert.pub")


def configure_sshd(h: SandboxHost, keys: list[Path], certs: tuple[Path, ...] = ()) -> None:
    """Serve exactly these host keys (and certificates); SIGHUP makes sshd re-exec with them."""
    text = SSHD_CONFIG.format(hostdir=h.hostdir).splitlines()
    text = [line for line in text if not line.startswith("HostKey ")]
    text += [f"HostKey {k}" for k in keys] + [f"HostCertificate {c}" for c in certs]
    Path(h.hostdir, "ssh", "sshd_config").write_text("\n".join(text) + "\n")
    log = Path(h.hostdir, "sshd.log")
    started = log.read_text(errors="replace").count("Server listening on 0.0.0.0")
    assert h.sshd is not None
    h.sshd.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while log.read_text(errors="replace").count("Server listening on 0.0.0.0") == started:
        assert time.monotonic() < deadline, "sshd did not restart"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def keys(keyed_host, tmp_path_factory) -> dict[str, Path]:
    """Host keys of three types in the host's ssh dir, and two CAs on the client side."""
    h = keyed_host[0]
    ssh_dir = Path(h.hostdir, "ssh")
    out = {"ed25519": ssh_dir / "ssh_host_ed25519_key"}
    for t in ("ecdsa", "rsa"):
        out[t] = ssh_dir / f"ssh_host_{t}_key"
        keygen(out[t], t)
    cas = tmp_path_factory.mktemp("cas")
    for name in ("ca", "other-ca"):
        out[name] = cas / name
        keygen(out[name], "ed25519")
    return out


@pytest.fixture
def host(keyed_host, keys, tmp_path):
    """The host back on its own ed25519 key, and a connect helper for it."""
    h = keyed_host[0]
    configure_sshd(h, [keys["ed25519"]])
    opened: list[SSHHost] = []

    def connect(known: str, accept: bool) -> SSHHost:
        s = SSHHost(
            f"root@{h.address}",
            key_filename=h.client_key,
            use_agent=False,
            look_for_keys=False,
            connect_retries=0,
            known_hosts=known,
            accept_new_host_keys=accept,
        )
        opened.append(s)
        return s

    yield h, connect
    for s in opened:
        s.close()
    configure_sshd(h, [keys["ed25519"]])


def pub(key: Path) -> str:
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


def refused(connect, kh: Path, error: type, *needles: str) -> None:
    """Refused with and without --accept-new-host-keys, one line, known_hosts untouched."""
    before = kh.read_text()
    for accept in (False, True):
        with pytest.raises(error) as exc:
            connect(str(kh), accept).connect()
        msg = str(exc.value)
        assert "\n" not in msg
        for needle in needles:
            assert needle in msg, msg
    assert kh.read_text() == before


def test_revoked_key_is_refused_even_when_listed(host, keys, tmp_path):
    h, connect = host
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {pub(keys['ed25519'])}\n@revoked * {pub(keys['ed25519'])}\n")
    refused(connect, kh, HostKeyRevokedError, "REVOKED", f"line 2 of {kh}", h.address)
    kh.write_text(f"{h.address} {pub(keys['ed25519'])}\n")  # without the @revoked line: fine
    assert connect(str(kh), False).run(["true"]).ok


def test_key_of_another_type_is_a_change_refused_with_accept_new(host, keys, tmp_path):
    h, connect = host
    kh = tmp_path / "known_hosts"
    # known: an ecdsa key for the host; it offers only its ed25519 key
    kh.write_text(f"# ours\n{h.address} {pub(keys['ecdsa'])}\n")
    refused(connect, kh, HostKeyChangedError, "has CHANGED (now ssh-ed25519 SHA256:", "line 2 of")


def test_and_the_other_way_round(host, keys, tmp_path):
    h, connect = host
    configure_sshd(h, [keys["rsa"]])  # the host now has only an RSA key
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {pub(keys['ed25519'])}\n")
    refused(connect, kh, HostKeyChangedError, "has CHANGED (now ssh-rsa SHA256:", "line 1 of")


def test_the_known_type_is_asked_for_when_the_host_has_several(host, keys, tmp_path):
    """ed25519 is paramiko's first choice; a host known by its RSA key must be asked for RSA,
    else it would look changed (or, before, 'unknown' and be appended)."""
    h, connect = host
    configure_sshd(h, [keys["ed25519"], keys["ecdsa"], keys["rsa"]])
    kh = tmp_path / "known_hosts"
    for t in ("rsa", "ecdsa", "ed25519"):
        kh.write_text(f"{h.address} {pub(keys[t])}\n")
        s = connect(str(kh), False)
        assert s.run(["true"]).ok
        s.close()
    assert kh.read_text() == f"{h.address} {pub(keys['ed25519'])}\n"


def test_certificate_from_a_listed_ca_is_accepted_others_refused(host, keys, tmp_path):
    h, connect = host
    cert = sign(keys["ca"], keys["ed25519"], h.address)
    configure_sshd(h, [keys["ed25519"]], (cert,))
    kh = tmp_path / "known_hosts"
    hosts = h.address.rsplit(".", 1)[0] + ".*"  # a wildcard pattern, as CAs are usually listed
    kh.write_text(f"@cert-authority {hosts} {pub(keys['ca'])}\n")
    assert connect(str(kh), False).run(["true"]).ok
    assert kh.read_text() == f"@cert-authority {hosts} {pub(keys['ca'])}\n"

    kh.write_text(f"@cert-authority {hosts} {pub(keys['other-ca'])}\n")
    refused(connect, kh, HostKeyUntrustedError, "signed by a CA that known_hosts does not list")
    kh.write_text(f"@cert-authority * {pub(keys['ca'])}\n@revoked * {pub(keys['ca'])}\n")
    refused(connect, kh, HostKeyRevokedError, "REVOKED", "line 2 of")


def test_plain_key_under_a_ca_is_refused_with_accept_new(host, keys, tmp_path):
    h, connect = host  # no certificate configured: the host shows its plain key
    kh = tmp_path / "known_hosts"
    kh.write_text(f"@cert-authority * {pub(keys['ca'])}\n")
    refused(connect, kh, HostKeyUntrustedError, "plain key, not a certificate")


def test_cli_refuses_another_key_type_with_accept_new(host, keys, tmp_path):
    """The same through the command line: -H with --accept-new-host-keys."""
    h, _ = host
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{h.address} {pub(keys['ecdsa'])}\n")
    res = run_cli(
        "envcheck",
        "check",
        "--no-log",
        "-H",
        f"root@{h.address}",
        "--accept-new-host-keys",
        "--known-hosts",
        str(kh),
        "--identity",
        h.client_key,
        "--log-dir",
        str(tmp_path / "logs"),
        env={"SSH_AUTH_SOCK": ""},
        timeout=120,
    )
    assert res.rc != 0
    assert "has CHANGED (now ssh-ed25519" in res.stdout + res.stderr
    assert kh.read_text() == f"{h.address} {pub(keys['ecdsa'])}\n"
