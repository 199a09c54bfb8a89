"""Sealbox order-api STAND-IN: a stand-in for a vendor's licensed order service.

No business logic beyond storing orders: it exists so the installer deploys, wires and
health-checks a licensed service that really uses three other modules. It reads
conf/order-api.conf, listens at once, and refuses to serve (503 with the reason) until the
license server grants it a seat AND PostgreSQL, Redis and etcd answer; it re-checks all four
every CHECK_INTERVAL seconds. An order is a row in PostgreSQL, a counter increment and a cached
copy in Redis; each instance registers its address in etcd.

    GET  /health          200 when licensed and every backend answers, else 503 {"reason"}
    POST /v1/orders       {"item": str, "qty": int} -> 201 {"id", "count"}
    GET  /v1/orders/<id>  the row from PostgreSQL
    GET  /v1/stats        {"orders" (PostgreSQL), "counted" (Redis), "registered" (etcd)}
    GET  /metrics         Prometheus text format
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional, Tuple

import conf as confmod
import licensing
from backends import Backends

NAME = "Sealbox order-api STAND-IN"
VERSION = "1.0"
MAX_BODY = 65536
_ORDER = re.compile(r"^/v1/orders/([0-9]{1,18})$")


def log(msg: str) -> None:
    sys.stderr.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


class Readiness:
    """What /health reports: one reason per dependency, written by the checker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.state: Dict[str, str] = {
            k: "not checked yet" for k in ("license", "postgres", "redis", "etcd")
        }

    def set(self, what: str, reason: str) -> None:
        with self._lock:
            if self.state.get(what) != reason:
                log(f"{what}: {reason}")
            self.state[what] = reason

    def snapshot(self) -> Tuple[bool, Optional[str], Dict[str, str]]:
        with self._lock:
            state = dict(self.state)
        for what, reason in state.items():
            if reason != "ok":
                return False, f"{what}: {reason}", state
        return True, None, state


