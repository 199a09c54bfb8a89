"""Read a machine's fingerprint through a Host: the fingerprint facts in one round trip.

The facts (files read with shell builtins, the few commands with no file equivalent) are
declared in ``installer.facts``; ``root`` prefixes every path so unit tests point it at fake
``/sys``, ``/proc`` and ``/etc`` trees (commands are found on ``PATH``; tests stub them). In an
install, the license gate does not collect: it passes the run's snapshot to ``from_facts``.
"""

from __future__ import annotations

import secrets

from fingerprint.components import build_fingerprint
from fingerprint.errors import FingerprintError
from fingerprint.model import Fingerprint
from installer.facts.catalog import fact
from installer.facts.gather import GatherError, build_script
from installer.facts.snapshot import VIRT_FACTS, HostFacts
from installer.hosts.base import Host

__all__ = ["FACTS", "build_fingerprint", "collect", "collect_script", "from_facts"]

FACTS = (
    "uid",
    "machine_id",
    "dbus_machine_id",
    "dmi",
    "hostname",
    "uname",
    "cpu_online",
    "meminfo",
    "os_release",
    "redhat_release",
    "rootmount",
    "blocks",
    "net_ifaces",
    "ip_addr",
    "ip_route",
    "nvidia_smi",
    "npu_smi",
    "npu_boards",
    *VIRT_FACTS,
)
"""The facts a fingerprint reads (``cpu_flags`` is the first CPU's block: model and flags)."""


def collect_script(root: str = "") -> str:
    """The shell text run on the host (exposed so tests and tools see it)."""
    return build_script([fact(k) for k in FACTS], secrets.token_hex(8), root)


def from_facts(facts: HostFacts) -> Fingerprint:
    """The fingerprint from a run's snapshot (gathering only what it does not hold yet)."""
    try:
        got = facts.gather(FACTS)
    except GatherError as exc:
        raise FingerprintError(
            f"{facts.host.name}: fingerprint script did not finish ({exc}); "
            "check that /bin/sh works there and retry"
        ) from exc
    return build_fingerprint(got)


def collect(host: Host, *, root: str = "", timeout: float = 30.0) -> Fingerprint:
    """Read ``host``'s fingerprint (raw values stay in the returned object; hash with
    ``Fingerprint.to_record`` before writing anything)."""
    return from_facts(HostFacts(host, root=root, mode="script"))
