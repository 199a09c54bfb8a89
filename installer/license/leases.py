"""Seats: who holds which module instance, until when (monotonic time, immune to clock jumps).

A lease is keyed by (module, instance): the same instance asking again gets its own seat back,
so a restarted service does not leak seats. Leases not renewed within their TTL are reclaimed
the next time the table is consulted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple


@dataclass
class Lease:
    lease_id: str
    module: str
    instance: str
    gpus: int
    expires: float  # monotonic


class SeatLimit(Exception):
    """No free seat: the message says how many are licensed and in use."""


class LeaseTable:
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.clock = clock
        self._by_key: Dict[Tuple[str, str], Lease] = {}
        self._by_id: Dict[str, Lease] = {}

    def reclaim(self) -> int:
        """Drop expired leases; returns how many were dropped."""
        now = self.clock()
        dead = [lease for lease in self._by_key.values() if lease.expires <= now]
        for lease in dead:
            self._drop(lease)
        return len(dead)

    def _drop(self, lease: Lease) -> None:
        self._by_key.pop((lease.module, lease.instance), None)
        self._by_id.pop(lease.lease_id, None)

    def in_use(self, module: str) -> Tuple[int, int]:
        """(instances, gpus) currently held for ``module`` (after reclaiming)."""
        self.reclaim()
        leases = [x for x in self._by_key.values() if x.module == module]
        return len(leases), sum(x.gpus for x in leases)

    def acquire(
        self, module: str, instance: str, gpus: int, max_instances: int, max_gpus: Optional[int]
    ) -> Lease:
        """The seat of (module, instance), new or refreshed; SeatLimit when none is free."""
        self.reclaim()
        now = self.clock()
        held = self._by_key.get((module, instance))
        used, used_gpus = self.in_use(module)
        if held is None and used >= max_instances:
            raise SeatLimit(
                f"seat limit reached for {module}: {used} of {max_instances} licensed "
                "instances in use"
            )
        others_gpus = used_gpus - (held.gpus if held else 0)
        if max_gpus is not None and others_gpus + gpus > max_gpus:
            raise SeatLimit(
                f"GPU limit reached for {module}: {others_gpus} of {max_gpus} licensed GPUs in "
                f"use, {gpus} more asked"
            )
        if held is None:
            held = Lease(secrets.token_hex(12), module, instance, gpus, now + self.ttl)
            self._by_key[(module, instance)] = held
            self._by_id[held.lease_id] = held
        else:
            held.gpus = gpus
            held.expires = now + self.ttl
        return held

    def renew(self, lease_id: str) -> Optional[Lease]:
        """Extend a live lease; None when unknown or already reclaimed (caller re-grants)."""
        self.reclaim()
        lease = self._by_id.get(lease_id)
        if lease is not None:
            lease.expires = self.clock() + self.ttl
        return lease

    def release(self, lease_id: str) -> bool:
        lease = self._by_id.get(lease_id)
        if lease is not None:
            self._drop(lease)
        return lease is not None

    def clear(self) -> None:
        self._by_key.clear()
        self._by_id.clear()

    def counts(self) -> Dict[str, int]:
        self.reclaim()
        out: Dict[str, int] = {}
        for lease in self._by_key.values():
            out[lease.module] = out.get(lease.module, 0) + 1
        return out
