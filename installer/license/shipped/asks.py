"""What a service asks the license server: one strictly shaped request (grant, renew, release).

Kept apart from the service so the shape rules (types, lengths) are in one place; the server
answers 400 with ``ASK_SHAPE`` when a request does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

ASK_SHAPE = (
    'expected {"module": str, "instance": str, "gpus": int >= 0, "holder": str, '
    '"lease_id": str, "nonce": str, "have": str, "proof": 64 hex}'
)
_HEX = frozenset("0123456789abcdef")


def _text(value: Any, limit: int, *, empty: bool = True) -> Optional[str]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit or (not empty and not value):
        return None
    return value


@dataclass
class Ask:
    module: str
    instance: str
    gpus: int
    holder: str
    lease_id: str
    nonce: str
    have: str
    proof: str
    secret: bytes = b""  # the instance secret, once the proof checked out

    @property
    def who(self) -> str:
        return f"{self.module}/{self.instance}"

    @classmethod
    def parse(cls, body: Any) -> Optional[Ask]:
        if not isinstance(body, dict):
            return None
        gpus = body.get("gpus", 0)
        proof = body.get("proof")
        fields = (
            _text(body.get("module"), 64, empty=False),
            _text(body.get("instance", "0"), 64, empty=False),
            _text(body.get("holder"), 64, empty=False),
            _text(body.get("lease_id", ""), 64),
            _text(body.get("nonce", ""), 128),
            _text(body.get("have", ""), 64),
        )
        if (
            any(f is None for f in fields)
            or not isinstance(gpus, int)
            or isinstance(gpus, bool)
            or gpus < 0
            or not isinstance(proof, str)
            or len(proof) != 64
            or not set(proof) <= _HEX
        ):
            return None
        module, instance, holder, lease_id, nonce, have = (str(f) for f in fields)
        return cls(module, instance, gpus, holder, lease_id, nonce, have, proof)
