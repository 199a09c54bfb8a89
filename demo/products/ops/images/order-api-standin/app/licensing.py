"""The order-api STAND-IN's license check: one lease from the license server through the
Sealbox client library (installer.license.shipped.client, staged with the in-image license
package), which also checks that the license names the machine it runs on (the /host view),
as the face-server stand-in does. Each grant must chain to the vendor key pinned in this image
(/app/pinned) and is MACed with this instance's secret, derived from the installation's seat
key in order-api.conf (0600, never logged)."""

from __future__ import annotations

import os
import threading
from typing import Optional, Tuple

from conf import Conf

from installer.license.shipped.client import PINNED_DIR, LicenseClient, load_vendor_keys

MODULE = "order-api"
OFFLINE_GRACE = float(os.environ.get("LICENSE_OFFLINE_GRACE", "30"))

_client: Optional[LicenseClient] = None
_lock = threading.Lock()


def license_ok(conf: Conf) -> Tuple[bool, str]:
    """(licensed?, reason): the first call asks for a grant, later calls renew it."""
    global _client
    with _lock:
        if _client is None:
            _client = LicenseClient(
                conf.get("LICENSE_SERVER_HOST"),
                conf.port("LICENSE_SERVER_PORT"),
                MODULE,
                conf.instance,
                seat_key=conf.get("LICENSE_SEAT_KEY").encode(),
                vendor_keys=load_vendor_keys(PINNED_DIR),
                timeout=3.0,
                offline_grace=OFFLINE_GRACE,
            )
        return _client.check()


def release() -> None:
    """Give the seat back on a clean stop, so a restarted instance gets it at once."""
    with _lock:
        if _client is not None:
            _client.release()
            _client.close()
