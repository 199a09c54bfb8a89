"""known_hosts lookups and the host-key decision, kept free of sockets so unit tests cover them.

We read the file ourselves (rather than through ``paramiko.HostKeys``) because the refusal of a
changed key must name the exact line to remove, and paramiko does not keep line numbers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import Optional

RSA_ALGOS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


@dataclass(frozen=True)
class KnownKey:
    """One key line matching a host: where it is and what it says."""

    lineno: int
    keytype: str
    key_b64: str


@dataclass(frozen=True)
class Decision:
    """``ok``, ``unknown`` (not in the file, or only keys of other types) or ``changed``."""

    verdict: str
    line: Optional[KnownKey] = None


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
    """Key lines for ``name`` (``host`` or ``[host]:port``); markers like @revoked are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        return []
    found = []
    for lineno, raw in enumerate(lines, start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#") or fields[0].startswith("@"):
            continue
        if len(fields) < 3:
            continue
        if _host_matches(fields[0], name):
            found.append(KnownKey(lineno, fields[1], fields[2]))
    return found


def same_family(a: str, b: str) -> bool:
    """rsa-sha2-* and ssh-rsa are one key type in known_hosts."""
    return a == b or (a in RSA_ALGOS and b in RSA_ALGOS)


def decide(known: list[KnownKey], keytype: str, key_b64: str) -> Decision:
    """Compare the server's key with the known lines, as OpenSSH does with strict checking."""
    same_type = [k for k in known if same_family(k.keytype, keytype)]
    for k in same_type:
        if k.key_b64 == key_b64:
            return Decision("ok", k)
    if same_type:
        return Decision("changed", same_type[0])
    return Decision("unknown")


def preferred_key_types(known: list[KnownKey], default: tuple[str, ...]) -> tuple[str, ...]:
    """Ask the server for the key types we already know first, so a host with several keys is
    checked against the one we have instead of looking 'unknown'."""
    want: list[str] = []
    for k in known:
        algos = RSA_ALGOS if k.keytype in RSA_ALGOS else (k.keytype,)
        want.extend(a for a in algos if a in default and a not in want)
    return tuple(want) + tuple(a for a in default if a not in want)


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
