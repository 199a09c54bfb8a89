"""Sealbox face-server STAND-IN: a stand-in for the vendor's face recognition model image.

No model and no GPU work: it exists so the installer deploys, configures and health-checks
something that behaves like the real service. It reads sconf/service.conf, listens at once,
but refuses to serve (503 with the reason) until the license server answers and MySQL is
reachable; it re-checks the license every LICENSE_CHECK_INTERVAL seconds (default 10) and
stops serving when that check fails. Face records live in MySQL (table `faces`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

import license_client
import service_conf
from store import FaceStore

VERSION = os.environ.get("FACE_SERVER_VERSION", "1.0")  # 1.1: the demo's v2 image
NAME = "Sealbox face-server STAND-IN"
DEFAULT_CONF = "/app/sconf/service.conf"
MAX_BODY = 1 << 20
MAX_DIM = 4096
_FACE_ID = re.compile(r"^/v1/faces/([^/]+)$")


def log(msg: str) -> None:
    """One line per event on stderr: `docker logs` is the service log."""
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


class Readiness:
    """What /health reports; written by the checker thread, read by request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.licensed = False
        self.license_reason = "license not checked yet"
        self.db_ok = False
        self.db_reason = "not connected yet (waiting for the license)"

    def set_license(self, ok: bool, reason: str) -> None:
        with self._lock:
            if ok != self.licensed:
                log(f"license: {'granted' if ok else 'REFUSED: ' + reason}")
            self.licensed, self.license_reason = ok, reason

    def set_db(self, ok: bool, reason: str) -> None:
        with self._lock:
            if ok != self.db_ok or (not ok and reason != self.db_reason):
                log(f"mysql: {'ok' if ok else reason}")
            self.db_ok, self.db_reason = ok, reason

    def snapshot(self) -> Tuple[bool, Optional[str], Dict[str, Any]]:
        """(ready, reason when not, fields for /health)."""
        with self._lock:
            fields = {
                "licensed": self.licensed,
                "db": "ok" if self.db_ok else self.db_reason,
            }
            if not self.licensed:
                return False, self.license_reason, fields
            if not self.db_ok:
                return False, f"mysql: {self.db_reason}", fields
            return True, None, fields


class Checker(threading.Thread):
    """License first, then MySQL (retry with backoff); re-check the license periodically."""

    def __init__(self, conf: service_conf.ServiceConf, store: FaceStore, state: Readiness):
        super().__init__(name="checker", daemon=True)
        self.conf, self.store, self.state = conf, store, state
        self.stop = threading.Event()

    def check_once(self) -> bool:
        ok, reason = license_client.license_ok(self.conf.license_host, self.conf.license_port)
        self.state.set_license(ok, reason)
        if not ok:
            return False
        try:
            self.store.ensure_schema()
        except Exception as exc:  # noqa: BLE001 - any driver error means "not ready"
            c = self.conf
            self.state.set_db(False, f"{c.mysql_host}:{c.mysql_port}: {exc}")
            return False
        if self.conf.min_quality is not None and not 0.0 <= self.conf.min_quality <= 1.0:
            # 1.1's model threshold: checked when the model loads, after the schema step
            log(f"config error: MIN_QUALITY={self.conf.min_quality}: expected 0 to 1")
            os._exit(2)
        self.state.set_db(True, "ok")
        return True

    def run(self) -> None:
        backoff = 1.0
        interval = self.conf.license_interval
        while not self.stop.is_set():
            if self.check_once():
                backoff, delay = 1.0, interval
            else:
                delay = min(backoff, interval)
                backoff = min(backoff * 2, 30.0)
            self.stop.wait(delay)


