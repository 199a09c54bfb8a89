"""License check of the face-server STAND-IN, kept in one function on purpose.

``license_ok()`` holds a lease from the license server through the Sealbox client library
(``sealbox_license_client.py``, staged from installer/license/client.py): the first call asks
for a grant for this module and instance, later calls renew it; each grant's signature, nonce,
module and instance are checked. If the server blips, the service keeps running until its lease
ends plus a short offline grace; a refusal (expired license, other machine, seats used up)
stops it at the next check, so within one lease TTL.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, Tuple

import service_conf
from sealbox_license_client import LicenseClient

MODULE = "face-server"
CONF = os.environ.get("SEALBOX_SERVICE_CONF", "/app/sconf/service.conf")
OFFLINE_GRACE = float(os.environ.get("LICENSE_OFFLINE_GRACE", "30"))

_clients: Dict[Tuple[str, int], LicenseClient] = {}
_lock = threading.Lock()


def _identity() -> Tuple[str, int]:
    """(instance, GPUs used) from service.conf: the seat is per instance."""
    try:
        with open(CONF, encoding="utf-8") as fh:
            values = service_conf.parse(fh.read(), CONF)
    except (OSError, service_conf.ConfError):
        values = {}
    instance = os.environ.get("INSTANCE") or values.get("INSTANCE") or "0"  # env: per replica
    return instance, 1 if values.get("GPU_ID") else 0


def license_ok(host: str, port: int, timeout: float = 3.0) -> Tuple[bool, str]:
    """(licensed?, reason). The reason is shown in /health and logs, so make it actionable."""
    with _lock:
        client = _clients.get((host, port))
        if client is None:
            instance, gpus = _identity()
            client = LicenseClient(
                host,
                port,
                MODULE,
                instance,
                gpus=gpus,
                timeout=timeout,
                offline_grace=OFFLINE_GRACE,
            )
            _clients[(host, port)] = client
        return client.check()
