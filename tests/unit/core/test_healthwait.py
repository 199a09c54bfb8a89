"""The health contract's parsing, the wait's decisions and its one-line messages.

Recorded answers only for parsing and message building; the probe script itself runs for real
against a local HTTP server (the BrokenPipeError regression).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

import pytest

from installer.errors import SpecError
from installer.hosts.base import Result
from installer.hosts.local import LocalHost
from installer.hosts.recorded import RecordedHost
from installer.runtime import health
from installer.runtime.container import Container
from installer.runtime.healthwait import (
    HealthFailed,
    HealthWait,
    Problem,
    SameReason,
    _stamp_key,
    keep_logs,
)
from installer.runtime.reach import Endpoint, describe_failure, endpoints
from installer.spec import load_modules, parse_module
from installer.spec.load import check_bundle_rules
from installer.spec.model import HealthCheck

ROOT = Path(__file__).resolve().parents[3]


# -- the contract: reason parsing ---------------------------------------------------------------
@pytest.mark.parametrize(
    "body, want",
    [
        (
            '{"status": "unavailable", "reason": "license: expired"}',
            ("license: expired", False, False),
        ),
        ('{"reason": "model missing", "fatal": true}', ("model missing", True, False)),
        ('{"reason": "bad config", "retry": false}', ("bad config", True, False)),
        ('{"reason": "loading model 40%", "retry": true}', ("loading model 40%", False, True)),
        ('{"reason": "x", "fatal": true, "retry": true}', ("x", True, False)),
        ('{"status": "down"}', (None, False, False)),
        ('["reason"]', (None, False, False)),
        (
            "database not reachable\nsecond line",
            ("database not reachable second line", False, False),
        ),
        ("   ", (None, False, False)),
    ],
)
def test_parse_reason(body, want):
    assert health.parse_reason(body) == want


def test_parse_reason_bounds_the_text():
    reason, _, _ = health.parse_reason('{"reason": "' + "a" * 5000 + '"}')
    assert reason is not None and len(reason) == health.REASON_CHARS and reason.endswith("...")


def test_parse_http_answers():
    ok = health.parse_http("HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\n{}")
    assert ok.ok and ok.answered and ok.seen == "HTTP 200"
    bad = health.parse_http(
        'HTTP/1.1 503 Service Unavailable\r\nA: b\r\n\r\n{"reason": "no seat", "fatal": true}'
    )
    assert not bad.ok and bad.reason == "no seat" and bad.fatal and bad.seen == "HTTP 503: no seat"
    text = health.parse_http("HTTP/1.1 500 Internal\r\n\r\nboom")
    assert text.reason == "boom" and not text.fatal
    junk = health.parse_http("SSH-2.0-OpenSSH_9.2\r\n")
    assert not junk.ok and junk.reason is None and "not an HTTP answer" in junk.seen


def test_tcp_script_quotes_the_address():
    assert health.tcp_script("10.0.0.1", 5535) == "exec 3<>/dev/tcp/10.0.0.1/5535"
    assert "'" in health.tcp_script("a;rm -rf /", 1)  # never a second command


# -- the probe reads the whole answer: no BrokenPipeError in the service's log -----------------
class _TwoWrites(BaseHTTPRequestHandler):
    """Headers, a pause, then the body: a client that closes after the status line makes the
    second write fail (what the old probe did to the stand-in)."""

    errors: list[str] = []
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b'{"reason": "license: expired", "fatal": true}'
        try:
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            time.sleep(0.3)
            self.wfile.write(body)
            self.wfile.flush()
        except OSError as exc:
            _TwoWrites.errors.append(type(exc).__name__)

    def log_message(self, *args: object) -> None:
        return None


def test_http_probe_reads_to_the_end_and_gets_the_reason():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _TwoWrites)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        _TwoWrites.errors.clear()
        for _ in range(3):
            ans = health.check(LocalHost(), "http", port=srv.server_address[1], path="/health")
            assert ans.reason == "license: expired" and ans.fatal and ans.answered
        time.sleep(0.5)
        assert _TwoWrites.errors == []  # the old one-line read gave BrokenPipeError here
    finally:
        srv.shutdown()
        srv.server_close()


def test_tcp_probe_and_connect_on_a_closed_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    ans = health.check(LocalHost(), "tcp", port=port)
    assert not ans.ok and f"port {port} closed" == ans.seen
    from installer.runtime.reach import connect

    why = connect(LocalHost(), "127.0.0.1", port)
    assert why is not None and "connection refused" in why


# -- reachability: endpoints from the spec, failure words ---------------------------------------
def test_endpoints_come_from_the_spec():
    specs = load_modules(str(ROOT / "modules"))
    values = {
        "license_server_host": "10.0.0.5",
        "license_port": 8887,
        "mysql_host": "10.0.0.6",
        "mysql_port": "5535",
    }
    eps = endpoints(specs["face-server"], specs, values)
    assert eps == [
        Endpoint(
            "license_server_host",
            "10.0.0.5",
            "license_port",
            8887,
            "license-server",
            specs["license-server"].health.path,  # its HTTP health path, asked as a dependency
        ),
        Endpoint("mysql_host", "10.0.0.6", "mysql_port", 5535, "mysql", None),
    ]
    assert endpoints(specs["mysql"], specs, values) == []
    assert endpoints(specs["face-server"], specs, {"mysql_host": "h"}) == []  # unset: skipped


def test_wired_to_names_known_variables():
    doc = {
        "name": "svc",
        "version": "1",
        "description": "d",
        "image": {"ref": "x:1", "archive": "images/x.tar.zst"},
        "ports": [{"name": "http", "port": 8300, "variable": "svc_port"}],
        "wired_to": [{"host": "db_host", "port": "svc_port"}],
    }
    spec = parse_module(doc, "modules/svc.yaml")
    with pytest.raises(SpecError, match=r"wired_to\[0\]\.host: unknown variable 'db_host'"):
        check_bundle_rules({"svc": spec})
    doc["wired_to"] = [{"host": "x"}]
    with pytest.raises(SpecError, match=r"wired_to\[0\]\.port: is required"):
        parse_module(doc, "modules/svc.yaml")


def test_describe_failure_words():
    assert "firewall filters it" in describe_failure(124, "")
    assert "connection refused" in describe_failure(1, "bash: connect: Connection refused")
    assert describe_failure(1, "bash: connect: No route to host") == "no route to host"


# -- the decision: fatal now, unchanged for `hold`, patient never --------------------------------
def test_same_reason_rules():
    t = SameReason(10)
    assert not t.settled(0, Problem("a", "fix"))
    assert not t.settled(9, Problem("a", "fix"))
    assert t.settled(10, Problem("a", "fix"))
    t = SameReason(10)
    assert not t.settled(0, Problem("a", "fix"))
    assert not t.settled(8, Problem("b", "fix"))  # changed: the clock restarts
    assert not t.settled(12, Problem("b", "fix"))
    assert not t.settled(13, None)  # healthy-ish: forget
    assert not t.settled(30, Problem("b", "fix"))
    assert SameReason(10).settled(0, Problem("a", "fix", fatal=True))
    p = Problem("loading", "fix", patient=True)
    assert not any(SameReason(1).settled(float(i), p) for i in range(100))


# -- the wait itself, on recorded answers with a fake clock -------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def cont(status: str = "running", code: int = 0, restarts: int = 0) -> Container:
    return Container(
        {
            "State": {"Status": status, "Running": status == "running", "ExitCode": code},
            "RestartCount": restarts,
        }
    )


def waiter(host, states, check: Optional[HealthCheck] = None, eps=(), logs: str = ""):
    clock = Clock()
    it = iter(states)
    last = [cont()]

    def inspect(_name: str) -> Optional[Container]:
        last[0] = next(it, last[0])
        return last[0]

    hw = HealthWait(
        host,
        inspect,
        lambda _n, _t: logs,
        check or HealthCheck(type="http", port="http", path="/health", timeout=180),
        "face-server-0",
        8300,
        eps,
        clock=clock,
        sleep=clock.sleep,
    )
    return hw, clock


HTTP = "timeout 3 bash -c "


def test_exit_on_start_ends_at_once_with_code_and_last_line():
    host = RecordedHost({HTTP: Result("", 7, "", "connection refused")})
    hw, clock = waiter(
        host, [cont("exited", 3)], logs="loading\nTraceback...\nmodel failed: CUDA error 100\n"
    )
    with pytest.raises(HealthFailed) as exc:
        hw.run()
    msg = str(exc.value)
    assert "\n" not in msg and clock.now == 0
    assert msg.startswith("face-server-0 exited (exit code 3) while starting")
    assert '"model failed: CUDA error 100"' in msg and "run the install again" in msg


def test_restart_loop_counts_as_exited():
    hw, _ = waiter(RecordedHost({HTTP: Result("", 7)}), [cont("restarting", 2, restarts=3)])
    with pytest.raises(HealthFailed, match=r"exited \(exit code 2\)"):
        hw.run()


def test_fatal_reason_ends_at_once():
    ans = 'HTTP/1.1 503 X\r\n\r\n{"reason": "license file missing", "fatal": true}'
    hw, clock = waiter(RecordedHost({HTTP: ans}), [])
    with pytest.raises(HealthFailed) as exc:
        hw.run()
    assert clock.now == 0
    assert str(exc.value) == (
        'face-server-0 is not healthy: it says "license file missing" (HTTP 503); '
        "fix what it says, then run the install again"
    )


def test_unchanged_reason_ends_after_hold_not_timeout():
    ans = 'HTTP/1.1 503 X\r\n\r\n{"reason": "mysql: access denied for user face"}'
    hw, clock = waiter(RecordedHost({HTTP: ans}), [])
    with pytest.raises(HealthFailed, match="access denied for user face"):
        hw.run()
    assert 10 <= clock.now <= 12


def test_retry_true_waits_for_the_timeout():
    ans = 'HTTP/1.1 503 X\r\n\r\n{"reason": "loading model", "retry": true}'
    hw, clock = waiter(RecordedHost({HTTP: ans}), [])
    notes: list[str] = []
    hw.note = notes.append
    with pytest.raises(HealthFailed, match=r"not healthy after 180s \(HTTP 503: loading model\)"):
        hw.run()
    assert clock.now > 180
    assert notes == [  # said once, not every second
        'face-server-0 is not healthy: it says "loading model" (HTTP 503) '
        "(waiting until the timeout for a change)"
    ]


def test_unreachable_dependency_names_host_address_port_and_fix():
    ep = Endpoint("mysql_host", "10.1.2.3", "mysql_port", 5535, "mysql", None)
    host = RecordedHost(
        {
            HTTP + "'exec 3<>/dev/tcp/10.1.2.3/5535'": Result("", 124, "", ""),
            HTTP: 'HTTP/1.1 503 X\r\n\r\n{"reason": "mysql: timeout"}',
        },
        name="hostb",
    )
    hw, clock = waiter(host, [], eps=[ep])
    with pytest.raises(HealthFailed) as exc:
        hw.run()
    msg = str(exc.value)
    assert clock.now < 30 and "\n" not in msg
    assert msg.startswith(
        "face-server-0 cannot reach mysql at 10.1.2.3:5535 (mysql_host, mysql_port) from hostb: "
        "no answer within 3s"
    )
    assert "open TCP port 5535 from hostb to 10.1.2.3" in msg


def test_probe_time_counts_toward_the_hold():
    """Issue 19, item 5: a dropped connect takes 3 s per check; the hold (10 s) ends 10 s
    after the reason was first seen, not 10 s plus every probe (it used to take 13-18 s)."""
    ep = Endpoint("mysql_host", "10.1.2.3", "mysql_port", 5535, "mysql", None)
    clock_box: list[Clock] = []

    def dropped(text: str) -> Result:
        clock_box[0].now += 3.0  # the connect's own timeout
        return Result(text, 124, "", "")

    host = RecordedHost(
        {
            HTTP + "'exec 3<>/dev/tcp/10.1.2.3/5535'": dropped,
            HTTP: 'HTTP/1.1 503 X\r\n\r\n{"reason": "mysql: timeout"}',
        },
        name="hostb",
    )
    hw, clock = waiter(host, [], eps=[ep])
    clock_box.append(clock)
    with pytest.raises(HealthFailed, match="cannot reach mysql"):
        hw.run()
    assert 10 <= clock.now <= 10.5, clock.now


def test_dependency_not_serving_is_named():
    ep = Endpoint("license_server_host", "127.0.0.1", "license_port", 8887, "license-server", "/")
    host = RecordedHost(
        {
            HTTP + "'exec 3<>/dev/tcp/127.0.0.1/8887'": "",
            HTTP + "'exec 3<>/dev/tcp/127.0.0.1/8887 || exit 7;": (
                'HTTP/1.1 503 X\r\n\r\n{"reason": "license expired on 2026-01-01", "fatal": true}'
            ),
            HTTP: 'HTTP/1.1 503 X\r\n\r\n{"reason": "license: refused"}',
        }
    )
    hw, clock = waiter(host, [], eps=[ep])
    with pytest.raises(HealthFailed) as exc:
        hw.run()
    assert clock.now == 0
    assert str(exc.value).startswith(
        'face-server-0 cannot start: license-server at 127.0.0.1:8887 is not serving: "license '
        'expired on 2026-01-01"'
    )


def test_healthy_returns_what_was_seen():
    hw, _ = waiter(RecordedHost({HTTP: "HTTP/1.0 200 OK\r\n\r\n{}"}), [])
    assert hw.run() == "HTTP 200"


# -- the kept log --------------------------------------------------------------------------------
def test_keep_logs_orders_both_streams_by_time():
    host = RecordedHost(
        {
            "docker logs --timestamps": Result(
                "",
                0,
                "2026-12-01T00:00:01.5Z out b\n2026-12-01T00:00:01.12Z out a\n",
                "2026-12-01T00:00:01.2Z err\n",
            )
        }
    )
    path = keep_logs(host, "face-server-0", "/state/logs")
    assert path is not None and path.startswith("/state/logs/face-server-0-")
    assert host.files[path].decode().splitlines() == [
        "2026-12-01T00:00:01.12Z out a",
        "2026-12-01T00:00:01.2Z err",
        "2026-12-01T00:00:01.5Z out b",
    ]
    assert _stamp_key("2026-12-01T00:00:01.1Z x") < _stamp_key("2026-12-01T00:00:01.12Z x")
    assert keep_logs(RecordedHost({}), "gone", "/state/logs") is None