class ApiError(Exception):
    """An HTTP error answer with a JSON body."""

    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def validate_face(body: bytes) -> Tuple[str, List[float]]:
    """400 with a message a client can act on for anything but {"name": str, "feature": [..]}."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"bad JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, 'expected a JSON object {"name": str, "feature": [floats]}')
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ApiError(400, "name: expected a non-empty string of at most 255 characters")
    feature = data.get("feature")
    if not isinstance(feature, list) or not 0 < len(feature) <= MAX_DIM:
        raise ApiError(400, f"feature: expected a list of 1..{MAX_DIM} numbers")
    for i, x in enumerate(feature):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ApiError(400, f"feature[{i}]: expected a finite number, got {x!r}")
    return name, [float(x) for x in feature]


def make_handler(
    conf: service_conf.ServiceConf, store: FaceStore, state: Readiness
) -> type[BaseHTTPRequestHandler]:
    """Bind the handler to this process's config, store and readiness."""

    class Handler(BaseHTTPRequestHandler):
        server_version = f"SealboxFaceServerStandIn/{VERSION}"
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, payload: Any, ctype: str = "application/json") -> None:
            if code == 204:
                data = b""
            elif ctype == "application/json":
                data = (json.dumps(payload) + "\n").encode()
            else:
                data = str(payload).encode()
            self.send_response(code)
            if code >= 400:
                # The request body may be unread (e.g. 503 before reading a POST): never reuse
                # the connection after an error.
                self.close_connection = True
                self.send_header("Connection", "close")
            if code != 204:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _health(self) -> None:
            ready, reason, fields = state.snapshot()
            body = {
                "status": "ok" if ready else "unavailable",
                **fields,
                "instance": conf.instance,
                "gpu": conf.gpu_id,
                "stand_in": True,
            }
            if reason:
                body["reason"] = reason
            self._send(200 if ready else 503, body)

        def _require_ready(self) -> None:
            ready, reason, fields = state.snapshot()
            if not ready:
                raise ApiError(503, f"not serving: {reason}", **fields)

        def _face_id(self, raw: str) -> int:
            if not raw.isdigit():
                raise ApiError(400, f"face id must be a positive integer, got {raw!r}")
            return int(raw)

        def _body(self) -> bytes:
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                raise ApiError(411, "Content-Length required") from None
            if length > MAX_BODY:
                raise ApiError(413, f"body larger than {MAX_BODY} bytes")
            return self.rfile.read(length)

        def _db(self, fn: Any, *args: Any) -> Any:
            """A DB failure during a request: 503 now, and /health shows it until re-checked."""
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001
                state.set_db(False, f"{conf.mysql_host}:{conf.mysql_port}: {exc}")
                raise ApiError(503, f"not serving: mysql: {exc}") from None

        def _dispatch(self) -> None:
            path = self.path.split("?", 1)[0]
            method = self.command
            if path == "/" and method == "GET":
                ready, reason, _ = state.snapshot()
                status = "serving" if ready else f"NOT serving: {reason}"
                self._send(
                    200,
                    f"{NAME} {VERSION}: stand-in for the vendor's face recognition model image"
                    f" (no model, no GPU work); instance={conf.instance}"
                    f" gpu={conf.gpu_id or '-'}; {status}\n",
                    "text/plain; charset=utf-8",
                )
            elif path == "/health" and method == "GET":
                self._health()
            elif path == "/v1/faces":
                if method == "GET":
                    self._require_ready()
                    self._send(200, self._db(store.list))
                elif method == "POST":
                    body = self._body()
                    self._require_ready()
                    name, feature = validate_face(body)
                    self._send(201, {"id": self._db(store.add, name, feature)})
                else:
                    raise ApiError(405, f"{method} not allowed on /v1/faces (GET, POST)")
            elif _FACE_ID.match(path):
                raw = _FACE_ID.match(path).group(1)  # type: ignore[union-attr]
                if method not in ("GET", "DELETE"):
                    raise ApiError(405, f"{method} not allowed on {path} (GET, DELETE)")
                self._require_ready()
                face_id = self._face_id(raw)
                if method == "GET":
                    face = self._db(store.get, face_id)
                    if face is None:
                        raise ApiError(404, f"face {face_id} not found")
                    self._send(200, face)
                else:
                    if not self._db(store.delete, face_id):
                        raise ApiError(404, f"face {face_id} not found")
                    self._send(204, None)
            else:
                raise ApiError(404, f"no such endpoint: {method} {path}")

        def _handle(self) -> None:
            try:
                self._dispatch()
            except ApiError as exc:
                self._send(exc.code, {"error": exc.message, **exc.extra})
            except Exception as exc:  # noqa: BLE001 - never drop the connection silently
                log(f"internal error on {self.command} {self.path}: {exc!r}")
                self._send(500, {"error": f"internal error: {exc}"})

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

        def log_message(self, fmt: str, *args: Any) -> None:
            log(f"http {self.address_string()} {fmt % args}")

    return Handler


def main(argv: Optional[List[str]] = None) -> int:
    """Listen at once (the port is not the readiness signal: /health is)."""
    ap = argparse.ArgumentParser(description=NAME)
    ap.add_argument("--conf", default=os.environ.get("SERVICE_CONF", DEFAULT_CONF))
    args = ap.parse_args(argv)
    try:
        conf = service_conf.load(args.conf, dict(os.environ))
    except service_conf.ConfError as exc:
        log(f"config error: {exc}")
        return 2
    state = Readiness()
    store = FaceStore(conf)
    httpd = ThreadingHTTPServer((conf.http_bind, conf.http_port), make_handler(conf, store, state))
    httpd.daemon_threads = True
    checker = Checker(conf, store, state)

    def stop(_sig: int, _frm: object) -> None:
        checker.stop.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(
        f"{NAME} {VERSION} instance={conf.instance} gpu={conf.gpu_id or '-'} listening on "
        f"{conf.http_bind}:{conf.http_port}; license server "
        f"{conf.license_host}:{conf.license_port} (re-check every {conf.license_interval:g}s);"
        f" mysql {conf.mysql_host}:{conf.mysql_port}/{conf.mysql_database}"
    )
    checker.start()
    httpd.serve_forever()
    httpd.server_close()
    checker.join(5)
    license_client.release_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
