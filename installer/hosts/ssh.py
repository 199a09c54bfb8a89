"""SSHHost: the Host protocol over SSH (paramiko), so every feature works on a remote machine.

Targets need nothing but sshd and a POSIX shell: every operation, file reads and writes
included, is a shell command on an exec channel. That is also what makes non-root users work:
the same ``sudo`` prefix covers commands and files alike (SFTP would run as the login user).

Every command is sent as ``[sudo ...] [env K=V ...] sh -c '<text>'`` -- one quoting layer we
control, whatever the user's login shell is; ``sh`` gives rc 127 for a missing command.

Non-root users: ``sudo -n`` is probed once; if sudo wants a password it is taken from the
constructor or asked once per host (only on a TTY) and then fed to ``sudo -S -k -p ''`` on the
command's stdin before its own input -- never on a command line, never logged. ``-k`` makes sudo
always read that line, so a cached sudo ticket can never leave the password in the command's
stdin.
"""

from __future__ import annotations

import os
import threading
import time
from typing import BinaryIO, Callable, ContextManager, Iterable, Mapping, Optional, Union

import paramiko

from installer.errors import HostError
from installer.hosts.base import Command, Result, command_text
from installer.hosts.spec import HostSpec
from installer.hosts.sshconnect import SSHConnect
from installer.hosts.sshlock import hold_lock
from installer.hosts.sshwire import (
    _MISSING,
    _PGID_MARK,
    FEED_ERROR_WAIT,
    PGID_WAIT,
    PREFERRED_CIPHERS,
    PREFERRED_MACS,
    RC_TIMEOUT,
    AuthFailedError,
    ConnectionLostError,
    HostKeyChangedError,
    HostKeyRevokedError,
    HostKeyUnknownError,
    HostKeyUntrustedError,
    HostUnreachableError,
    SSHError,
    SudoMode,
    SudoRefusedError,
    _chain,
    _decode,
    _iter_file,
    _last_line,
    _pgid_of,
    _q,
    _send_all,
    _short,
    _strip_pgid,
    read_script,
    remote_command,
    write_script,
)
from installer.i18n import _

__all__ = [  # the wire's names stay importable from here, where callers always found them
    "PREFERRED_CIPHERS",
    "PREFERRED_MACS",
    "AuthFailedError",
    "ConnectionLostError",
    "HostKeyChangedError",
    "HostKeyRevokedError",
    "HostKeyUnknownError",
    "HostKeyUntrustedError",
    "HostUnreachableError",
    "SSHError",
    "SSHHost",
    "SudoRefusedError",
    "read_script",
    "remote_command",
    "write_script",
]


