"""Client library for licensed services: get a lease, verify it back to the vendor, renew it.

Self-contained (stdlib + cryptography) so a vendor image can copy this one file. Usage::

    client = LicenseClient("127.0.0.1", 8887, "my-service", instance="0",
                           seat_key=b"...", vendor_keys=load_vendor_keys("/app/pinned"))
    ok, reason = client.check()   # call every few seconds; grants or renews as needed

Trust chain (no trust-on-first-use): the service image pins the vendor public key(s), like the
license-server image. Every grant names the vendor-signed license it is issued under (the
license travels with the first grant, after that only its sha256); the client verifies that
license's signature against the pinned keys, its dates against its own clock, that it grants
this module, and that the seat number and GPUs fit the licensed counts. A server that holds no
vendor-signed license for the module can never make the service licensed.

Seats are bound to instances: the installer generates one seat key per installation (0600 in
the service's config and the license server's); the secret of instance I of module M is
HMAC(seat key, M/I) and never crosses the wire. Each request carries an HMAC proof made with
it, and each grant comes back MACed with it, so only this installation's services can take,
renew or release a seat, and only this installation's license server can answer. ``holder`` is
random per process: a second process claiming the same instance gets no seat while the first
holds it (duplicate INSTANCE in a cluster), and gets it once the first's lease ends.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import time
from typing import Any, Callable, Dict, Optional, Tuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GRANT_FORMAT = "sealbox-grant"
GRANT_VERSION = 2
PINNED_DIR = "/app/pinned"
DAY = 86400
_BEGIN, _END = b"-----BEGIN SEALBOX LICENSE-----", b"-----END SEALBOX LICENSE-----"
_FILE = re.compile(
    rb"\A(?P<signed>(?:#[^\n]*\n)*" + _BEGIN + rb"\n(?P<payload>(?:[^\n]*\n)+?)"
    rb"" + _END + rb"\n)"
    rb"signature: ed25519 (?P<kid>[0-9a-f]{16}) (?P<sig>[A-Za-z0-9+/]{86}==)\n\Z"
)
_PEM = re.compile(rb"-----BEGIN PUBLIC KEY-----\n.*?-----END PUBLIC KEY-----\n?", re.DOTALL)


class GrantError(Exception):
    """The server answered something that is not a valid grant for this request."""


# seat secrets ---------------------------------------------------------------------------------
def instance_secret(seat_key: bytes, module: str, instance: str) -> bytes:
    """The per-instance secret: derived from the installation's seat key, never sent."""
    return hmac.new(seat_key, f"sealbox-seat\n{module}\n{instance}".encode(), "sha256").digest()


def request_proof(
    secret: bytes, op: str, module: str, instance: str, holder: str, lease_id: str, nonce: str
) -> str:
    msg = "\n".join((op, module, instance, holder, lease_id, nonce)).encode()
    return hmac.new(secret, msg, "sha256").hexdigest()


def grant_mac(secret: bytes, text: str) -> str:
    return hmac.new(secret, b"grant\n" + text.encode(), "sha256").hexdigest()


# the vendor chain -------------------------------------------------------------------------------
def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_vendor_keys(directory: str = PINNED_DIR) -> Dict[str, Ed25519PublicKey]:
    """Every PEM key in ``directory/*.pub`` (baked into the image), by key id."""
    keys: Dict[str, Ed25519PublicKey] = {}
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".pub"))
    except FileNotFoundError:
        names = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as fh:
            for block in _PEM.findall(fh.read()):
                key = serialization.load_pem_public_key(block)
                if isinstance(key, Ed25519PublicKey):
                    keys[key_id(key)] = key
    return keys


