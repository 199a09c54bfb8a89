"""The support bundle file: one tar.gz for the site, a folder per host, redacted as it is written.

Every file of every host goes through one ``Redactor`` that knows the generated secrets of all
hosts (a password generated on the database host shows up in another host's logs). Before the
file is handed back, its own bytes -- compressed, as they will travel -- are searched for every
secret once more; a hit (even by chance in the compressed stream) deletes it and fails.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass
from typing import Any, Sequence

from installer import __version__
from installer.errors import SealboxError
from installer.i18n import _
from installer.support.collect import USAGE_FILE, HostBundle
from installer.support.redact import Redactor

REPORT = "redaction-report.json"


@dataclass
class Written:
    path: str
    size: int
    files: int
    redacted: int
    report: dict[str, Any]


def folder_name(host: str) -> str:
    """A host's folder: its inventory name, made safe for a path (``@local`` stays readable)."""
    return re.sub(r"[^A-Za-z0-9@._-]+", "_", host).strip(".") or "host"


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))


def write_bundle(hosts: Sequence[HostBundle], out: str, *, redact: bool = True) -> Written:
    """Write ``out`` (0600, atomically); ``redact=False`` only for the vendor's own tests."""
    secrets: dict[str, Any] = {}
    for hb in hosts:
        for name, value in hb.secrets.items():
            secrets.setdefault(name, value)
            if secrets[name] != value:  # the same name, another value on another host
                secrets[f"{name}@{hb.host}"] = value
    redactor = Redactor(secrets if redact else {})
    now = time.time()
    top = "sealbox-support-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    buf = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for hb in hosts:
            base = f"{top}/{folder_name(hb.host)}"
            for rel, data in sorted(hb.files.items()):
                path = f"{base}/{rel}"
                if redact:
                    data = redactor.redact(path, data, patterns=not rel.endswith(USAGE_FILE))
                _add(tar, path, data, now)
                count += 1
        site = {
            "sealbox_version": __version__,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "hosts": {
                folder_name(hb.host): {
                    "host": hb.host,
                    "files": len(hb.files),
                    "missing": hb.errors,
                }
                for hb in hosts
            },
            "redacted": redact,
        }
        report = redactor.report.to_dict()
        _add(tar, f"{top}/site.json", json.dumps(site, indent=1).encode() + b"\n", now)
        _add(tar, f"{top}/{REPORT}", json.dumps(report, indent=1).encode() + b"\n", now)
    raw = buf.getvalue()
    if redact:
        leaked = [name for value, name in redactor.values if value in raw]
        if leaked:
            raise SealboxError(
                _(
                    "support bundle not written: the compressed archive holds the value of {names} by chance; run the command again"
                ).format(names=", ".join(sorted(leaked)))
            )
    tmp = f"{out}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.replace(tmp, out)
    return Written(out, len(raw), count + 2, redactor.report.total, report)
