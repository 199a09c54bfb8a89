"""How SSHHost reaches a host: TCP (or a jump host's channel), the handshake with our cipher
and host-key choices, the host-key check against known_hosts, authentication, the sudo probe.
A mixin of SSHHost (installer.hosts.ssh): it reads the connection settings SSHHost holds."""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import paramiko

from installer.hosts import hostcert, knownhosts
from installer.hosts.spec import HostSpec
from installer.hosts.sshwire import (
    PREFERRED_MACS,
    WINDOW_SIZE,
    AuthFailedError,
    ConnectionLostError,
    HostKeyChangedError,
    HostKeyRevokedError,
    HostKeyUnknownError,
    HostKeyUntrustedError,
    HostUnreachableError,
    SudoMode,
    SudoRefusedError,
    _Transport,
)
from installer.i18n import _


class SSHConnect:
    """The connection half of SSHHost (the settings are SSHHost's, set in its __init__)."""

    spec: HostSpec
    name: str
    key_passphrase: Optional[str]
    use_agent: bool
    look_for_keys: bool
    known_hosts: str
    accept_new_host_keys: bool
    sudo: Optional[bool]
    connect_timeout: float
    connect_retries: int
    keepalive: float
    dead_link_timeout: Optional[float]
    ciphers: tuple[str, ...]
    _prompt: Optional[Callable[[str], str]]
    _jump: Optional[Any]  # an SSHHost (typed loosely: ssh.py imports this module)
    _sudo_secret: Optional[bytes]

    def _exec_raw(
        self,
        text: str,
        chunks: Optional[Iterable[bytes]],
        timeout: Optional[float],
        kill: Optional[Callable[[list[bytes]], None]] = None,
    ) -> tuple[int, bytes, bytes]:
        """Run ``text`` on a new channel (SSHHost's; the sudo probe runs through it)."""
        raise NotImplementedError

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
            _("cannot reach {name}: {reason} ({attempts} attempt{value})").format(
                name=self.name, reason=reason, attempts=attempts, value="s" if attempts > 1 else ""
            )
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
                _(
                    "host key of {name} ({shown}) is REVOKED by {where}; refusing to connect. Ask the host's administrator for its new key"
                ).format(name=name, shown=shown, where=where)
            )
        if decision.verdict == "untrusted":
            raise HostKeyUntrustedError(
                _(
                    "host key of {name} ({shown}) is not vouched for by the @cert-authority on {where}: {reason}; refusing to connect"
                ).format(name=name, shown=shown, where=where, reason=decision.reason)
            )
        if decision.verdict == "changed":
            raise HostKeyChangedError(
                _(
                    "host key of {name} has CHANGED (now {shown}); refusing to connect. If the host was reinstalled, remove {where} (ssh-keygen -R '{name}' -f {known_hosts}) and connect again"
                ).format(name=name, shown=shown, where=where, known_hosts=self.known_hosts)
            )
        if self.accept_new_host_keys:
            knownhosts.append(self.known_hosts, name, keytype, key_b64)
            return
        raise HostKeyUnknownError(
            _(
                "host key of {name} is not in {known_hosts}: {shown}; check it and re-run with --accept-new-host-keys"
            ).format(name=name, known_hosts=self.known_hosts, shown=shown)
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
        raise AuthFailedError(
            _("authentication failed for {name}; tried: {what}").format(name=self.name, what=what)
        )

    # -- sudo ------------------------------------------------------------------------------
    def _probe_sudo(self) -> SudoMode:
        if self.sudo is False:
            return "none"
        rc, out, _unused = self._exec_raw("id -u", None, timeout=30)
        if rc == 0 and out.strip() == b"0":
            return "none"
        if rc == -1:
            raise ConnectionLostError(
                _("connection to {name} lost while checking the user").format(name=self.name)
            )
        rc, _unused, err = self._exec_raw("LC_ALL=C sudo -n -- sh -c true", None, timeout=30)
        if rc == 0:
            return "nopasswd"
        if rc == 127:
            raise SudoRefusedError(
                _("{name} is not root and sudo is not installed there").format(name=self.name)
            )
        secret = self._get_sudo_password(err.decode(errors="replace").strip())
        rc, _unused, err = self._exec_raw(
            "LC_ALL=C sudo -S -k -p '' -- sh -c true", [secret + b"\n"], timeout=30
        )
        if rc != 0:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1].strip() if lines else f"exit code {rc}"
            raise SudoRefusedError(
                _("sudo refused for {name}: {reason}").format(name=self.name, reason=reason)
            )
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
                _(
                    "sudo on {name} needs a password ({said}) and none was given: pass a sudo password, run interactively, or connect as root"
                ).format(name=self.name, said=said)
            )
        return password.encode()

    # -- running commands ------------------------------------------------------------------