def _epoch(text: Any, what: str) -> int:
    try:
        return calendar.timegm(time.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        raise GrantError(f"license {what} is not a UTC time") from None


class VendorLicense:
    """The parts of a vendor-verified license.cfg a service checks its grants against."""

    def __init__(self, data: bytes, keys: Dict[str, Ed25519PublicKey]) -> None:
        m = _FILE.match(data)
        if m is None:
            raise GrantError("the license sent with the grant is not a license.cfg")
        kid = m.group("kid").decode()
        key = keys.get(kid)
        if key is None:
            pinned = ", ".join(sorted(keys)) or "none"
            raise GrantError(
                f"the license is signed with key {kid}, not a vendor key pinned in this "
                f"service (pinned: {pinned})"
            )
        try:
            key.verify(base64.b64decode(m.group("sig"), validate=True), m.group("signed"))
        except (InvalidSignature, ValueError):
            raise GrantError(
                f"the license's signature does not verify with vendor key {kid}"
            ) from None
        doc = json.loads(m.group("payload").decode("ascii"))
        if not isinstance(doc, dict) or doc.get("format") != "sealbox-license":
            raise GrantError("the signed payload is not a Sealbox license")
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.key_id = kid
        self.license_id = str(doc.get("license_id"))
        self.not_before = _epoch(doc.get("not_before"), "not_before")
        self.expires_at = _epoch(doc.get("expires_at"), "expires_at")
        self.grace_until = self.expires_at + int(doc.get("grace_days") or 0) * DAY
        mods = doc.get("modules")
        self.modules: Dict[str, Dict[str, Any]] = mods if isinstance(mods, dict) else {}

    def check(self, grant: Dict[str, Any], now: float) -> None:
        """Dates, module, seat number and GPUs of ``grant`` against this license."""
        if now < self.not_before:
            raise GrantError(f"license {self.license_id} is not valid yet (clock before start)")
        if now >= self.grace_until:
            raise GrantError(f"license {self.license_id} has expired")
        limit = self.modules.get(str(grant.get("module")))
        if not isinstance(limit, dict):
            raise GrantError(f"license {self.license_id} does not grant {grant.get('module')}")
        seat, seats = grant.get("seat"), limit.get("instances")
        if not isinstance(seat, int) or not isinstance(seats, int) or not 0 <= seat < seats:
            raise GrantError(f"seat {seat!r} is outside the {seats} licensed instances")
        gpus, gpu_limit = grant.get("gpus"), limit.get("gpus")
        if not isinstance(gpus, int) or (gpu_limit is not None and gpus > gpu_limit):
            raise GrantError(f"{gpus!r} GPUs asked, the license allows {gpu_limit}")


def verify_grant(
    reply: Dict[str, Any], secret: bytes, *, nonce: str, module: str, instance: str, holder: str
) -> Dict[str, Any]:
    """The grant inside ``reply`` after the MAC and request checks; raises GrantError."""
    text, mac = reply.get("grant"), reply.get("mac")
    if not isinstance(text, str) or not isinstance(mac, str):
        raise GrantError("reply has no MACed grant")
    if not hmac.compare_digest(mac, grant_mac(secret, text)):
        raise GrantError("grant not from this installation's license server (MAC mismatch)")
    grant = json.loads(text)
    if grant.get("format") != GRANT_FORMAT or grant.get("version") != GRANT_VERSION:
        raise GrantError("not a grant of this version")
    if grant.get("nonce") != nonce:
        raise GrantError("grant answers another request (nonce mismatch: replayed?)")
    if (grant.get("module"), grant.get("instance"), grant.get("holder")) != (
        module,
        instance,
        holder,
    ):
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
        seat_key: bytes,
        vendor_keys: Optional[Dict[str, Ed25519PublicKey]] = None,
        gpus: int = 0,
        timeout: float = 3.0,
        offline_grace: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.module, self.instance, self.gpus = module, str(instance), gpus
        self.timeout = timeout
        self.offline_grace = offline_grace
        self.clock, self.wall = clock, wall
        self.keys = load_vendor_keys() if vendor_keys is None else vendor_keys
        self._secret = instance_secret(seat_key, module, self.instance) if seat_key else b""
        self.holder = secrets.token_hex(12)
        self.license: Optional[VendorLicense] = None
        self.grant: Optional[Dict[str, Any]] = None
        self.lease_until = 0.0  # monotonic
        self._conn: Optional[http.client.HTTPConnection] = None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"LicenseClient({self.host}:{self.port}, {self.module}/{self.instance})"

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

    def _body(self, op: str, lease_id: str = "") -> Dict[str, Any]:
        nonce = secrets.token_hex(8)
        return {
            "module": self.module,
            "instance": self.instance,
            "gpus": self.gpus,
            "holder": self.holder,
            "lease_id": lease_id,
            "nonce": nonce,
            "have": self.license.sha256 if self.license else "",
            "proof": request_proof(
                self._secret, op, self.module, self.instance, self.holder, lease_id, nonce
            ),
        }

    def _chain(self, reply: Dict[str, Any], grant: Dict[str, Any]) -> VendorLicense:
        """The vendor-verified license the grant is issued under (sent once, then cached)."""
        text = reply.get("license")
        lic = self.license
        if isinstance(text, str):
            if lic is None or lic.sha256 != hashlib.sha256(text.encode()).hexdigest():
                lic = VendorLicense(text.encode(), self.keys)
        if lic is None or lic.sha256 != grant.get("license_sha256"):
            raise GrantError("grant names a license the server did not send")
        if lic.license_id != grant.get("license_id"):
            raise GrantError("grant's license id differs from the signed license")
        lic.check(grant, self.wall())
        return lic

    # API --------------------------------------------------------------------------------
    def check(self) -> Tuple[bool, str]:
        """(licensed now?, reason in words). Grants on first call, renews after."""
        now = self.clock()
        where = f"{self.host}:{self.port}"
        if not self.keys:
            return False, f"no vendor public key pinned in {PINNED_DIR}: image built without one"
        if not self._secret:
            return False, "no seat key in the service configuration: reinstall with sealbox"
        op, lease_id = ("renew", self.grant["lease_id"]) if self.grant else ("grant", "")
        body = self._body(op, lease_id)
        try:
            status, reply = self._request("POST", f"/v1/{op}", body)
        except (OSError, http.client.HTTPException) as exc:
            if self.grant is not None and now < self.lease_until + self.offline_grace:
                left = self.lease_until + self.offline_grace - now
                return (
                    True,
                    f"license server {where} unreachable ({exc}); offline grace {left:.0f}s",
                )
            self.grant = None
            return False, f"authenticate failed: couldn't connect to license server {where}: {exc}"
        if status != 200 or not isinstance(reply, dict):
            self.grant = None
            reason = reply.get("reason") if isinstance(reply, dict) else None
            return False, f"license server {where} refused: {reason or f'HTTP {status}'}"
        try:
            grant = verify_grant(
                reply,
                self._secret,
                nonce=body["nonce"],
                module=self.module,
                instance=self.instance,
                holder=self.holder,
            )
            self.license = self._chain(reply, grant)
        except (GrantError, ValueError) as exc:
            self.grant = None
            return False, f"license server {where}: bad grant: {exc}"
        self.grant = grant
        self.lease_until = now + float(grant["ttl"])
        note = f" ({'; '.join(grant['warnings'])})" if grant.get("warnings") else ""
        return True, (
            f"granted ({grant['license_id']}, seat {grant['seat'] + 1}, "
            f"lease {grant['ttl']:g}s){note}"
        )

    def release(self) -> None:
        """Give the seat back (clean shutdown); best effort."""
        if self.grant is not None:
            try:
                self._request("POST", "/v1/release", self._body("release", self.grant["lease_id"]))
            except (OSError, http.client.HTTPException):
                pass
            self.grant = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
