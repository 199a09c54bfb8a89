"""The SSH wire for SSHHost: the command text sent to sshd, the scripts for file reads and
writes, the errors (each one line naming the host) and small stream helpers. No connection here."""

from __future__ import annotations

import re
import shlex
from typing import BinaryIO, Iterable, Iterator, Mapping, Optional

import paramiko

from installer.errors import HostError
from installer.hosts.base import Command, command_text

# Measured in benchmarks/transfer_upload.py: AES-GCM is the cheapest cipher paramiko offers
# (one pass for encryption and integrity, AES-NI); chacha20-poly1305 is not in paramiko.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
PREFERRED_MACS = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512")
WINDOW_SIZE = 16 * 1024 * 1024  # what we advertise: big outputs (docker save, cat) stream fast
CHUNK = 1024 * 1024
RC_TIMEOUT = 124
FEED_ERROR_WAIT = 30.0  # seconds a command may take to exit after its input failed
PGID_WAIT = 10.0  # seconds a streaming command may take to report its process group
_PGID_MARK = "sealbox-pgid"
_PGID_LINE = re.compile(rb"(?m)^sealbox-pgid (\d+)\n")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = 66  # rc our read() script uses for "no such file"


class SSHError(HostError):
    """Base of every SSH failure; the message is one line naming the host."""


class HostUnreachableError(SSHError):
    """TCP or SSH handshake failed after the retries."""


class ConnectionLostError(HostUnreachableError):
    """The connection dropped while a command ran; re-running is safe for idempotent steps."""


class AuthFailedError(SSHError):
    """No offered credential was accepted; the message lists what was tried."""


class HostKeyUnknownError(SSHError):
    """The host is not in known_hosts and new keys were not to be accepted."""


class HostKeyChangedError(SSHError):
    """The host presented a different key (or key type) than known_hosts has: refused, always."""


class HostKeyRevokedError(HostKeyChangedError):
    """The host presented a key known_hosts marks @revoked: refused, always."""


class HostKeyUntrustedError(HostKeyChangedError):
    """A @cert-authority covers the host but vouches for nothing it showed: refused, always."""


class _Transport(paramiko.Transport):
    """A Transport that asks for exactly the host key algorithms we chose: paramiko's own list
    appends the certificate variant of every type, which we want only where a CA is known."""

    host_key_algorithms: tuple[str, ...] = ()

    @property
    def preferred_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.host_key_algorithms or tuple(super().preferred_keys)


class SudoRefusedError(SSHError):
    """The login user cannot become root with sudo."""


SudoMode = str  # "none" (we are root or sudo=False), "nopasswd", "password"


def remote_command(
    cmd: Command, *, env: Optional[Mapping[str, str]] = None, sudo: str = "none"
) -> str:
    """The exact text sent to sshd for ``cmd``: ``[sudo] [env K=V] sh -c '<cmd>'``."""
    argv: list[str] = []
    if sudo == "nopasswd":
        argv += ["sudo", "-n", "--"]
    elif sudo == "password":
        argv += ["sudo", "-S", "-k", "-p", "", "--"]
    elif sudo != "none":
        raise ValueError(f"unknown sudo mode {sudo!r}")
    if env:
        bad = [k for k in env if not _ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"bad environment variable name {bad[0]!r}")
        argv += ["env"] + [f"{k}={v}" for k, v in env.items()]
    argv += ["sh", "-c", command_text(cmd)]
    return shlex.join(argv)


def _q(path: str) -> str:
    return shlex.quote(path)


def read_script(path: str) -> str:
    """Shell text printing a file, or exiting 66 when it is missing (FileNotFoundError)."""
    p = _q(path)
    return f"if [ -e {p} ]; then exec cat -- {p}; else exit {_MISSING}; fi"


def write_script(path: str, mode: int) -> str:
    """Shell text writing stdin to ``path`` atomically: temp file in the same dir, then rename."""
    p = _q(path)
    return (
        "set -e; umask 077; "
        f'd=$(dirname -- {p}); mkdir -p -- "$d"; '
        't=$(mktemp "$d/.sealbox-tmp.XXXXXX"); '
        "trap 'rm -f -- \"$t\"' EXIT; "
        'cat > "$t"; '
        f'chmod {mode:o} "$t"; '
        f'mv -f -- "$t" {p}; trap - EXIT'
    )


def _iter_file(fh: BinaryIO, size: int = CHUNK) -> Iterator[bytes]:
    while True:
        block = fh.read(size)
        if not block:
            return
        yield block


def _send_all(chan: paramiko.Channel, data: bytes) -> None:
    """``Channel.sendall`` re-slices the rest of its buffer after every 32 KB packet (quadratic
    copying for big chunks); a memoryview makes each packet a zero-copy slice."""
    view = memoryview(data)
    while view:
        # types-paramiko says bytes | bytearray; Channel.send passes the slice through
        # Message.add_string into a BytesIO, which takes any buffer (the memoryview is the point).
        sent = chan.send(view)  # type: ignore[arg-type]
        if sent == 0:
            raise OSError("channel closed")
        view = view[sent:]


def _pgid_of(err: bytes) -> Optional[int]:
    m = _PGID_LINE.search(err)
    return int(m.group(1)) if m else None


def _strip_pgid(err: bytes) -> bytes:
    return _PGID_LINE.sub(b"", err, count=1)


def _chain(head: list[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    yield from head
    yield from rest


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _last_line(err: bytes, rc: int) -> str:
    lines = [ln.strip() for ln in _decode(err).splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {rc}"
