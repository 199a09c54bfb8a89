"""Client library for licensed services: get a lease, verify it, renew it, ride out blips.

Self-contained (stdlib + cryptography) so a vendor image can copy this one file. Usage::

    client = LicenseClient("127.0.0.1", 8887, "face-server", instance="0")
    ok, reason = client.check()   # call every few seconds; grants or renews as needed

Trust: grants are signed by the license server's own Ed25519 key (made per installation; the
vendor key never leaves the vendor). The client pins that key on first contact for its
lifetime (or takes it from the caller), checks every grant's signature, that it answers *this*
request (random nonce), and names this module and instance. A server that cannot be reached
is tolerated until the current lease runs out plus ``offline_grace``; a refusal is not.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import time
from typing import Any, Callable, Dict, Optional, Tuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GRANT_FORMAT = "sealbox-grant"


class GrantError(Exception):
    """The server answered something that is not a valid grant for this request."""


def _key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_grant(
    reply: Dict[str, Any], key: Ed25519PublicKey, *, nonce: str, module: str, instance: str
) -> Dict[str, Any]:
    """The grant inside ``reply`` after every check; raises GrantError saying what failed."""
    text, sig = reply.get("grant"), reply.get("signature")
    if not isinstance(text, str) or not isinstance(sig, str):
        raise GrantError("reply has no signed grant")
    try:
        key.verify(base64.b64decode(sig, validate=True), text.encode())
    except (InvalidSignature, ValueError):
        raise GrantError("grant signature invalid (not from the license server we trust)") from None
    grant = json.loads(text)
    if grant.get("format") != GRANT_FORMAT:
        raise GrantError("not a grant")
    if grant.get("nonce") != nonce:
        raise GrantError("grant answers another request (nonce mismatch: replayed?)")
    if grant.get("module") != module or grant.get("instance") != instance:
        raise GrantError(f"grant is for {grant.get('module')}/{grant.get('instance')}")
    ttl = grant.get("ttl")
    if not isinstance(ttl, (int, float)) or ttl <= 0:
        raise GrantError("grant has no TTL")
    return grant


class LicenseClient:
    def __init__(
        self,
        host: str,
        port: int,
        module: str,
        instance: str = "0",
        *,
        gpus: int = 0,
        timeout: float = 3.0,
        offline_grace: float = 30.0,
        server_key_pem: Optional[bytes] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.port = host, port
        self.module, self.instance, self.gpus = module, str(instance), gpus
        self.timeout = timeout
        self.offline_grace = offline_grace
        self.clock = clock
        self.key: Optional[Ed25519PublicKey] = None
        if server_key_pem:
            self.key = self._load_key(server_key_pem)
        self.grant: Optional[Dict[str, Any]] = None
        self.lease_until = 0.0  # monotonic
        self._conn: Optional[http.client.HTTPConnection] = None

    @staticmethod
    def _load_key(pem: bytes) -> Ed25519PublicKey:
        key = serialization.load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise GrantError("server key is not Ed25519")
        return key

    # transport --------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Optional[dict] = None) -> Tuple[int, Any]:
        """One keep-alive connection; one retry on a dropped connection (server restarted)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        try:
            return resp.status, json.loads(raw.decode("utf-8"))
        except ValueError:
            return resp.status, {"reason": raw[:200].decode("utf-8", "replace")}

    def _server_key(self, key_id: str) -> Ed25519PublicKey:
        if self.key is None:
            status, st = self._request("GET", "/v1/status")
            pem = st.get("server_key") if status == 200 and isinstance(st, dict) else None
            if not isinstance(pem, str):
                raise GrantError("license server did not publish its key")
            key = self._load_key(pem.encode())
            if _key_id(key) != key_id:
                raise GrantError("license server key does not match the grant's key id")
            self.key = key
        elif _key_id(self.key) != key_id:
            raise GrantError(
                f"license server key changed ({key_id}, pinned {_key_id(self.key)}); "
                "restart this service if the license server was reinstalled"
            )
        return self.key

    # API --------------------------------------------------------------------------------
    def check(self) -> Tuple[bool, str]:
        """(licensed now?, reason in words). Grants on first call, renews after."""
        now = self.clock()
        nonce = secrets.token_hex(8)
        body: Dict[str, Any] = {
            "module": self.module,
            "instance": self.instance,
            "gpus": self.gpus,
            "nonce": nonce,
        }
        path = "/v1/grant"
        if self.grant is not None:
            path, body["lease_id"] = "/v1/renew", self.grant["lease_id"]
        where = f"{self.host}:{self.port}"
        try:
            status, reply = self._request("POST", path, body)
        except (OSError, http.client.HTTPException) as exc:
            if self.grant is not None and now < self.lease_until + self.offline_grace:
                left = self.lease_until + self.offline_grace - now
                return (
                    True,
                    f"license server {where} unreachable ({exc}); offline grace {left:.0f}s",
                )
            self.grant = None
            return False, f"authenticate failed: couldn't connect to license server {where}: {exc}"
        if status != 200:
            self.grant = None
            reason = reply.get("reason") if isinstance(reply, dict) else None
            return False, f"license server {where} refused: {reason or f'HTTP {status}'}"
        try:
            key = self._server_key(str(reply.get("key_id")))
            grant = verify_grant(
                reply, key, nonce=nonce, module=self.module, instance=self.instance
            )
        except (GrantError, OSError, http.client.HTTPException, ValueError) as exc:
            self.grant = None
            return False, f"license server {where}: bad grant: {exc}"
        self.grant = grant
        self.lease_until = now + float(grant["ttl"])
        note = f" ({'; '.join(grant['warnings'])})" if grant.get("warnings") else ""
        return True, f"granted ({grant['license_id']}, lease {grant['ttl']:g}s){note}"

    def release(self) -> None:
        """Give the seat back (clean shutdown); best effort."""
        if self.grant is not None:
            try:
                self._request("POST", "/v1/release", {"lease_id": self.grant["lease_id"]})
            except (OSError, http.client.HTTPException):
                pass
            self.grant = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