class SSHHost(SSHConnect):
    """A remote machine reached over SSH. Connects lazily on first use; ``close()`` when done."""

    def __init__(
        self,
        target: Union[str, HostSpec],
        *,
        user: Optional[str] = None,
        port: Optional[int] = None,
        key_filename: Optional[str] = None,
        key_passphrase: Optional[str] = None,
        password: Optional[str] = None,
        sudo_password: Optional[str] = None,
        use_agent: bool = True,
        look_for_keys: bool = True,
        known_hosts: Optional[str] = None,
        accept_new_host_keys: bool = False,
        sudo: Optional[bool] = None,
        connect_timeout: float = 10.0,
        connect_retries: int = 2,
        keepalive: float = 15.0,
        dead_link_timeout: Optional[float] = 60.0,
        jump: Union[str, HostSpec, SSHHost, None] = None,
        ciphers: Optional[tuple[str, ...]] = None,
        prompt: Optional[Callable[[str], str]] = None,
        name: Optional[str] = None,
    ) -> None:
        spec = HostSpec.parse(target) if isinstance(target, str) else target
        changes: dict = {}
        if user is not None:
            changes["user"] = user
        if port is not None:
            changes["port"] = port
        if key_filename is not None:
            changes["key_filename"] = key_filename
        if password is not None:
            changes["password"] = password
        if sudo_password is not None:
            changes["sudo_password"] = sudo_password
        if changes:
            spec = HostSpec(**{**spec.__dict__, **changes})
        self.spec = spec
        self.name = name or str(spec)
        self.key_passphrase = key_passphrase
        self.use_agent = use_agent
        self.look_for_keys = look_for_keys
        self.known_hosts = known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        self.accept_new_host_keys = accept_new_host_keys
        self.sudo = sudo
        self.connect_timeout = connect_timeout
        self.connect_retries = connect_retries
        self.keepalive = keepalive
        self.dead_link_timeout = dead_link_timeout
        self.ciphers = ciphers or PREFERRED_CIPHERS
        self._prompt = prompt
        self._jump: Optional[SSHHost]
        if jump is None and spec.jump is not None:
            jump = spec.jump
        if isinstance(jump, (str, HostSpec)):
            self._jump = SSHHost(
                jump,
                known_hosts=self.known_hosts,
                accept_new_host_keys=accept_new_host_keys,
                use_agent=use_agent,
                look_for_keys=look_for_keys,
                connect_timeout=connect_timeout,
                connect_retries=connect_retries,
                keepalive=keepalive,
                sudo=False,
            )
        else:
            self._jump = jump
        self._transport: Optional[paramiko.Transport] = None
        self._sudo_mode: Optional[SudoMode] = None
        self._sudo_secret: Optional[bytes] = None
        self._lock = threading.RLock()

    # -- Host protocol: properties -------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return False

    @property
    def sees_controller_files(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"SSHHost({self.name!r})"

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection ------------------------------------------------------------------------
    @property
    def transport(self) -> paramiko.Transport:
        """The live transport, connecting (and probing sudo) on first use."""
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._transport = None
                self._transport = self._connect_with_retries()
                if self._sudo_mode is None:
                    self._sudo_mode = self._probe_sudo()
            return self._transport

    def connect(self) -> SSHHost:
        """Connect now (instead of on first use), to report unreachable hosts early."""
        _ = self.transport
        return self

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    def reconnect(self) -> None:
        """Drop the transport; the next call connects again (sudo mode and password are kept)."""
        self.close()
        _ = self.transport

    @property
    def sudo_mode(self) -> SudoMode:
        _ = self.transport
        return self._sudo_mode or "none"

    def _exec_raw(
        self,
        text: str,
        chunks: Optional[Iterable[bytes]],
        timeout: Optional[float],
        kill: Optional[Callable[[list[bytes]], None]] = None,
    ) -> tuple[int, bytes, bytes]:
        """Run ``text`` on a new channel; rc -1 means the connection dropped without an exit.

        ``kill(stderr so far)``: called when the producer of ``chunks`` fails, before anything
        else; the command's input is then never ended (no EOF reaches it), only killed."""
        try:
            chan = self._transport_for_exec().open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectionLostError(
                _("connection to {name} lost: {exc}").format(name=self.name, exc=exc or "closed")
            ) from exc
        out: list[bytes] = []
        err: list[bytes] = []
        timed_out = threading.Event()

        def pump(read: Callable[[int], bytes], sink: list[bytes]) -> None:
            try:
                while True:
                    data = read(1 << 16)
                    if not data:
                        return
                    sink.append(data)
            except (OSError, EOFError):
                return

        def expire() -> None:
            timed_out.set()
            chan.close()

        timer = threading.Timer(timeout, expire) if timeout else None
        readers = [
            threading.Thread(target=pump, args=(chan.recv, out), daemon=True),
            threading.Thread(target=pump, args=(chan.recv_stderr, err), daemon=True),
        ]
        feed_error: Optional[BaseException] = None
        try:
            chan.exec_command(text)
            if timer:
                timer.start()
            for r in readers:
                r.start()
            if chunks is not None:
                try:
                    for chunk in chunks:
                        _send_all(chan, chunk)
                except (OSError, EOFError):
                    pass  # remote stopped reading or the link dropped: the exit status tells
                except BaseException as exc:  # the producer failed: stop the command, re-raise
                    # End the stream and wait (bounded) for the command to exit: a producer
                    # that withholds its end (a guarded tar) leaves the command an incomplete
                    # input, and the caller must know it is gone before it cleans up after it.
                    feed_error = exc
                    if kill is not None:
                        kill(err)
                    if isinstance(exc, KeyboardInterrupt):
                        chan.close()
                    elif timer is None or timeout is None or timeout > FEED_ERROR_WAIT:
                        if timer:
                            timer.cancel()
                        timer = threading.Timer(FEED_ERROR_WAIT, expire)
                        timer.start()
            if not chan.closed and (feed_error is None or kill is None):
                try:
                    chan.shutdown_write()
                except (OSError, EOFError):
                    pass
            for r in readers:
                r.join()
            rc = chan.recv_exit_status() if not timed_out.is_set() else RC_TIMEOUT
        except paramiko.SSHException as exc:
            raise ConnectionLostError(
                _("connection to {name} lost: {exc}").format(name=self.name, exc=exc)
            ) from exc
        finally:
            if timer:
                timer.cancel()
            chan.close()
        if feed_error is not None:
            raise feed_error
        if timed_out.is_set():
            rc = RC_TIMEOUT
            err.append(f"timed out after {timeout}s".encode())
        return rc, b"".join(out), b"".join(err)

    def _transport_for_exec(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
        return self.transport

    def _exec(
        self,
        cmd: Command,
        chunks: Optional[Iterable[bytes]] = None,
        *,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
        kill: Optional[Callable[[list[bytes]], None]] = None,
    ) -> tuple[int, bytes, bytes]:
        mode = self.sudo_mode
        text = remote_command(cmd, env=env, sudo=mode)
        if mode == "password":
            assert self._sudo_secret is not None
            head = [self._sudo_secret + b"\n"]
            chunks = _chain(head, chunks if chunks is not None else ())
        rc, out, err = self._exec_raw(text, chunks, timeout, kill)
        if rc == -1:
            raise ConnectionLostError(
                _("connection to {name} lost while running: {cmd}").format(
                    name=self.name, cmd=_short(command_text(cmd))
                )
            )
        return rc, out, err

    def run(
        self,
        cmd: Command,
        *,
        input: Optional[bytes] = None,
        timeout: Optional[float] = None,
        env: Optional[Mapping[str, str]] = None,
    ) -> Result:
        rc, out, err = self._exec(cmd, [input] if input else None, timeout=timeout, env=env)
        return Result(command_text(cmd), rc, _decode(out), _decode(err))

    def run_streaming_input(
        self,
        cmd: Command,
        chunks: Iterable[bytes],
        *,
        timeout: Optional[float] = None,
    ) -> Result:
        """As LocalHost's: when the producer fails (a checksum that does not match, Ctrl-C),
        the command's whole process group is killed before its input could end, so a
        consumer such as ``docker load`` never sees EOF after a withheld (incomplete) input.
        The command first writes its process group id on stderr (taken out of the result);
        the kill runs on a second channel, with the same sudo as the command."""
        wrapped = (
            f"printf '%s %s\\n' {_PGID_MARK} \"$(cut -d' ' -f5 /proc/$$/stat)\" >&2; "
            + command_text(cmd)
        )
        rc, out, err = self._exec(wrapped, chunks, timeout=timeout, kill=self._kill_group)
        return Result(command_text(cmd), rc, _decode(out), _decode(_strip_pgid(err)))

    def _kill_group(self, err: list[bytes]) -> None:
        """Kill the process group the command reported (waits briefly for the report)."""
        deadline = time.monotonic() + PGID_WAIT
        pgid = _pgid_of(b"".join(err))
        while pgid is None and time.monotonic() < deadline:
            time.sleep(0.05)
            pgid = _pgid_of(b"".join(err))
        if pgid is None or pgid <= 1:
            return  # it never started: there is nothing to kill, and no EOF is sent
        try:
            self._exec(f"kill -9 -{pgid}", timeout=30)  # dash: no "--" after the signal
        except HostError:
            pass  # the link is gone: the channel closes and sshd hangs the session up

    # -- the run lock ------------------------------------------------------------------------
    def lock(self, path: str) -> ContextManager[None]:
        """``flock -n`` held on the host by a shell that reads this channel until it ends: the
        lock goes when the block ends, and when this controller dies or the link drops (sshd
        closes the session, the holder reads end-of-input and exits)."""
        return hold_lock(self, path)

    # -- files -----------------------------------------------------------------------------
    def read(self, path: str) -> bytes:
        rc, out, err = self._exec(read_script(path))
        if rc == _MISSING:
            raise FileNotFoundError(f"{self.name}:{path}")
        if rc != 0:
            raise HostError(
                _("cannot read {path} on {name}: {err}").format(
                    path=path, name=self.name, err=_last_line(err, rc)
                )
            )
        return out

    def write(self, path: str, data: bytes, mode: int = 0o600) -> None:
        self._write_stream(path, [data], mode)

    def put(self, src: Union[str, BinaryIO], dst: str, mode: int = 0o644) -> None:
        if isinstance(src, str):
            with open(src, "rb") as fh:
                self._write_stream(dst, _iter_file(fh), mode)
        else:
            self._write_stream(dst, _iter_file(src), mode)

    def _write_stream(self, path: str, chunks: Iterable[bytes], mode: int) -> None:
        rc, _unused, err = self._exec(write_script(path, mode), chunks)
        if rc != 0:
            raise HostError(
                _("cannot write {path} on {name}: {err}").format(
                    path=path, name=self.name, err=_last_line(err, rc)
                )
            )

    def exists(self, path: str) -> bool:
        p = _q(path)
        rc, _, _ = self._exec(f"[ -e {p} ] || [ -L {p} ]")
        return rc == 0

    def remove(self, path: str, recursive: bool = False) -> None:
        flags = "-rf" if recursive else "-f"
        rc, _unused, err = self._exec(f"rm {flags} -- {_q(path)}")
        if rc != 0:
            raise HostError(
                _("cannot remove {path} on {name}: {err}").format(
                    path=path, name=self.name, err=_last_line(err, rc)
                )
            )

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        rc, _unused, err = self._exec(f"mkdir -p -m {mode:o} -- {_q(path)}")
        if rc != 0:
            raise HostError(
                _("cannot create {path} on {name}: {err}").format(
                    path=path, name=self.name, err=_last_line(err, rc)
                )
            )
