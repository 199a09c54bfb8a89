"""Reader for sconf/service.conf (`KEY=value` lines, no spaces around `=`, as the field guide).

Strict on purpose: a template bug (spaces, a missing key) should stop the service with a
message naming the line or key, not make it connect to the wrong place.
"""

from __future__ import annotations

import re
from typing import Dict, NamedTuple, Optional

REQUIRED = (
    "MYSQL_SVC_SERVICE_HOST",
    "MYSQL_SVC_SERVICE_PORT",
    "MYSQL_SVC_DATABASE",
    "MYSQL_SVC_USER",
    "MYSQL_SVC_PASSWORD",
    "LICENSE_SERVER_HOST",
    "LICENSE_SERVER_PORT",
    "HTTP_PORT",
)
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")


class ConfError(Exception):
    """service.conf is unusable; the message names the file and the line or key."""


class ServiceConf(NamedTuple):
    """Typed view of service.conf."""

    mysql_host: str
    mysql_port: int
    mysql_database: str
    mysql_user: str
    mysql_password: str
    license_host: str
    license_port: int
    http_port: int
    http_bind: str
    instance: str
    gpu_id: Optional[str]
    license_interval: float
    min_quality: Optional[float] = None  # 1.1: MIN_QUALITY, the model's match threshold


def parse(text: str, path: str = "service.conf") -> Dict[str, str]:
    """KEY=value pairs; blank lines and # comments are allowed, nothing else."""
    out: Dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.match(key):
            raise ConfError(f"{path}:{n}: expected KEY=value (no spaces around '='): {key!r}")
        if value != value.lstrip():
            raise ConfError(f"{path}:{n}: {key}: no spaces allowed after '='")
        out[key] = value.rstrip("\r")
    return out


def _int(values: Dict[str, str], key: str, path: str) -> int:
    try:
        port = int(values[key])
    except ValueError:
        raise ConfError(f"{path}: {key}={values[key]!r}: expected an integer") from None
    if not 0 < port < 65536:
        raise ConfError(f"{path}: {key}={port}: expected a port 1-65535")
    return port


def load(path: str, env: Optional[Dict[str, str]] = None) -> ServiceConf:
    """Read and validate; LICENSE_CHECK_INTERVAL may come from the env (wins) or the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            values = parse(fh.read(), path)
    except OSError as exc:
        raise ConfError(f"{path}: cannot read ({exc.strerror}); mount service.conf there") from None
    missing = [k for k in REQUIRED if not values.get(k)]
    if missing:
        raise ConfError(f"{path}: missing {', '.join(missing)}")
    env = env or {}
    raw_interval = env.get("LICENSE_CHECK_INTERVAL") or values.get("LICENSE_CHECK_INTERVAL", "10")
    try:
        interval = float(raw_interval)
    except ValueError:
        raise ConfError(f"LICENSE_CHECK_INTERVAL={raw_interval!r}: expected seconds") from None
    raw_q = values.get("MIN_QUALITY")
    try:
        min_quality = float(raw_q) if raw_q else None
    except ValueError:
        raise ConfError(f"{path}: MIN_QUALITY={raw_q!r}: expected a number") from None
    return ServiceConf(
        mysql_host=values["MYSQL_SVC_SERVICE_HOST"],
        mysql_port=_int(values, "MYSQL_SVC_SERVICE_PORT", path),
        mysql_database=values["MYSQL_SVC_DATABASE"],
        mysql_user=values["MYSQL_SVC_USER"],
        mysql_password=values["MYSQL_SVC_PASSWORD"],
        license_host=values["LICENSE_SERVER_HOST"],
        license_port=_int(values, "LICENSE_SERVER_PORT", path),
        http_port=_int(values, "HTTP_PORT", path),
        http_bind=values.get("HTTP_BIND") or "0.0.0.0",
        instance=env.get("INSTANCE") or values.get("INSTANCE") or "0",
        gpu_id=values.get("GPU_ID") or None,
        license_interval=max(0.5, interval),
        min_quality=min_quality,
    )
