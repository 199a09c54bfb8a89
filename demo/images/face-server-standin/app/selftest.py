"""In-container test of the face-server STAND-IN (the field guide's "test script inside the
container"): add, list, get and delete one record through the API on 127.0.0.1:HTTP_PORT.

    docker exec <container> python3 /app/selftest.py     # exit 0 = pass
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any, Optional, Tuple

import service_conf


def call(base: str, method: str, path: str, body: Any = None) -> Tuple[int, Any]:
    """(status, decoded JSON or None) without raising on HTTP errors."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, raw.decode(errors="replace")


def main(argv: Optional[list] = None) -> int:
    ap = argparse.ArgumentParser(description="face-server stand-in self test")
    ap.add_argument("--conf", default=os.environ.get("SERVICE_CONF", "/app/sconf/service.conf"))
    ap.add_argument("--port", type=int, help="default: HTTP_PORT from service.conf")
    args = ap.parse_args(argv)
    port = args.port or service_conf.load(args.conf, dict(os.environ)).http_port
    base = f"http://127.0.0.1:{port}"
    steps = []

    def check(label: str, ok: bool, detail: Any) -> bool:
        steps.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {label}: {detail}")
        return ok

    code, health = call(base, "GET", "/health")
    if not check("health", code == 200, health):
        return 1
    feature = [0.125, -1.5, 3.0, 0.0]
    code, added = call(base, "POST", "/v1/faces", {"name": "selftest", "feature": feature})
    if not check("add", code == 201 and isinstance(added, dict) and "id" in added, added):
        return 1
    fid = added["id"]
    code, listed = call(base, "GET", "/v1/faces")
    check("list", code == 200 and any(f.get("id") == fid for f in listed or []), f"{code}")
    code, got = call(base, "GET", f"/v1/faces/{fid}")
    check("get", code == 200 and got.get("feature") == feature, got)
    code, _ = call(base, "DELETE", f"/v1/faces/{fid}")
    check("delete", code == 204, code)
    code, _ = call(base, "GET", f"/v1/faces/{fid}")
    check("gone", code == 404, code)
    ok = all(steps)
    print("selftest:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
