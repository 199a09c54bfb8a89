"""License check of the face-server STAND-IN, kept in one function on purpose.

``license_ok()`` holds a lease from the license server through the Sealbox client library
(``installer.license.shipped.client``, staged with the in-image license package): the first call
asks for a grant for this module and instance, later calls renew it. Each grant must chain to the
vendor key pinned in this image (/app/pinned): the license it names is verified here (signature,
dates, module, seat count, and that it names THIS machine: the client reads the host through
the read-only view under /host with the license server's own code, staged into /app), and the
grant is MACed with this instance's secret, derived from the
installation's seat key in service.conf (LICENSE_SEAT_KEY, 0600, never logged). If the server
blips, the service keeps running until its lease ends plus a short offline grace; a refusal
(expired license, other machine, seats used up) stops it at the next check.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Dict, Optional, Tuple

import service_conf

from installer.license.shipped.client import (
    PINNED_DIR,
    HostMachine,
    LicenseClient,
    load_vendor_keys,
)

MODULE = "face-server"
CONF = os.environ.get("SEALBOX_SERVICE_CONF", "/app/sconf/service.conf")
OFFLINE_GRACE = float(os.environ.get("LICENSE_OFFLINE_GRACE", "30"))
PINNED = PINNED_DIR  # baked into the image; no option or variable points elsewhere
WALL = time.time
MACHINE = HostMachine()  # the host under /host, judged by the staged license package

_clients: Dict[Tuple[str, int], LicenseClient] = {}
_lock = threading.Lock()


def _identity() -> Tuple[str, int, bytes]:
    """(instance, GPUs used, seat key) from service.conf; INSTANCE from the environment wins
    (a cluster gives each replica its own)."""
    try:
        with open(CONF, encoding="utf-8") as fh:
            values = service_conf.parse(fh.read(), CONF)
    except (OSError, service_conf.ConfError):
        values = {}
    instance = os.environ.get("INSTANCE") or values.get("INSTANCE") or "0"
    seat_key = (values.get("LICENSE_SEAT_KEY") or "").encode()
    return instance, 1 if values.get("GPU_ID") else 0, seat_key


def license_ok(host: str, port: int, timeout: float = 3.0) -> Tuple[bool, str]:
    """(licensed?, reason). The reason is shown in /health and logs, so make it actionable."""
    with _lock:
        client = _clients.get((host, port))
        if client is None:
            instance, gpus, seat_key = _identity()
            client = LicenseClient(
                host,
                port,
                MODULE,
                instance,
                seat_key=seat_key,
                vendor_keys=load_vendor_keys(PINNED),
                wall=WALL,
                gpus=gpus,
                timeout=timeout,
                offline_grace=OFFLINE_GRACE,
                machine_check=MACHINE,
            )
            _clients[(host, port)] = client
        return client.check()


def release_all() -> Optional[str]:
    """Give the seats back on a clean stop, so a restarted instance gets its seat at once."""
    with _lock:
        for client in _clients.values():
            client.release()
            client.close()
    return None
