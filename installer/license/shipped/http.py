"""HTTP/1.1 for the license server on a bare ``asyncio.Protocol``, hardened against starvation.

Keep-alive and pipelining, Content-Length bodies only. A connection that sends nothing, or
sends a request slowly, cannot hold a slot: the head of a request must arrive within
``head_timeout`` of its first byte (or of the connect), its body within ``body_timeout`` of
the head, and a keep-alive connection may sit idle for ``idle_timeout``. Connections are
capped in total and per source address; 127.0.0.1 (the services on this host) has a small
reserve above the total cap, so a flood from the network cannot lock them out. Deadlines
are checked by one sweep per second, not a timer per request (cheap at thousands of
connections).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Set, Tuple

MAX_HEAD = 16384
MAX_BODY = 65536
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
TEXT = "text/plain; charset=utf-8"
LOCAL = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
"""Where this host's services connect from (the reserve above the total cap is theirs)."""

Handler = Callable[[str, str, bytes, bool], Tuple[int, str, bytes]]
ErrorLog = Callable[[str], None]


def response(
    status: int, ctype: str, body: bytes, keep: bool, head_only: bool = False, server: str = ""
) -> bytes:
    phrase = _REASONS.get(status, "Error")
    if status == 503 and body:
        # The reason in the status line too: a remote probe may print only that line.
        line = _reason_line(ctype, body)
        phrase = "".join(c if " " <= c <= "~" else "?" for c in line[:300]) or phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nServer: {server}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
    ).encode("latin-1")
    return head if head_only else head + body


def _reason_line(ctype: str, body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    if ctype != TEXT:
        try:
            doc = json.loads(text)
        except ValueError:
            return ""
        return str(doc.get("reason") or "") if isinstance(doc, dict) else ""
    return text.splitlines()[0] if text else ""


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_connections: int = 4096
    max_per_source: int = 256
    loopback_reserve: int = 64


class Connections:
    """Who is connected, by source; admission and the deadline sweep."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: Set[HttpProtocol] = set()
        self.per_source: Dict[str, int] = {}
        self.refused = 0
        self.timed_out = 0

    def admit(self, conn: HttpProtocol) -> bool:
        lim = self.limits
        total = lim.max_connections + (lim.loopback_reserve if conn.source in LOCAL else 0)
        if len(self.open) >= total or self.per_source.get(conn.source, 0) >= lim.max_per_source:
            self.refused += 1
            return False
        self.open.add(conn)
        self.per_source[conn.source] = self.per_source.get(conn.source, 0) + 1
        return True

    def leave(self, conn: HttpProtocol) -> None:
        if conn in self.open:
            self.open.discard(conn)
            left = self.per_source.get(conn.source, 1) - 1
            if left > 0:
                self.per_source[conn.source] = left
            else:
                self.per_source.pop(conn.source, None)

    def sweep(self, now: Optional[float] = None) -> int:
        """Close every connection past its deadline; returns how many."""
        now = time.monotonic() if now is None else now
        late = [c for c in self.open if c.deadline <= now]
        for conn in late:
            conn.expire()
        self.timed_out += len(late)
        return len(late)


class HttpProtocol(asyncio.Protocol):
    """One connection: parse requests as they complete, answer through ``handler``."""

    def __init__(
        self, handler: Handler, conns: Connections, server: str, on_error: ErrorLog
    ) -> None:
        self.handler, self.conns, self.server, self.on_error = handler, conns, server, on_error
        self.limits = conns.limits
        self.buf = bytearray()
        self.transport: Optional[asyncio.Transport] = None
        self.source, self.local = "", False
        self.deadline = 0.0
        self.phase = "head"  # head | body | idle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.source = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        self.local = is_loopback(self.source)
        self.deadline = time.monotonic() + self.limits.head_timeout
        if not self.conns.admit(self):
            self._fail(503, "too many connections; try again later")

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.conns.leave(self)
        self.transport = None

    def expire(self) -> None:
        if self.transport is None:
            return
        if self.phase == "idle" and not self.buf:
            self.transport.close()  # an idle keep-alive connection: just close it
        else:
            self._fail(408, "request not received in time")
        self.conns.leave(self)

    def _fail(self, status: int, message: str) -> None:
        assert self.transport is not None
        body = message.encode() + b"\n"
        self.transport.write(response(status, TEXT, body, False, server=self.server))
        self.transport.close()
        self.buf.clear()

    def data_received(self, data: bytes) -> None:
        if self.phase == "idle":
            self.phase = "head"
            self.deadline = time.monotonic() + self.limits.head_timeout
        self.buf += data
        while self.buf and self.transport is not None and not self.transport.is_closing():
            if not self._one_request():
                return
        if not self.buf:
            self.phase = "idle"
            self.deadline = time.monotonic() + self.limits.idle_timeout

    def _one_request(self) -> bool:
        """Answer the first complete request in the buffer; False when more bytes are needed
        (or the connection was closed)."""
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self._fail(431, "request head too large")
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self._fail(400, "bad request line")
            return False
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
                return False
        if length < 0 or length > MAX_BODY:
            self._fail(413 if length > 0 else 400, "bad or too large body")
            return False
        total = end + 4 + length
        if len(self.buf) < total:
            if self.phase != "body":
                self.phase = "body"
                self.deadline = time.monotonic() + self.limits.body_timeout
            return False
        body = bytes(self.buf[end + 4 : total])
        del self.buf[:total]
        self.phase = "head"
        keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
        try:
            status, ctype, out = self.handler(method, target, body, self.local)
        except Exception as exc:  # noqa: BLE001 - answer 500, keep serving others
            self.on_error(f"{method} {target}: {exc!r}")
            status, ctype, out = 500, TEXT, b"internal error\n"
            keep = False
        head_only = method == "HEAD"
        self.transport.write(response(status, ctype, out, keep, head_only, self.server))
        if not keep:
            self.transport.close()
            return False
        return True
