"""known_hosts lookups and the host-key decision, kept free of sockets so unit tests cover them.

We read the file ourselves (rather than through ``paramiko.HostKeys``) because the refusal of a
changed key must name the exact line to remove, and paramiko does not keep line numbers -- nor
does it know ``@revoked`` or ``@cert-authority``, which it skips.

The policy, stricter than ``ssh``'s where ``ssh`` would fall back to asking:
- a key listed on a matching ``@revoked`` line is refused, whatever else the file says;
- a host with a known key that offers a different key, *of any type*, has changed: refused,
  also with --accept-new-host-keys (a man in the middle cannot just switch key type);
- a host under a matching ``@cert-authority`` line must show a valid certificate from that CA
  (or a key listed on a plain line); a plain key that is not listed is refused, not "new";
- only a host with no matching line at all is "unknown" (and may be accepted as new).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Optional

from installer.hosts import hostcert

RSA_ALGOS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
REVOKED = "@revoked"
CERT_AUTHORITY = "@cert-authority"


@dataclass(frozen=True)
class KnownKey:
    """One key line matching a host: where it is and what it says."""

    lineno: int
    keytype: str
    key_b64: str
    marker: str = ""  # "", "@revoked" or "@cert-authority"


@dataclass(frozen=True)
class Offered:
    """What the server proved it holds: its plain key, and the certificate it showed, if any."""

    keytype: str  # the plain key's type, e.g. ssh-ed25519
    key_b64: str
    cert: Optional[bytes] = None  # the whole certificate blob


@dataclass(frozen=True)
class Decision:
    """``ok``, ``unknown`` (no matching line), ``changed`` (another key or key type than the
    known one), ``revoked`` or ``untrusted`` (a CA covers the host and vouches for no key)."""

    verdict: str
    line: Optional[KnownKey] = None
    reason: str = ""


def fingerprint(key_bytes: bytes) -> str:
    """OpenSSH style ``SHA256:...`` fingerprint, as users compare it with ``ssh-keygen -l``."""
    digest = hashlib.sha256(key_bytes).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _wildcard(pattern: str, name: str) -> bool:
    """OpenSSH patterns know only ``*`` and ``?`` (``[host]:port`` brackets are literal)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def _host_matches(pattern_field: str, name: str) -> bool:
    if pattern_field.startswith("|1|"):
        try:
            _, _, salt, digest = pattern_field.split("|")
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, TypeError):
            return False
    matched = False
    for pattern in pattern_field.split(","):
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        if _wildcard(pattern, name):
            if negate:
                return False
            matched = True
    return matched


def lookup(path: str, name: str) -> list[KnownKey]:
    """Key lines for ``name`` (``host`` or ``[host]:port``), marker lines included."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        return []
    found = []
    for lineno, raw in enumerate(lines, start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = ""
        if fields[0].startswith("@"):
            marker = fields.pop(0)
            if marker not in (REVOKED, CERT_AUTHORITY):
                continue  # a marker we do not know: ignored, as ssh does
        if len(fields) < 3:
            continue
        if _host_matches(fields[0], name):
            found.append(KnownKey(lineno, fields[1], fields[2], marker))
    return found


def same_family(a: str, b: str) -> bool:
    """rsa-sha2-* and ssh-rsa are one key type in known_hosts."""
    return a == b or (a in RSA_ALGOS and b in RSA_ALGOS)


def decide(known: list[KnownKey], offered: Offered, principal: str, now: float) -> Decision:
    """Judge the server's key (and certificate) by the lines that match the host.

    ``principal`` is the host name a certificate must name (``ssh`` uses the name without the
    port); ``now`` is the time its validity period is checked against.
    """
    plain = [k for k in known if not k.marker]
    authorities = [k for k in known if k.marker == CERT_AUTHORITY]
    revoked = _revoked(known, offered)
    if revoked is not None:
        return Decision("revoked", revoked)
    if offered.cert is not None and authorities:
        try:
            cert = hostcert.parse(offered.cert)
        except hostcert.CertError as exc:
            return Decision("untrusted", authorities[0], str(exc))
        ca_line = next(
            (a for a in authorities if hostcert.b64decode(a.key_b64) == cert.ca_blob),
            authorities[0],
        )
        reason = hostcert.check(
            cert, [a.key_b64 for a in authorities], principal, offered.key_b64, now
        )
        return Decision("untrusted", ca_line, reason) if reason else Decision("ok", ca_line)
    for k in plain:
        if same_family(k.keytype, offered.keytype) and k.key_b64 == offered.key_b64:
            return Decision("ok", k)
    if plain:  # another key, or a key of another type: either way not the one we know
        same_type = [k for k in plain if same_family(k.keytype, offered.keytype)]
        return Decision("changed", (same_type or plain)[0])
    if authorities:
        return Decision(
            "untrusted",
            authorities[0],
            "the host showed a plain key, not a certificate from that CA",
        )
    return Decision("unknown")


def _revoked(known: list[KnownKey], offered: Offered) -> Optional[KnownKey]:
    """The @revoked line naming the offered key, its certificate or the CA that signed it."""
    blobs = {offered.key_b64}
    if offered.cert is not None:
        blobs.add(base64.b64encode(offered.cert).decode())
        try:
            blobs.add(base64.b64encode(hostcert.parse(offered.cert).ca_blob).decode())
        except hostcert.CertError:
            pass
    return next((k for k in known if k.marker == REVOKED and k.key_b64 in blobs), None)


def host_key_algorithms(known: list[KnownKey], supported: tuple[str, ...]) -> tuple[str, ...]:
    """What to ask the server for, best first: certificates when a CA covers the host, then the
    key types known for it, then the rest (a host that lacks the known type then shows another
    key, which ``decide`` calls a change, with its fingerprint in the message).

    The server picks the first of these it has, so a host with a known key always shows that
    one rather than looking "unknown" with another.
    """
    want: list[str] = []
    if any(k.marker == CERT_AUTHORITY for k in known):
        want.extend(a + hostcert.CERT_SUFFIX for a in supported)
    for k in known:
        if k.marker:
            continue
        algos = RSA_ALGOS if k.keytype in RSA_ALGOS else (k.keytype,)
        want.extend(a for a in algos if a in supported and a not in want)
    return tuple(want) + tuple(a for a in supported if a not in want)


def append(path: str, name: str, keytype: str, key_b64: str) -> None:
    """Add a line as ``ssh`` would after the user accepted the key."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    needs_newline = False
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            needs_newline = fh.read(1) != b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(("\n" if needs_newline else "") + f"{name} {keytype} {key_b64}\n")
