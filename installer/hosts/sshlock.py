"""The run lock on an SSH host: ``flock -n`` held by a remote shell for as long as a channel
stays open (installer.hosts.ssh's ``SSHHost.lock``)."""

from __future__ import annotations

import posixpath
import socket
from contextlib import contextmanager
from typing import Iterator, Optional, Protocol

import paramiko

from installer.errors import HostError
from installer.hosts.base import LOCK_BUSY_RC, LockHeld
from installer.hosts.sshwire import (
    ConnectionLostError,
    SudoMode,
    _last_line,
    _q,
    _send_all,
    remote_command,
)
from installer.i18n import _


class _LockHost(Protocol):
    """What the lock needs of SSHHost (typed here: importing it would make a cycle)."""

    name: str
    connect_timeout: float
    _sudo_secret: Optional[bytes]

    @property
    def sudo_mode(self) -> SudoMode: ...

    def _transport_for_exec(self) -> paramiko.Transport: ...


@contextmanager
def hold_lock(host: _LockHost, path: str) -> Iterator[None]:
    """``flock -n`` held on the host by a shell that reads this channel until it ends: the
    lock goes when the block ends, and when this controller dies or the link drops (sshd
    closes the session, the holder reads end-of-input and exits)."""
    folder = posixpath.dirname(path) or "/"
    script = (
        f"mkdir -p -m 700 -- {_q(folder)} && exec flock -n -E {LOCK_BUSY_RC} {_q(path)} "
        "sh -c 'echo held; exec cat >/dev/null'"
    )
    transport = host._transport_for_exec()  # connects and probes sudo on first use
    mode = host.sudo_mode
    try:
        chan = transport.open_session(timeout=host.connect_timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise ConnectionLostError(
            _("connection to {name} lost: {exc}").format(name=host.name, exc=exc or "closed")
        ) from exc
    try:
        chan.settimeout(max(host.connect_timeout, 30.0))
        chan.exec_command(remote_command(script, sudo=mode))
        if mode == "password":
            assert host._sudo_secret is not None
            _send_all(chan, host._sudo_secret + b"\n")
        said = b""
        try:
            while b"\n" not in said:
                data = chan.recv(64)
                if not data:
                    break
                said += data
        except socket.timeout:
            raise HostError(
                _("cannot lock {path} on {name}: no answer in time").format(
                    path=path, name=host.name
                )
            ) from None
        if said.startswith(b"held"):
            chan.settimeout(None)
            yield
            return
        rc = chan.recv_exit_status()
        err = b""
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(4096)
        if rc == LOCK_BUSY_RC:
            raise LockHeld(
                _("another Sealbox run holds {path} on {name}; wait for it to finish").format(
                    path=path, name=host.name
                )
            )
        if rc == 127:
            raise HostError(
                _(
                    "cannot lock {path} on {name}: flock is not installed there (install util-linux)"
                ).format(path=path, name=host.name)
            )
        raise HostError(
            _("cannot lock {path} on {name}: {err}").format(
                path=path, name=host.name, err=_last_line(err, rc)
            )
        )
    finally:
        try:  # end the holder's input, and wait (bounded) until it let go of the lock
            chan.shutdown_write()
            chan.status_event.wait(10)
        except (OSError, EOFError, paramiko.SSHException):
            pass
        chan.close()
