"""Versioned, keyed hashing of fingerprint components.

Raw serials never leave the machine: each component value is normalised and hashed with
HMAC-SHA256 keyed by a product salt, so hashes from one product cannot be correlated with
another's. The algorithm id is written into every secfile and license; a new normalisation or
hash gets a *new* id and the old ones stay registered, so licenses issued earlier keep verifying.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Tuple

DEFAULT_PRODUCT = "sealbox"

_SPACES = re.compile(r"\s+")


def _norm_v1(kind: str, value: str) -> str:
    """v1 normalisation: trim, collapse whitespace; case-fold ids whose case is cosmetic."""
    value = _SPACES.sub(" ", value.replace("\x00", "").strip())
    if kind in ("machine_id", "product_uuid", "macs", "gpu_uuids"):
        return value.lower()
    if kind in ("board_serial", "system_serial", "disk_serials", "npu_serials"):
        return value.upper()
    return value


@dataclass(frozen=True)
class HashAlgorithm:
    """One frozen way of turning (kind, raw value) into a hex digest."""

    id: str
    normalize: Callable[[str, str], str]

    def key(self, product: str) -> bytes:
        return b"sealbox-fingerprint\x00" + self.id.encode() + b"\x00" + product.encode()

    def hash(self, kind: str, value: str, product: str) -> str:
        msg = kind.encode() + b"\x00" + self.normalize(kind, value).encode("utf-8")
        return hmac.new(self.key(product), msg, hashlib.sha256).hexdigest()

    def hash_all(self, kind: str, values: Iterable[str], product: str) -> Tuple[str, ...]:
        """Hashes of a multi-valued component, sorted and de-duplicated (order never matters)."""
        return tuple(sorted({self.hash(kind, v, product) for v in values}))


ALGORITHMS: Dict[str, HashAlgorithm] = {
    "hmac-sha256-v1": HashAlgorithm("hmac-sha256-v1", _norm_v1),
}
"""Every algorithm ever shipped. Never remove or change an entry: add a new id instead."""

DEFAULT_ALGORITHM = "hmac-sha256-v1"


def get_algorithm(algorithm_id: str) -> HashAlgorithm:
    """The registered algorithm, or an error telling the user to upgrade."""
    from fingerprint.errors import AlgorithmError

    try:
        return ALGORITHMS[algorithm_id]
    except KeyError:
        raise AlgorithmError(
            f"unknown fingerprint algorithm {algorithm_id!r}: made by a newer sealbox; "
            f"upgrade sealbox (known: {', '.join(sorted(ALGORITHMS))})"
        ) from None
