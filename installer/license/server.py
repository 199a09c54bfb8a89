"""The license server: a small HTTP/1.1 server on asyncio (stdlib only, one event loop).

Why this stack: the image has Debian's python3 3.11, cryptography and PyYAML and nothing else,
so no uvloop/aiohttp. ``http.server`` spends most of its time per request in thread hand-off
and header parsing (and closes connections unless told otherwise); a bare ``asyncio.Protocol``
with keep-alive parses only what a grant needs and answers from one thread, so the lease table
needs no locks and a grant costs one JSON parse + one Ed25519 signature. See
``benchmarks/license_grants.py`` for the figures.

Routes: ``GET /`` banner (the field guide's ``curl <ip>:8887`` check), ``GET /health``,
``GET /v1/status``, ``POST /v1/grant``, ``POST /v1/renew``, ``POST /v1/release``.
Run: ``python3 -m installer.license.server --port 8887`` (inside the license-server image).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from installer.license.fileformat import KeyRing
from installer.license.keys import IMAGE_PINNED_DIR, keyring_from_dir
from installer.license.service import VERSION, LicenseService, Reply
from installer.license.store import CONTAINER_LICENSE_DIR, CONTAINER_STATE_DIR

MAX_HEAD = 16384
MAX_BODY = 65536
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def _response(status: int, ctype: str, body: bytes, keep: bool, head_only: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"Server: sealbox-license/{VERSION}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
    ).encode("latin-1")
    return head if head_only else head + body


class Router:
    """Maps a request to the service; returns (status, content type, body)."""

    def __init__(self, service: LicenseService) -> None:
        self.service = service
        self.posts: Dict[str, Callable[[Any], Reply]] = {
            "/v1/grant": service.grant,
            "/v1/renew": service.renew,
            "/v1/release": service.release,
        }

    def handle(self, method: str, target: str, body: bytes) -> Tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method in ("GET", "HEAD"):
            if path == "/":
                return 200, TEXT, self.service.banner().encode()
            if path == "/health":
                st = {"ok": True, "serving": self.service.verdict.ok, "version": VERSION}
                return 200, JSON, json.dumps(st).encode()
            if path == "/v1/status":
                return 200, JSON, json.dumps(self.service.status(), indent=1).encode()
        elif method == "POST" and path in self.posts:
            try:
                doc = json.loads(body.decode("utf-8")) if body else None
            except (UnicodeDecodeError, ValueError):
                doc = None
            reply = self.posts[path](doc)
            return reply.status, JSON, json.dumps(reply.body).encode()
        if path in self.posts or path in ("/", "/health", "/v1/status"):
            return 405, TEXT, b"method not allowed\n"
        return 404, TEXT, b"not found\n"


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; Content-Length bodies only."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.buf = bytearray()
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def _fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        self.transport.write(_response(status, TEXT, message.encode() + b"\n", False))
        self.transport.close()
        self.buf.clear()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf and self.transport is not None and not self.transport.is_closing():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fail(431, "request head too large")
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                self._fail(400, "bad request line")
                return
            method, target, version = parts
            length = 0
            conn = ""
            for line in lines[1:]:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "content-length":
                    try:
                        length = int(value.strip())
                    except ValueError:
                        length = -1
                elif key == "connection":
                    conn = value.strip().lower()
                elif key == "transfer-encoding":
                    self._fail(411, "send a Content-Length body")
                    return
            if length < 0 or length > MAX_BODY:
                self._fail(413 if length > 0 else 400, "bad or too large body")
                return
            total = end + 4 + length
            if len(self.buf) < total:
                return
            body = bytes(self.buf[end + 4 : total])
            del self.buf[:total]
            keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
            try:
                status, ctype, out = self.router.handle(method, target, body)
            except Exception as exc:  # noqa: BLE001 - answer 500, keep serving others
                self.router.service.log("ERROR", f"{method} {target}: {exc!r}")
                status, ctype, out = 500, TEXT, b"internal error\n"
                keep = False
            self.transport.write(_response(status, ctype, out, keep, method == "HEAD"))
            if not keep:
                self.transport.close()
                return


class FileLog:
    """Log lines to stderr (docker logs) and to ``license_service.log`` in the state dir
    (the field guide's log file), rotated at 5 MB."""

    def __init__(self, path: Optional[str]) -> None:
        self.path = path

    def __call__(self, level: str, message: str) -> None:
        line = time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + f"{level} {message}\n"
        sys.stderr.write(line)
        sys.stderr.flush()
        if not self.path:
            return
        try:
            if os.path.exists(self.path) and os.path.getsize(self.path) > 5 << 20:
                os.replace(self.path, self.path + ".1")
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            pass


async def _housekeeping(
    service: LicenseService, check_interval: float, stop: asyncio.Event
) -> None:
    """Every second: reload a replaced license, re-check dates and clock; every
    ``check_interval``: read the machine again (in a thread: it runs a shell script)."""
    loop = asyncio.get_running_loop()
    next_facts = 0.0
    while not stop.is_set():
        try:
            if service.changed():
                service.reload()
                next_facts = 0.0
            if service.facts is not None and time.monotonic() >= next_facts:
                next_facts = time.monotonic() + check_interval
                try:
                    live = await loop.run_in_executor(None, service.collect_facts)
                    service.set_facts(live)
                except Exception as exc:  # noqa: BLE001 - keep the previous reading
                    service.log("ERROR", f"reading the machine failed: {exc}")
            service.check()
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            service.log("ERROR", f"periodic check failed: {exc!r}")
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def serve(
    service: LicenseService,
    *,
    bind: str = "0.0.0.0",
    port: int = 8887,
    check_interval: float = 60.0,
    ready: Optional[Callable[[int, Callable[[], None]], None]] = None,
) -> None:
    """Run until SIGTERM/SIGINT (docker stop stops it at once). ``ready(port, stop)`` is
    called once listening; ``stop`` may be called from any thread (tests, benchmark)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    service.reload()
    router = Router(service)
    server = await loop.create_server(
        lambda: HttpProtocol(router), bind, port, reuse_address=True, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    service.log("INFO", f"license server {VERSION} listening on {bind}:{bound}")
    if ready is not None:
        ready(bound, lambda: loop.call_soon_threadsafe(stop.set))
    task = asyncio.ensure_future(_housekeeping(service, check_interval, stop))
    try:
        await stop.wait()
    finally:
        server.close()
        task.cancel()
        service.log("INFO", "stopped")


def live_facts(root: str = "") -> Callable[[], Any]:
    """The machine as this process sees it (host networking + read-only mounts)."""

    def read() -> Any:
        from fingerprint.collect import collect
        from installer.hosts.local import LocalHost

        return collect(LocalHost(), root=root)

    return read


def build_service(
    *,
    license_dir: str = CONTAINER_LICENSE_DIR,
    state_dir: str = CONTAINER_STATE_DIR,
    keys: Optional[KeyRing] = None,
    lease_ttl: float = 30.0,
    clock_tolerance: float = 600.0,
    fact_root: str = "",
    log_file: bool = True,
) -> LicenseService:
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    log = FileLog(os.path.join(state_dir, "license_service.log") if log_file else None)
    return LicenseService(
        license_dir=license_dir,
        state_dir=state_dir,
        keys=keys if keys is not None else keyring_from_dir(IMAGE_PINNED_DIR),
        facts=live_facts(fact_root),
        lease_ttl=lease_ttl,
        clock_tolerance=clock_tolerance,
        log=log,
    )


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Sealbox license server")
    ap.add_argument("--port", type=int, default=8887)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--license-dir", default=CONTAINER_LICENSE_DIR)
    ap.add_argument("--state-dir", default=CONTAINER_STATE_DIR)
    ap.add_argument("--lease-ttl", type=float, default=30.0, help="seconds a grant lasts")
    ap.add_argument("--check-interval", type=float, default=60.0, help="machine re-read, s")
    ap.add_argument("--clock-tolerance", type=float, default=600.0, help="NTP step allowed, s")
    ap.add_argument("--fact-root", default="", help="where the host's /sys, /etc are mounted")
    args = ap.parse_args(argv)
    # The vendor key comes only from the image (IMAGE_PINNED_DIR): no option points elsewhere.
    service = build_service(
        license_dir=args.license_dir,
        state_dir=args.state_dir,
        lease_ttl=max(2.0, args.lease_ttl),
        clock_tolerance=args.clock_tolerance,
        fact_root=args.fact_root,
    )
    asyncio.run(serve(service, bind=args.bind, port=args.port, check_interval=args.check_interval))
    return 0


if __name__ == "__main__":
    sys.exit(main())