class Checker(threading.Thread):
    """License first (nothing else is touched unlicensed), then each backend."""

    def __init__(self, conf: confmod.Conf, backends: Backends, ready: Readiness) -> None:
        super().__init__(name="checker", daemon=True)
        self.conf, self.backends, self.ready = conf, backends, ready
        self.stop = threading.Event()
        self.address = f"{socket.gethostname()}:{conf.port('HTTP_PORT')}"

    def _try(self, what: str, fn: Any, *args: Any) -> bool:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - any client error means "not ready"
            self.ready.set(what, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
            return False
        self.ready.set(what, "ok")
        return True

    def check_once(self) -> bool:
        ok, reason = licensing.license_ok(self.conf)
        self.ready.set("license", "ok" if ok else f"REFUSED: {reason}")
        if not ok:
            return False
        results = [
            self._try("postgres", self.backends.ensure_schema),
            self._try("redis", self.backends.redis_ping),
            self._try("etcd", self.backends.register, self.address),
        ]
        return all(results)

    def run(self) -> None:
        interval = max(1.0, float(self.conf.get("CHECK_INTERVAL", "10") or 10))
        backoff = 1.0
        while not self.stop.is_set():
            if self.check_once():
                backoff, delay = 1.0, interval
            else:
                delay, backoff = min(backoff, interval), min(backoff * 2, 30.0)
            self.stop.wait(delay)


class ApiError(Exception):
    def __init__(self, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def parse_order(body: bytes) -> Tuple[str, int]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"bad JSON: {exc}") from None
    item = data.get("item") if isinstance(data, dict) else None
    qty = data.get("qty") if isinstance(data, dict) else None
    if not isinstance(item, str) or not item.strip() or len(item) > 200:
        raise ApiError(400, "item: expected a non-empty string (at most 200 characters)")
    if isinstance(qty, bool) or not isinstance(qty, int) or not 0 < qty < 1_000_000:
        raise ApiError(400, "qty: expected an integer 1..999999")
    return item, qty


def make_handler(conf: confmod.Conf, backends: Backends, ready: Readiness) -> type:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"SealboxOrderApiStandIn/{VERSION}"
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, payload: Any, ctype: str = "application/json") -> None:
            data = (json.dumps(payload) + "\n").encode() if ctype == "application/json" else str(
                payload).encode()  # fmt: skip
            self.send_response(code)
            if code >= 400:
                self.close_connection = True
                self.send_header("Connection", "close")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _require_ready(self) -> None:
            ok, reason, state = ready.snapshot()
            if not ok:
                raise ApiError(503, f"not serving: {reason}", **state)

        def _backend(self, what: str, fn: Any, *args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001 - 503 now; /health shows it until re-checked
                ready.set(what, f"{type(exc).__name__}: {str(exc).strip()[:200]}")
                raise ApiError(503, f"not serving: {what}: {exc}") from None

        def _dispatch(self) -> None:
            path, method = self.path.split("?", 1)[0], self.command
            if path == "/health" and method == "GET":
                ok, reason, state = ready.snapshot()
                body: Dict[str, Any] = {"status": "ok" if ok else "unavailable", **state,
                                        "instance": conf.instance, "stand_in": True}  # fmt: skip
                if reason:
                    body["reason"] = reason
                self._send(200 if ok else 503, body)
            elif path == "/" and method == "GET":
                self._send(200, f"{NAME} {VERSION}: stand-in for a vendor's licensed order "
                                f"service; instance={conf.instance}\n", "text/plain")  # fmt: skip
            elif path == "/v1/orders" and method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    raise ApiError(413, f"body larger than {MAX_BODY} bytes")
                raw = self.rfile.read(length)
                self._require_ready()
                item, qty = parse_order(raw)
                oid = self._backend("postgres", backends.add_order, item, qty)
                order = self._backend("postgres", backends.get_order, oid)
                count = self._backend("redis", backends.count_and_cache, order)
                self._send(201, {"id": oid, "count": count})
            elif (m := _ORDER.match(path)) and method == "GET":
                self._require_ready()
                order = self._backend("postgres", backends.get_order, int(m[1]))
                if order is None:
                    raise ApiError(404, "no such order")
                self._send(200, order)
            elif path == "/v1/stats" and method == "GET":
                self._require_ready()
                self._send(200, {
                    "orders": self._backend("postgres", backends.count_orders),
                    "counted": self._backend("redis", backends.redis_count),
                    "registered": self._backend("etcd", backends.registered),
                })  # fmt: skip
            elif path == "/metrics" and method == "GET":
                ok, _, _ = ready.snapshot()
                lines = [
                    "# HELP sealbox_order_api_ready 1 when licensed and every backend answers",
                    "# TYPE sealbox_order_api_ready gauge",
                    f"sealbox_order_api_ready {1 if ok else 0}",
                ]
                if ok:
                    lines += [
                        "# TYPE sealbox_order_api_orders_counted gauge",
                        f"sealbox_order_api_orders_counted {backends.redis_count()}",
                    ]
                self._send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")
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

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, fmt: str, *args: Any) -> None:
            log(f"http {self.address_string()} {fmt % args}")

    return Handler


def main() -> int:
    try:
        conf = confmod.load()
    except confmod.ConfError as exc:
        log(f"config error: {exc}")
        return 2
    ready = Readiness()
    backends = Backends(conf)
    bind = conf.get("HTTP_BIND") or "0.0.0.0"
    httpd = ThreadingHTTPServer((bind, conf.port("HTTP_PORT")), make_handler(conf, backends, ready))
    httpd.daemon_threads = True
    checker = Checker(conf, backends, ready)

    def stop(_sig: int, _frm: object) -> None:
        checker.stop.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"{NAME} {VERSION} instance={conf.instance} on {bind}:{conf.port('HTTP_PORT')}; "
        f"license {conf.get('LICENSE_SERVER_HOST')}:{conf.get('LICENSE_SERVER_PORT')}; "
        f"postgres {conf.get('POSTGRES_HOST')}:{conf.get('POSTGRES_PORT')}; "
        f"redis {conf.get('REDIS_HOST')}:{conf.get('REDIS_PORT')}; "
        f"etcd {conf.get('ETCD_HOST')}:{conf.get('ETCD_PORT')}")  # fmt: skip
    checker.start()
    httpd.serve_forever()
    httpd.server_close()
    checker.join(5)
    licensing.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
