"""The license server's usage record and the signed usage report the vendor verifies offline.

What is recorded (JSON lines in ``<state>/usage.jsonl``, appended, rotated at 5 MB): each grant
(module, instance, seats in use after it), refusals (counted per reason and flushed at most every
``REFUSAL_EVERY`` seconds, so a client hammering a refused grant cannot flood the file), clock
events (the clock seen set back, and when it is right again), and each license loaded.

The report for a period is one canonical JSON line and a signature line, like license.cfg:
byte-exact, so one flipped byte anywhere fails. It is signed with this server's own Ed25519 key
(``<state>/usage.key``, 0600, made on first use) and carries the vendor-signed license.cfg the
server serves: the same chain as a grant (the vendor's certificate, then the server's own
proof). The vendor checks the license against its own key, then the report with the server key
it names; a license that pins the server key (``report_key``, written by ``license issue
--report-key``) makes the signer itself vendor-approved.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from installer.license.shipped import fileformat
from installer.license.shipped.model import iso

USAGE_FILE = "usage.jsonl"
KEY_FILE = "usage.key"
REPORT_FORMAT = "sealbox-usage-report"
REPORT_VERSION = 1
ROTATE_AT = 5 << 20
REFUSAL_EVERY = 10.0
PIN_FIELD = "report_key"  # the license payload's optional pin of the server's report key
_FILE = re.compile(
    rb"\A(?P<body>\{[^\n]*\})\nsignature: ed25519 (?P<kid>[0-9a-f]{16}) "
    rb"(?P<sig>[A-Za-z0-9+/]{86}==)\n\Z"
)


def key_id(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


def load_or_make_key(path: str) -> Ed25519PrivateKey:
    """The server's report key: made once (0600, exclusive create), then the same key."""
    try:
        with open(path, "rb") as fh:
            return Ed25519PrivateKey.from_private_bytes(fh.read()[:32])
    except FileNotFoundError:
        pass
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another start made it first: use that one
        return load_or_make_key(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return key


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class UsageLog:
    """Appends usage events; ``wall`` is the service's clock (events are dated by it)."""

    def __init__(self, state_dir: str, wall: Callable[[], float]) -> None:
        self.path = os.path.join(state_dir, USAGE_FILE)
        self.key_path = os.path.join(state_dir, KEY_FILE)
        self.wall = wall
        self._refusals: Dict[Tuple[str, str], Tuple[float, int]] = {}

    def _write(self, doc: Dict[str, Any]) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            if os.path.exists(self.path) and os.path.getsize(self.path) > ROTATE_AT:
                os.replace(self.path, self.path + ".1")
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
        except OSError:
            pass  # a full disk must not stop grants; the report says what it has

    def record(self, kind: str, **fields: Any) -> None:
        self._write({"t": round(self.wall(), 3), "kind": kind, **fields})

    def refusal(self, code: str, module: str) -> None:
        """Counted; written when the first of a kind comes or ``REFUSAL_EVERY`` s passed."""
        now = self.wall()
        last, count = self._refusals.get((code, module), (-1e18, 0))
        count += 1
        if now - last >= REFUSAL_EVERY:
            self.record("refusal", code=code, module=module, count=count)
            self._refusals[(code, module)] = (now, 0)
        else:
            self._refusals[(code, module)] = (last, count)

    def flush(self) -> None:
        for (code, module), (_last, count) in list(self._refusals.items()):
            if count:
                self.record("refusal", code=code, module=module, count=count)
                self._refusals[(code, module)] = (self.wall(), 0)

    def events(self, since: float, until: float) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        for path in (self.path + ".1", self.path):
            try:
                with open(path, encoding="utf-8") as fh:
                    for line in fh:
                        try:
                            doc = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(doc, dict) and since <= float(doc.get("t", 0)) <= until:
                            out.append(doc)
            except FileNotFoundError:
                continue
        return out


def summarize(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Grants and peak seats per module, refusals per reason and module, clock events."""
    modules: Dict[str, Dict[str, int]] = {}
    refusals: Dict[str, int] = {}
    clock: List[Dict[str, Any]] = []
    licenses: List[Dict[str, Any]] = []
    for e in events:
        kind = e.get("kind")
        if kind == "grant":
            m = modules.setdefault(str(e.get("module")), {"grants": 0, "peak_seats": 0})
            m["grants"] += 1
            m["peak_seats"] = max(m["peak_seats"], int(e.get("in_use") or 0))
        elif kind == "refusal":
            key = f"{e.get('code')}:{e.get('module')}"
            refusals[key] = refusals.get(key, 0) + int(e.get("count") or 1)
        elif kind == "clock":
            clock.append(
                {"at": iso(float(e["t"])), "event": e.get("event"), "reason": e.get("reason")}
            )
        elif kind == "license":
            licenses.append({"at": iso(float(e["t"])), "license_id": e.get("license_id")})
    return {
        "modules": dict(sorted(modules.items())),
        "refusals": dict(sorted(refusals.items())),
        "clock_events": clock,
        "licenses_loaded": licenses,
    }


def make_report(
    log: UsageLog,
    *,
    since: float,
    until: float,
    license_text: str,
    license_id: str,
    server_version: str,
) -> bytes:
    """The signed report for [since, until] (the server's clock)."""
    log.flush()
    key = load_or_make_key(log.key_path)
    raw = public_raw(key)
    body = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "period": {"from": iso(since), "to": iso(until)},
        "generated_at": iso(log.wall()),
        "server_version": server_version,
        "license_id": license_id,
        "license_sha256": hashlib.sha256(license_text.encode()).hexdigest(),
        "license": license_text,
        "signer": {"key_id": key_id(raw), "public_key": base64.b64encode(raw).decode()},
        "usage": summarize(log.events(since, until)),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    sig = base64.b64encode(key.sign(text)).decode()
    return text + f"\nsignature: ed25519 {key_id(raw)} {sig}\n".encode()


class ReportInvalid(Exception):
    """The report does not verify: the message says which link of the chain broke."""


@dataclass
class VerifiedReport:
    body: Dict[str, Any]
    license_id: str
    signer: str
    signer_pinned: bool
    warnings: List[str] = field(default_factory=list)


def verify_report(data: bytes, vendor_keys: fileformat.KeyRing) -> VerifiedReport:
    """Byte-exact form, the server's signature, the license against the vendor key, and the
    report's license and signer against that license. Raises ReportInvalid."""
    m = _FILE.match(data)
    if m is None:
        raise ReportInvalid("not a Sealbox usage report (or altered: its form is byte-exact)")
    try:
        body = json.loads(m.group("body").decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ReportInvalid("the report body is not JSON (altered?)") from None
    if not isinstance(body, dict) or body.get("format") != REPORT_FORMAT:
        raise ReportInvalid(f"format is not {REPORT_FORMAT}")
    signer = body.get("signer") or {}
    try:
        raw = base64.b64decode(str(signer.get("public_key")), validate=True)
        pub = Ed25519PublicKey.from_public_bytes(raw)
        pub.verify(base64.b64decode(m.group("sig"), validate=True), m.group("body"))
    except (ValueError, InvalidSignature):
        raise ReportInvalid("the license server's signature does not match the report") from None
    kid = key_id(raw)
    if m.group("kid").decode() != kid or signer.get("key_id") != kid:
        raise ReportInvalid("the signature line names another key than the report's signer")
    text = str(body.get("license") or "").encode()
    try:
        lic = fileformat.load(text, vendor_keys, "the report's license")
    except Exception as exc:  # LicenseError and its kinds: the vendor link broke
        raise ReportInvalid(f"the license in the report does not verify: {exc}") from None
    if lic.license_id != body.get("license_id"):
        raise ReportInvalid("the report names another license than the one it carries")
    if hashlib.sha256(text).hexdigest() != body.get("license_sha256"):
        raise ReportInvalid("the license sha256 in the report does not match its license")
    pin = lic.extra.get(PIN_FIELD)
    warnings = []
    if pin is not None and pin != kid:
        raise ReportInvalid(f"the license pins report key {pin}; the report is signed by {kid}")
    if pin is None:
        warnings.append(
            f"license {lic.license_id} pins no report key: the signer {kid} is this site's "
            "license server key, not vendor-approved (issue the next license with --report-key)"
        )
    return VerifiedReport(body, lic.license_id, kid, pin is not None, warnings)
