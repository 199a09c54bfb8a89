"""PLACEHOLDER license server: answers GET / with a banner and 200, nothing else.

It exists so the engine can deploy, health-check and depend on a license-server module before
the License issue delivers the real one (license verification, grants). It checks no license.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional

VERSION = "0.1"
BANNER = f"Sealbox license server (PLACEHOLDER {VERSION}): banner only, no license checks\n"


class Handler(BaseHTTPRequestHandler):
    """GET / -> banner; GET /health -> JSON; anything else 404."""

    server_version = f"SealboxLicensePlaceholder/{VERSION}"

    def _send(self, code: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, BANNER)
        elif path == "/health":
            body = {"status": "ok", "placeholder": True, "version": VERSION}
            self._send(200, json.dumps(body) + "\n", "application/json")
        else:
            self._send(404, "not found\n")

    do_HEAD = do_GET

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write(f"license-placeholder: {self.address_string()} {fmt % args}\n")


def main(argv: Optional[List[str]] = None) -> int:
    """Serve until SIGTERM (docker stop) so the container stops at once, not after 10 s."""
    ap = argparse.ArgumentParser(description="Sealbox license server PLACEHOLDER")
    ap.add_argument("--port", type=int, default=8887)
    ap.add_argument("--bind", default="0.0.0.0")
    args = ap.parse_args(argv)
    httpd = ThreadingHTTPServer((args.bind, args.port), Handler)
    httpd.daemon_threads = True

    def stop(_sig: int, _frm: object) -> None:
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stderr.write(f"license-placeholder: listening on {args.bind}:{args.port}\n")
    httpd.serve_forever()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
