"""Reader for conf/order-api.conf (`KEY=value` lines, no spaces around `=`).

Strict on purpose: a template bug (a missing key, a bad port) stops the service with a message
naming the file and key, instead of connecting to the wrong place.
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple

REQUIRED = (
    "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DATABASE", "POSTGRES_USER", "POSTGRES_PASSWORD",
    "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "ETCD_HOST", "ETCD_PORT",
    "LICENSE_SERVER_HOST", "LICENSE_SERVER_PORT", "LICENSE_SEAT_KEY", "HTTP_PORT",
)  # fmt: skip
DEFAULT = "/app/conf/order-api.conf"


class ConfError(Exception):
    """order-api.conf is unusable; the message names the file and the line or key."""


class Conf(NamedTuple):
    values: Dict[str, str]
    path: str

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def port(self, key: str) -> int:
        try:
            port = int(self.values[key])
        except ValueError:
            raise ConfError(f"{self.path}: {key}={self.values[key]!r}: expected a port") from None
        if not 0 < port < 65536:
            raise ConfError(f"{self.path}: {key}={port}: expected a port 1-65535")
        return port

    @property
    def instance(self) -> str:
        """A cluster gives each replica its own INSTANCE (the pod name) in the environment."""
        return os.environ.get("INSTANCE") or self.values.get("INSTANCE") or "0"


def load(path: str = DEFAULT) -> Conf:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfError(
            f"{path}: cannot read ({exc.strerror}); mount order-api.conf there"
        ) from None
    values: Dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isupper() or value != value.lstrip():
            raise ConfError(f"{path}:{n}: expected KEY=value (no spaces around '=')")
        values[key] = value.rstrip("\r")
    missing = [k for k in REQUIRED if not values.get(k)]
    if missing:
        raise ConfError(f"{path}: missing {', '.join(missing)}")
    conf = Conf(values, path)
    for key in REQUIRED:
        if key.endswith("_PORT"):
            conf.port(key)
    return conf
