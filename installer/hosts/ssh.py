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

import getpass
import os
import posixpath
import re
import shlex
import socket
import sys
import threading
import time
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterable, Iterator, Mapping, Optional, Union

import paramiko

from installer.errors import HostError
from installer.hosts import hostcert, knownhosts
from installer.hosts.base import LOCK_BUSY_RC, Command, LockHeld, Result, command_text
from installer.hosts.spec import HostSpec

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


class SSHHost:
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

    def _connect_with_retries(self) -> paramiko.Transport:
        attempts = self.connect_retries + 1
        last: Optional[BaseException] = None
        for i in range(attempts):
            try:
                return self._connect_once()
            except (OSError, EOFError, paramiko.SSHException) as exc:
                last = exc
                if i + 1 < attempts:
                    time.sleep(min(0.5 * (2**i), 5.0))
        reason = str(last) or type(last).__name__
        if isinstance(last, socket.timeout):
            reason = f"timed out after {self.connect_timeout:g}s"
        raise HostUnreachableError(
            f"cannot reach {self.name}: {reason} ({attempts} attempt{'s' if attempts > 1 else ''})"
        ) from last

    def _open_socket(self) -> Union[socket.socket, paramiko.Channel]:
        if self._jump is not None:
            try:
                return self._jump.transport.open_channel(
                    "direct-tcpip",
                    (self.spec.host, self.spec.port),
                    ("127.0.0.1", 0),
                    timeout=self.connect_timeout,
                )
            except paramiko.ChannelException as exc:
                raise OSError(f"jump host {self._jump.name} could not connect: {exc}") from exc
        sock = socket.create_connection((self.spec.host, self.spec.port), self.connect_timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # paramiko writes each SSH packet with its own send(): without NODELAY Nagle holds the
        # packet's last partial segment for an ACK (uploads ~290 -> ~345 MB/s measured here)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tcp_user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
        if self.dead_link_timeout and tcp_user_timeout is not None:
            # unacknowledged data older than this kills the connection: a cut cable is noticed
            sock.setsockopt(
                socket.IPPROTO_TCP, tcp_user_timeout, int(self.dead_link_timeout * 1000)
            )
        return sock

    def _connect_once(self) -> paramiko.Transport:
        sock = self._open_socket()
        t = _Transport(sock, default_window_size=WINDOW_SIZE)
        try:
            t.banner_timeout = self.connect_timeout
            t.handshake_timeout = self.connect_timeout
            opts = t.get_security_options()
            opts.ciphers = tuple(c for c in self.ciphers if c in opts.ciphers) or opts.ciphers
            opts.digests = tuple(m for m in PREFERRED_MACS if m in opts.digests) + tuple(
                m for m in opts.digests if m not in PREFERRED_MACS
            )
            known = knownhosts.lookup(self.known_hosts, self.spec.known_hosts_name)
            t.host_key_algorithms = knownhosts.host_key_algorithms(known, tuple(opts.key_types))
            t.start_client(timeout=self.connect_timeout)
            self._check_host_key(t, known)
            self._authenticate(t)
            if self.keepalive:
                t.set_keepalive(int(max(1, self.keepalive)))
            return t
        except BaseException:
            t.close()
            raise

    def _check_host_key(self, t: paramiko.Transport, known: list[knownhosts.KnownKey]) -> None:
        key = t.get_remote_server_key()
        cert = None
        blob = getattr(key, "public_blob", None)
        if str(t.host_key_type).endswith(hostcert.CERT_SUFFIX) and blob is not None:
            cert = blob.key_blob  # paramiko keeps the certificate but checks none of it
        keytype, key_b64 = key.get_name(), key.get_base64()
        shown = f"{keytype}{' certificate' if cert else ''} {knownhosts.fingerprint(key.asbytes())}"
        name = self.spec.known_hosts_name
        offered = knownhosts.Offered(keytype, key_b64, cert)
        decision = knownhosts.decide(known, offered, self.spec.host, time.time())
        if decision.verdict == "ok":
            return
        line = decision.line
        where = f"line {line.lineno} of {self.known_hosts}" if line else self.known_hosts
        if decision.verdict == "revoked":
            raise HostKeyRevokedError(
                f"host key of {name} ({shown}) is REVOKED by {where}; refusing to connect. "
                f"Ask the host's administrator for its new key"
            )
        if decision.verdict == "untrusted":
            raise HostKeyUntrustedError(
                f"host key of {name} ({shown}) is not vouched for by the @cert-authority on "
                f"{where}: {decision.reason}; refusing to connect"
            )
        if decision.verdict == "changed":
            raise HostKeyChangedError(
                f"host key of {name} has CHANGED (now {shown}); refusing to connect. If the "
                f"host was reinstalled, remove {where} "
                f"(ssh-keygen -R '{name}' -f {self.known_hosts}) and connect again"
            )
        if self.accept_new_host_keys:
            knownhosts.append(self.known_hosts, name, keytype, key_b64)
            return
        raise HostKeyUnknownError(
            f"host key of {name} is not in {self.known_hosts}: {shown}; "
            "check it and re-run with --accept-new-host-keys"
        )

    def _keys_to_try(self) -> Iterator[tuple[str, paramiko.PKey]]:
        """(description, key) pairs in the order ssh tries them: given file, agent, defaults."""
        skipped: list[str] = []
        if self.spec.key_filename:
            path = os.path.expanduser(self.spec.key_filename)
            try:
                yield f"key {path}", paramiko.PKey.from_path(path, self.key_passphrase)
            except paramiko.PasswordRequiredException:
                skipped.append(f"key {path} (encrypted, no passphrase given)")
            except (OSError, paramiko.SSHException, ValueError) as exc:
                skipped.append(f"key {path} (unreadable: {exc})")
        if self.use_agent and os.environ.get("SSH_AUTH_SOCK"):
            try:
                agent_keys = paramiko.Agent().get_keys()
            except paramiko.SSHException:
                agent_keys = ()
            for i, key in enumerate(agent_keys):
                yield f"agent key {i + 1}", key
        if self.look_for_keys and not self.spec.key_filename:
            for base in ("id_ed25519", "id_ecdsa", "id_rsa"):
                path = os.path.expanduser(f"~/.ssh/{base}")
                if not os.path.exists(path):
                    continue
                try:
                    yield f"key {path}", paramiko.PKey.from_path(path, self.key_passphrase)
                except (paramiko.SSHException, OSError, ValueError):
                    skipped.append(f"key {path} (unusable)")
        self._skipped_keys: list[str] = skipped

    def _authenticate(self, t: paramiko.Transport) -> None:
        user = self.spec.user
        tried: list[str] = []
        allowed: Optional[list[str]] = None
        self._skipped_keys = []
        for desc, key in self._keys_to_try():
            if allowed is not None and "publickey" not in allowed:
                break
            try:
                t.auth_publickey(user, key)
                return
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
                tried.append(f"{desc} (server does not accept keys)")
            except paramiko.AuthenticationException:
                tried.append(desc)
            if not t.is_active():
                break
        if self.spec.password is not None and t.is_active():
            try:
                t.auth_password(user, self.spec.password)
                return
            except paramiko.BadAuthenticationType as exc:
                tried.append(f"password (server allows only {', '.join(exc.allowed_types)})")
            except paramiko.AuthenticationException:
                tried.append("password")
        tried += self._skipped_keys
        what = ", ".join(tried) if tried else "no key or password was available"
        raise AuthFailedError(f"authentication failed for {self.name}; tried: {what}")

    # -- sudo ------------------------------------------------------------------------------
    def _probe_sudo(self) -> SudoMode:
        if self.sudo is False:
            return "none"
        rc, out, _ = self._exec_raw("id -u", None, timeout=30)
        if rc == 0 and out.strip() == b"0":
            return "none"
        if rc == -1:
            raise ConnectionLostError(f"connection to {self.name} lost while checking the user")
        rc, _, err = self._exec_raw("LC_ALL=C sudo -n -- sh -c true", None, timeout=30)
        if rc == 0:
            return "nopasswd"
        if rc == 127:
            raise SudoRefusedError(f"{self.name} is not root and sudo is not installed there")
        secret = self._get_sudo_password(err.decode(errors="replace").strip())
        rc, _, err = self._exec_raw(
            "LC_ALL=C sudo -S -k -p '' -- sh -c true", [secret + b"\n"], timeout=30
        )
        if rc != 0:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else f"exit code {rc}"
            raise SudoRefusedError(f"sudo refused for {self.name}: {reason}")
        self._sudo_secret = secret
        return "password"

    def _get_sudo_password(self, sudo_said: str) -> bytes:
        password = self.spec.sudo_password
        if password is None and self.spec.password is not None:
            password = self.spec.password  # the login password is the usual sudo password
        if password is None and self._prompt is not None:
            password = self._prompt(f"[sudo] password for {self.name}: ")
        if password is None and sys.stdin is not None and sys.stdin.isatty():
            password = getpass.getpass(f"[sudo] password for {self.name}: ")
        if password is None:
            said = sudo_said.splitlines()[-1] if sudo_said else "a password is required"
            raise SudoRefusedError(
                f"sudo on {self.name} needs a password ({said}) and none was given: "
                "pass a sudo password, run interactively, or connect as root"
            )
        return password.encode()

    # -- running commands ------------------------------------------------------------------
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
            raise ConnectionLostError(f"connection to {self.name} lost: {exc or 'closed'}") from exc
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
            raise ConnectionLostError(f"connection to {self.name} lost: {exc}") from exc
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
                f"connection to {self.name} lost while running: {_short(command_text(cmd))}"
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
    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        """``flock -n`` held on the host by a shell that reads this channel until it ends: the
        lock goes when the block ends, and when this controller dies or the link drops (sshd
        closes the session, the holder reads end-of-input and exits)."""
        folder = posixpath.dirname(path) or "/"
        script = (
            f"mkdir -p -m 700 -- {_q(folder)} && exec flock -n -E {LOCK_BUSY_RC} {_q(path)} "
            "sh -c 'echo held; exec cat >/dev/null'"
        )
        transport = self._transport_for_exec()  # connects and probes sudo on first use
        mode = self.sudo_mode
        try:
            chan = transport.open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise ConnectionLostError(f"connection to {self.name} lost: {exc or 'closed'}") from exc
        try:
            chan.settimeout(max(self.connect_timeout, 30.0))
            chan.exec_command(remote_command(script, sudo=mode))
            if mode == "password":
                assert self._sudo_secret is not None
                _send_all(chan, self._sudo_secret + b"\n")
            said = b""
            try:
                while b"\n" not in said:
                    data = chan.recv(64)
                    if not data:
                        break
                    said += data
            except socket.timeout:
                raise HostError(f"cannot lock {path} on {self.name}: no answer in time") from None
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
                    f"another Sealbox run holds {path} on {self.name}; wait for it to finish"
                )
            if rc == 127:
                raise HostError(
                    f"cannot lock {path} on {self.name}: flock is not installed there "
                    "(install util-linux)"
                )
            raise HostError(f"cannot lock {path} on {self.name}: {_last_line(err, rc)}")
        finally:
            try:  # end the holder's input, and wait (bounded) until it let go of the lock
                chan.shutdown_write()
                chan.status_event.wait(10)
            except (OSError, EOFError, paramiko.SSHException):
                pass
            chan.close()

    # -- files -----------------------------------------------------------------------------
    def read(self, path: str) -> bytes:
        rc, out, err = self._exec(read_script(path))
        if rc == _MISSING:
            raise FileNotFoundError(f"{self.name}:{path}")
        if rc != 0:
            raise HostError(f"cannot read {path} on {self.name}: {_last_line(err, rc)}")
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
        rc, _, err = self._exec(write_script(path, mode), chunks)
        if rc != 0:
            raise HostError(f"cannot write {path} on {self.name}: {_last_line(err, rc)}")

    def exists(self, path: str) -> bool:
        p = _q(path)
        rc, _, _ = self._exec(f"[ -e {p} ] || [ -L {p} ]")
        return rc == 0

    def remove(self, path: str, recursive: bool = False) -> None:
        flags = "-rf" if recursive else "-f"
        rc, _, err = self._exec(f"rm {flags} -- {_q(path)}")
        if rc != 0:
            raise HostError(f"cannot remove {path} on {self.name}: {_last_line(err, rc)}")

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        rc, _, err = self._exec(f"mkdir -p -m {mode:o} -- {_q(path)}")
        if rc != 0:
            raise HostError(f"cannot create {path} on {self.name}: {_last_line(err, rc)}")


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
