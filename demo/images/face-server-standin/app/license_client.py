"""License check of the face-server STAND-IN, kept in one function on purpose.

Today the license server is a placeholder that only serves a banner, so "licensed" means
`GET http://LICENSE_SERVER_HOST:LICENSE_SERVER_PORT/` answers 200. The License issue swaps the
body of license_ok() for a real grant client; the server only relies on its signature.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Tuple


def license_ok(host: str, port: int, timeout: float = 3.0) -> Tuple[bool, str]:
    """(licensed?, reason). The reason is shown in /health and logs, so make it actionable."""
    url = f"http://{host}:{port}/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            if resp.status == 200:
                return True, "ok"
            return False, f"license server {host}:{port} answered HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"license server {host}:{port} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"authenticate failed: couldn't connect to license server {url}: {reason}"
