"""Redaction for the support bundle: what leaves the site must not carry its secrets.

Three kinds of rule, applied to every file's bytes (text or binary, and inside gzip members):
the site's generated secrets byte for byte (their names come from the state; a value is found
wherever it appears, in any file, whatever surrounds it), the password of a DSN
(``scheme://user:PASSWORD@host``), and ``password=``-style assignments (``password=x``,
``PASSWORD: x``, ``"db_password": "x"``, ``--password x``). The report says, per rule and per
file, how many were removed -- names and counts, never a value.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from typing import Mapping

MIN_SECRET = 6  # shorter values ("root", "1") would redact half the archive and protect nothing
KEYWORDS = rb"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|private[_-]?key|seat[_-]?key|credential)"
_NAME = rb"[A-Za-z0-9_.-]*" + KEYWORDS + rb"[A-Za-z0-9_.-]*"

# "name": "value"  (JSON)
_JSON = re.compile(rb'(?i)("' + _NAME + rb'"\s*:\s*")((?:[^"\\\n]|\\.)+)(")')
# name=value, name: value, NAME="value" (shell, env files, YAML, ini, URL queries)
_ASSIGN = re.compile(
    rb"(?im)((?:^|(?<=[\s;&?,{(]))" + _NAME + rb"""\s*(?:=|:(?!//))\s*["']?)"""
    rb"""([^\s"',;&)}\]]+)"""
)
# --password value, --db-password value (command lines in logs)
_FLAG = re.compile(rb"(?i)((?:^|(?<=\s))--?" + _NAME + rb"\s+)([^\s-][^\s]*)")
# scheme://user:password@host
_DSN = re.compile(rb"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)")
REDACTED = b"[REDACTED]"
_GZIP = b"\x1f\x8b"


@dataclass
class RedactionReport:
    """Counts only: per rule (``secret:NAME``, ``dsn``, ``assignment``) and per file."""

    rules: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    secrets_known: list[str] = field(default_factory=list)

    def add(self, path: str, rule: str, count: int) -> None:
        if count:
            self.rules[rule] = self.rules.get(rule, 0) + count
            self.files[path] = self.files.get(path, 0) + count

    @property
    def total(self) -> int:
        return sum(self.rules.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "about": "what the support bundle's redaction removed: names and counts, no values",
            "secrets_known": sorted(self.secrets_known),
            "removed_total": self.total,
            "by_rule": dict(sorted(self.rules.items())),
            "by_file": dict(sorted(self.files.items())),
        }


class Redactor:
    """``secrets``: name -> value of every generated secret of the site (all hosts)."""

    def __init__(self, secrets: Mapping[str, object]) -> None:
        values: dict[bytes, str] = {}
        for name, value in secrets.items():
            raw = str(value).encode()
            if len(raw) >= MIN_SECRET:
                values.setdefault(raw, name)
        # longest first: a secret that contains another is removed whole
        self.values = sorted(values.items(), key=lambda kv: -len(kv[0]))
        self.report = RedactionReport(secrets_known=sorted(set(values.values())))

    def redact(self, path: str, data: bytes, *, patterns: bool = True) -> bytes:
        """``data`` with every rule applied (gzip data: inside, then compressed again).
        ``patterns=False``: secrets byte for byte only (a signed file keeps its form)."""
        if data[:2] == _GZIP:
            inner = _gunzip(data)
            if inner is not None:
                cleaned = self.redact(path + "#gunzip", inner, patterns=patterns)
                data = gzip.compress(cleaned, mtime=0) if cleaned != inner else data
                # the compressed bytes themselves may still hold a secret by chance: below
        for raw, name in self.values:
            n = data.count(raw)
            if n:
                data = data.replace(raw, b"[REDACTED:" + name.encode() + b"]")
                self.report.add(path, f"secret:{name}", n)
        if patterns:
            data, n = _sub_values(_DSN, data)
            self.report.add(path, "dsn", n)
            for rx in (_JSON, _ASSIGN, _FLAG):
                data, n = _sub_values(rx, data)
                self.report.add(path, "assignment", n)
        return data


def _sub_values(rx: re.Pattern, data: bytes) -> tuple[bytes, int]:
    """Replace group 2 of each match; a value already redacted (a secret rule got there
    first) is left as it is and not counted twice."""
    count = 0

    def one(m: re.Match) -> bytes:
        nonlocal count
        if m.group(2).startswith(b"[REDACTED"):
            return m.group(0)
        count += 1
        return m.group(1) + REDACTED + m.group(0)[m.end(2) - m.start(0) :]

    return rx.sub(one, data), count


def _gunzip(data: bytes) -> bytes | None:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
            return fh.read(256 << 20)
    except (OSError, EOFError):
        return None
