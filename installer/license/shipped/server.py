"""The license server: a small HTTP/1.1 server on asyncio (stdlib only, one event loop).

Why this stack: the image has Debian's python3 3.11, cryptography and PyYAML and nothing else,
so no uvloop/aiohttp. ``http.server`` spends most of its time per request in thread hand-off
and header parsing (and closes connections unless told otherwise); a bare ``asyncio.Protocol``
with keep-alive parses only what a grant needs and answers from one thread, so the lease table
needs no locks and a grant costs one JSON parse and three HMACs (seat proof, grant MAC). The
connection handling (timeouts, caps) is in ``http.py``. See ``benchmarks/license_grants.py``.

Routes: ``GET /`` banner (the field guide's ``curl <ip>:8887`` check), ``GET /health``,
``GET /v1/status`` (details on loopback only), ``GET /v1/usage?days=N`` (the signed usage
report, loopback only), ``POST /v1/grant``, ``/v1/renew``, ``/v1/release``.
Listens on ``--bind`` (0.0.0.0 by default: services on other hosts of a fleet or in a cluster
reach it over the LAN; set ``license_bind=127.0.0.1`` when every service is on this host).
Run: ``python3 -m installer.license.shipped.server --port 8887`` (inside the license-server image).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import signal
import sys
import time
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple

from installer.license.shipped.fileformat import KeyRing
from installer.license.shipped.http import TEXT, Connections, HttpProtocol, Limits
from installer.license.shipped.keys import IMAGE_PINNED_DIR, keyring_from_dir
from installer.license.shipped.paths import CONTAINER_LICENSE_DIR, CONTAINER_STATE_DIR
from installer.license.shipped.service import VERSION, LicenseService, Reply
from installer.license.shipped.usage import make_report

JSON = "application/json"
USAGE = "application/vnd.sealbox.usage-report"
SEAT_KEY_FILE = "/etc/sealbox/seat/seat.key"


class Router:
    """Maps a request to the service; returns (status, content type, body). ``local``: the
    peer is on loopback (details are shown only there)."""

    def __init__(self, service: LicenseService) -> None:
        self.service = service
        self.posts: Dict[str, Callable[[Any], Reply]] = {
            "/v1/grant": service.grant,
            "/v1/renew": service.renew,
            "/v1/release": service.release,
        }

    def handle(
        self, method: str, target: str, body: bytes, local: bool = True
    ) -> Tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if method in ("GET", "HEAD"):
            if path == "/":
                return 200, TEXT, self.service.banner(local=local).encode()
            if path == "/health":
                status, doc = self.service.health()
                if not local:
                    doc = {"serving": doc["serving"], "reason": doc["reason"].split(":")[0]}
                return status, JSON, json.dumps(doc).encode()
            if path == "/v1/status":
                doc = self.service.status(local=local)
                return 200, JSON, json.dumps(doc, indent=1).encode()
            if path == "/v1/usage":
                return self._usage(target, local)
        elif method == "POST" and path in self.posts:
            try:
                request: Any = json.loads(body.decode("utf-8")) if body else None
            except (UnicodeDecodeError, ValueError):
                request = None
            reply = self.posts[path](request)
            return reply.status, JSON, json.dumps(reply.body).encode()
        if path in self.posts or path in ("/", "/health", "/v1/status", "/v1/usage"):
            return 405, TEXT, b"method not allowed\n"
        return 404, TEXT, b"not found\n"

    def _usage(self, target: str, local: bool) -> Tuple[int, str, bytes]:
        """The signed usage report for the last ``days`` (default 30): loopback only (it
        names the customer and the license)."""
        if not local:
            return 403, TEXT, b"usage report: ask on the license server's host\n"
        query = urllib.parse.parse_qs(target.partition("?")[2])
        try:
            days = float((query.get("days") or ["30"])[0])
        except ValueError:
            return 400, TEXT, b"days must be a number\n"
        svc = self.service
        if svc.license is None:
            return 409, TEXT, b"no license loaded: nothing to report under\n"
        until = svc.wall()
        report = make_report(
            svc.usage,
            since=until - max(0.0, days) * 86400,
            until=until,
            license_text=svc.license_text,
            license_id=svc.license.license_id,
            server_version=VERSION,
        )
        return 200, USAGE, report


class FileLog:
    """Log lines to stderr (docker logs) and to ``license_service.log`` in the state dir
    (the field guide's log file), rotated at 5 MB."""

    def __init__(self, path: Optional[str], wall: Callable[[], float] = time.time) -> None:
        self.path = path
        self.wall = wall  # the service's clock: the lines are clock witnesses

    def __call__(self, level: str, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime(self.wall()))
        line = stamp + f"{level} {message}\n"
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
    service: LicenseService, check_interval: float, stop: asyncio.Event, conns: Connections
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
            conns.sweep()
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
    limits: Limits = Limits(),
    ready: Optional[Callable[[int, Callable[[], None]], None]] = None,
) -> None:
    """Run until SIGTERM/SIGINT (docker stop stops it at once). ``ready(port, stop)`` is
    called once listening; ``stop`` may be called from any thread (tests, benchmark)."""
    limits = fit_to_fd_limit(limits)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    service.reload()
    router = Router(service)
    conns = Connections(limits)
    name = f"sealbox-license/{VERSION}"

    def on_error(message: str) -> None:
        service.log("ERROR", message)

    server = await loop.create_server(
        lambda: HttpProtocol(router.handle, conns, name, on_error),
        bind,
        port,
        reuse_address=True,
        backlog=1024,
    )
    bound = server.sockets[0].getsockname()[1]
    service.log(
        "INFO",
        f"license server {VERSION} listening on {bind}:{bound} (at most "
        f"{limits.max_connections} connections, {limits.max_per_source} per source)",
    )
    if ready is not None:

        def request_stop() -> None:  # a lambda would return the Handle, not None
            loop.call_soon_threadsafe(stop.set)

        ready(bound, request_stop)
    task = asyncio.ensure_future(_housekeeping(service, check_interval, stop, conns))
    try:
        await stop.wait()
    finally:
        server.close()
        task.cancel()
        service.log("INFO", "stopped")


