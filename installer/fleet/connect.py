"""Hosts of an inventory: SSH connections with the command line's options applied on top, or
this machine for the ``@local`` address (pyinfra's connectors: the fleet never asks which)."""

from __future__ import annotations

import getpass
import sys
import threading
from dataclasses import dataclass
from typing import Optional

from installer.fleet.inventory import LOCAL, InventoryHost
from installer.hosts.base import Host
from installer.hosts.local import LocalHost
from installer.hosts.ssh import SSHHost

_PROMPT_LOCK = threading.Lock()


@dataclass
class ConnectOptions:
    known_hosts: Optional[str] = None
    accept_new_host_keys: bool = False
    identity: Optional[str] = None  # --identity: used for hosts without their own key
    connect_timeout: Optional[float] = None
    connect_retries: int = 1


def _prompt(text: str) -> str:
    """Sudo password prompts from parallel hosts, one at a time, only on a terminal."""
    with _PROMPT_LOCK:
        if sys.stdin is None or not sys.stdin.isatty():
            raise EOFError("no terminal to ask for a password")
        return getpass.getpass(text)


def open_host(h: InventoryHost, opts: ConnectOptions) -> Host:
    """The Host for ``h``: this machine for ``@local``, else an SSHHost (connects lazily; the
    caller closes it with ``close_host``)."""
    if h.address == LOCAL:
        return LocalHost(h.name)
    spec = h.host_spec()
    if spec.key_filename is None and opts.identity:
        spec = type(spec)(**{**spec.__dict__, "key_filename": opts.identity})
    return SSHHost(
        spec,
        known_hosts=h.known_hosts or opts.known_hosts,
        accept_new_host_keys=opts.accept_new_host_keys,
        sudo=h.sudo,
        connect_timeout=opts.connect_timeout or h.connect_timeout,
        connect_retries=opts.connect_retries,
        look_for_keys=spec.key_filename is None,
        prompt=_prompt if sys.stdin is not None and sys.stdin.isatty() else None,
        name=h.name if h.name != str(spec) else None,
    )


def reach(host: Host) -> Host:
    """Connect now where the connector connects (SSH), so an unreachable host fails here,
    before any work for it; this machine is always there."""
    connect = getattr(host, "connect", None)
    if callable(connect):
        connect()
    return host


def close_host(host: Host) -> None:
    close = getattr(host, "close", None)
    if callable(close):
        close()
