"""The license server cannot be starved: head/body/idle timeouts and connection caps, against
the real asyncio server on loopback (short limits so each test is bounded to a few seconds)."""

from __future__ import annotations

import select
import socket
import time
from typing import List

import pytest

from .helpers import NOW, signed
from .test_client_store import Running, client, start


def conn(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s: socket.socket, limit: float = 5.0) -> bytes:
    """Everything until the server closes (bounded by ``limit`` seconds)."""
    s.settimeout(limit)
    out = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            return out
        out += chunk
    raise AssertionError(f"server did not close within {limit}s (got {out[:80]!r})")


@pytest.fixture
def short(tmp_path):
    run = start(
        tmp_path,
        signed(now=NOW - 1000),
        head_timeout=0.5,
        body_timeout=0.5,
        idle_timeout=0.8,
        max_connections=6,
        max_per_source=3,
        loopback_reserve=2,
    )
    yield run
    run.stop()


def test_slow_head_is_cut_at_the_head_timeout(short: Running) -> None:
    s = conn(short.port)
    t0 = time.monotonic()
    for b in b"POST /v1/gr":  # a byte every 0.1 s: activity does not extend the deadline
        if select.select([s], [], [], 0)[0]:
            break  # the server has answered: writing on would only meet its reset
        try:
            s.send(bytes([b]))
        except OSError:
            break  # cut off (a loaded machine can be late to see the answer)
        time.sleep(0.1)
        if time.monotonic() - t0 > 1.5:
            break
    got = read_all(s)
    assert got.startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 3.5
    s.close()


def test_slow_body_is_cut_at_the_body_timeout(short: Running) -> None:
    s = conn(short.port)
    s.sendall(b"POST /v1/grant HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    t0 = time.monotonic()
    assert read_all(s).startswith(b"HTTP/1.1 408") and time.monotonic() - t0 < 3.0
    s.close()


def test_silent_and_idle_connections_are_closed(short: Running) -> None:
    silent = conn(short.port)
    assert read_all(silent).startswith(b"HTTP/1.1 408")  # connected, never sent a byte
    idle = conn(short.port)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    got = read_all(idle)  # the answer, then closed once idle past the keep-alive limit
    assert got.startswith(b"HTTP/1.1 200") and got.count(b"HTTP/1.1") == 1
    silent.close()
    idle.close()


def test_per_source_and_total_caps_keep_a_slot_for_local_services(short: Running) -> None:
    held: List[socket.socket] = [conn(short.port, "127.0.0.2") for _ in range(3)]
    fourth = conn(short.port, "127.0.0.2")
    assert read_all(fourth).startswith(b"HTTP/1.1 503")
    held += [conn(short.port, f"127.0.0.{i}") for i in (3, 4, 5)]  # total cap (6) reached
    time.sleep(0.1)
    over = conn(short.port, "127.0.0.9")
    assert read_all(over).startswith(b"HTTP/1.1 503")
    # 127.0.0.1 (the services on this host) still gets in, through the loopback reserve.
    ok, why = client(short.port).check()
    assert ok, why
    for s in held + [fourth, over]:
        s.close()