def fit_to_fd_limit(limits: Limits) -> Limits:
    """Raise the soft fd limit to the hard one and keep the connection caps under it, so a
    flood meets the cap (503) and never EMFILE (which stalls accept for everyone)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        return limits
    room = int(soft) - 64 - limits.loopback_reserve
    if soft != resource.RLIM_INFINITY and limits.max_connections > room:
        return dataclasses.replace(limits, max_connections=max(16, room))
    return limits


def read_seat_key(path: str) -> bytes:
    """The installation's seat key (rendered 0600 by the installer); empty when absent."""
    try:
        with open(path, "rb") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return b""


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
    seat_key: bytes = b"",
) -> LicenseService:
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    log = FileLog(os.path.join(state_dir, "license_service.log") if log_file else None)
    return LicenseService(
        license_dir=license_dir,
        state_dir=state_dir,
        keys=keys if keys is not None else keyring_from_dir(IMAGE_PINNED_DIR),
        facts=live_facts(fact_root),
        seat_key=seat_key,
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
    ap.add_argument("--seat-key-file", default=SEAT_KEY_FILE, help="installation seat key")
    ap.add_argument("--max-connections", type=int, default=Limits.max_connections)
    ap.add_argument("--max-per-source", type=int, default=Limits.max_per_source)
    ap.add_argument("--head-timeout", type=float, default=Limits.head_timeout)
    ap.add_argument("--idle-timeout", type=float, default=Limits.idle_timeout)
    args = ap.parse_args(argv)
    # The vendor key comes only from the image (IMAGE_PINNED_DIR): no option points elsewhere.
    service = build_service(
        license_dir=args.license_dir,
        state_dir=args.state_dir,
        lease_ttl=max(2.0, args.lease_ttl),
        clock_tolerance=args.clock_tolerance,
        fact_root=args.fact_root,
        seat_key=read_seat_key(args.seat_key_file),
    )
    limits = Limits(
        head_timeout=args.head_timeout,
        body_timeout=args.head_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        max_per_source=args.max_per_source,
    )
    asyncio.run(
        serve(
            service,
            bind=args.bind,
            port=args.port,
            check_interval=args.check_interval,
            limits=limits,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
