"""Seats: which process holds which module instance, until when (monotonic time).

A lease is keyed by (module, instance) and belongs to the ``holder`` (a random id per client
process) that took it: the same holder asking again gets its own seat back; another holder
(a second process with the same INSTANCE, or anyone else) is refused until the lease ends or
is released. Renew and release name the lease *and* the holder. Each lease has a seat number
(0 .. licensed instances - 1) that the client checks against the license. Leases not renewed
within their TTL are reclaimed the next time the table is consulted.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Set, Tuple


@dataclass
class Lease:
    lease_id: str
    module: str
    instance: str
    holder: str
    seat: int
    gpus: int
    expires: float  # monotonic


class SeatLimit(Exception):
    """No free seat: the message says how many are licensed and in use."""


class SeatTaken(Exception):
    """The instance's seat, or the named lease, belongs to another holder."""


class LeaseTable:
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.clock = clock
        self._by_key: Dict[Tuple[str, str], Lease] = {}
        self._by_id: Dict[str, Lease] = {}
        self._next_expiry = float("inf")

    def reclaim(self) -> int:
        """Drop expired leases; returns how many were dropped (cheap when none is due)."""
        now = self.clock()
        if now < self._next_expiry:
            return 0
        dead = [lease for lease in self._by_key.values() if lease.expires <= now]
        for lease in dead:
            self._drop(lease)
        self._next_expiry = min((x.expires for x in self._by_key.values()), default=float("inf"))
        return len(dead)

    def _drop(self, lease: Lease) -> None:
        self._by_key.pop((lease.module, lease.instance), None)
        self._by_id.pop(lease.lease_id, None)

    def _module_leases(self, module: str) -> list:
        return [x for x in self._by_key.values() if x.module == module]

    def in_use(self, module: str) -> Tuple[int, int]:
        """(instances, gpus) currently held for ``module`` (after reclaiming)."""
        self.reclaim()
        leases = self._module_leases(module)
        return len(leases), sum(x.gpus for x in leases)

    def acquire(
        self,
        module: str,
        instance: str,
        holder: str,
        gpus: int,
        max_instances: int,
        max_gpus: Optional[int],
    ) -> Lease:
        """The seat of (module, instance) for ``holder``, new or refreshed. SeatTaken when
        another holder has it, SeatLimit when no seat is free."""
        self.reclaim()
        now = self.clock()
        held = self._by_key.get((module, instance))
        if held is not None and held.holder != holder:
            left = max(0.0, held.expires - now)
            raise SeatTaken(
                f"instance {instance} of {module} is held by another process (two services "
                f"with the same INSTANCE?); its lease ends in {left:.0f}s unless renewed"
            )
        leases = self._module_leases(module)
        if held is None and len(leases) >= max_instances:
            raise SeatLimit(
                f"seat limit reached for {module}: {len(leases)} of {max_instances} licensed "
                "instances in use"
            )
        others_gpus = sum(x.gpus for x in leases) - (held.gpus if held else 0)
        if max_gpus is not None and others_gpus + gpus > max_gpus:
            raise SeatLimit(
                f"GPU limit reached for {module}: {others_gpus} of {max_gpus} licensed GPUs in "
                f"use, {gpus} more asked"
            )
        if held is None:
            taken: Set[int] = {x.seat for x in leases}
            seat = next(i for i in range(max_instances) if i not in taken)
            held = Lease(secrets.token_hex(12), module, instance, holder, seat, gpus, now)
            self._by_key[(module, instance)] = held
            self._by_id[held.lease_id] = held
        held.gpus = gpus
        held.expires = now + self.ttl
        self._next_expiry = min(self._next_expiry, held.expires)
        return held

    def _owned(self, lease_id: str, holder: str) -> Optional[Lease]:
        self.reclaim()
        lease = self._by_id.get(lease_id)
        if lease is not None and lease.holder != holder:
            raise SeatTaken(f"lease {lease_id[:8]}... belongs to another process")
        return lease

    def renew(self, lease_id: str, holder: str) -> Optional[Lease]:
        """Extend a live lease of ``holder``; None when unknown or reclaimed (caller re-grants);
        SeatTaken when it is someone else's."""
        lease = self._owned(lease_id, holder)
        if lease is not None:
            lease.expires = self.clock() + self.ttl
        return lease

    def release(self, lease_id: str, holder: str) -> bool:
        lease = self._owned(lease_id, holder)
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
