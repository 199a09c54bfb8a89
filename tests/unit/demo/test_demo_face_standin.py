"""Unit tests of the face-server STAND-IN app (config, validation, license check, HTTP API)
with an in-memory store: no Docker, no MySQL."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from installer.license.shipped.clock import Witnesses
from installer.license.shipped.server import serve
from installer.license.shipped.service import LicenseService
from tests.unit.license.helpers import KEY, NOW, RING, machine, signed

APP = Path(__file__).resolve().parents[3] / "demo" / "images" / "face-server-standin" / "app"
sys.path.insert(0, str(APP))
pytest.importorskip("pymysql")
# The image carries the in-image license package (stage.py copies it into the gitignored
# _staged/); here the app imports the repository's own installer.license.shipped.client.
import license_client  # noqa: E402
import server  # noqa: E402
import service_conf  # noqa: E402

CONF = """\
MYSQL_SVC_SERVICE_HOST=127.0.0.1
MYSQL_SVC_SERVICE_PORT=5535
MYSQL_SVC_DATABASE=facedb
MYSQL_SVC_USER=face
MYSQL_SVC_PASSWORD=p=w#1
LICENSE_SERVER_HOST=10.0.0.5
LICENSE_SERVER_PORT=8887
LICENSE_SEAT_KEY=kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk
HTTP_PORT=8300
INSTANCE=1
GPU_ID=
"""
SEAT_KEY = b"k" * 48


def _conf(tmp_path: Path, text: str = CONF, env: Optional[Dict[str, str]] = None):
    p = tmp_path / "service.conf"
    p.write_text(text)
    return service_conf.load(str(p), env or {})


def test_conf_reads_field_guide_format(tmp_path: Path) -> None:
    c = _conf(tmp_path)
    assert (c.mysql_host, c.mysql_port, c.license_host, c.license_port) == (
        "127.0.0.1",
        5535,
        "10.0.0.5",
        8887,
    )
    assert c.mysql_password == "p=w#1"  # everything after the first '=' is the value
    assert (c.http_port, c.instance, c.gpu_id, c.license_interval) == (8300, "1", None, 10.0)
    assert _conf(tmp_path, CONF + "LICENSE_CHECK_INTERVAL=3\n").license_interval == 3.0
    env = {"LICENSE_CHECK_INTERVAL": "2"}
    assert _conf(tmp_path, CONF + "LICENSE_CHECK_INTERVAL=3\n", env).license_interval == 2.0
    assert _conf(tmp_path, CONF.replace("GPU_ID=", "GPU_ID=1")).gpu_id == "1"


@pytest.mark.parametrize(
    "text, message",
    [
        (CONF.replace("HTTP_PORT=8300", "HTTP_PORT = 8300"), "service.conf:9: expected KEY=value"),
        (CONF.replace("HTTP_PORT=8300", "HTTP_PORT= 8300"), "HTTP_PORT: no spaces"),
        (CONF.replace("HTTP_PORT=8300", "HTTP_PORT=eighty"), "HTTP_PORT='eighty': expected"),
        (CONF.replace("HTTP_PORT=8300", "HTTP_PORT=70000"), "expected a port"),
        (CONF.replace("MYSQL_SVC_USER=face\n", ""), "missing MYSQL_SVC_USER"),
    ],
)
def test_conf_errors_name_line_or_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(service_conf.ConfError, match=message):
        _conf(tmp_path, text)


def test_conf_missing_file_says_where_to_mount(tmp_path: Path) -> None:
    with pytest.raises(service_conf.ConfError, match="mount service.conf there"):
        service_conf.load(str(tmp_path / "nope.conf"))


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{", "bad JSON"),
        (b"[1]", "expected a JSON object"),
        (b'{"name": "", "feature": [1]}', "name: expected a non-empty string"),
        (b'{"name": "a", "feature": []}', "feature: expected a list"),
        (b'{"name": "a", "feature": [1, true]}', "feature\\[1\\]"),
        (b'{"name": "a", "feature": [NaN]}', "feature\\[0\\]: expected a finite number"),
    ],
)
def test_validate_face_rejects_with_a_message(body: bytes, message: str) -> None:
    with pytest.raises(server.ApiError, match=message) as exc:
        server.validate_face(body)
    assert exc.value.code == 400


def test_validate_face_accepts_ints_as_floats() -> None:
    assert server.validate_face(b'{"name": "a", "feature": [1, 2.5]}') == ("a", [1.0, 2.5])


def _serve(handler: type) -> Tuple[ThreadingHTTPServer, int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, httpd.server_address[1]


class LicenseServer:
    """The real license server (installer.license.shipped.server) on a loopback port, in a thread."""

    def __init__(self, service: LicenseService) -> None:
        self.service = service
        self.port = 0
        self._stop: Optional[Callable[[], None]] = None
        started = threading.Event()

        def ready(port: int, stop: Callable[[], None]) -> None:
            self.port, self._stop = port, stop
            started.set()

        self.thread = threading.Thread(
            target=lambda: asyncio.run(serve(service, bind="127.0.0.1", port=0, ready=ready)),
            daemon=True,
        )
        self.thread.start()
        assert started.wait(10)

    def stop(self) -> None:
        if self.thread.is_alive():
            assert self._stop is not None
            self._stop()
            self.thread.join(10)


LEASE_TTL = 1.0


@pytest.fixture
def lic_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LicenseServer]:
    """A licensed server, a service.conf naming instance 1, no offline grace, no cached client."""
    (tmp_path / "lic").mkdir()
    (tmp_path / "lic" / "license.cfg").write_bytes(signed(now=NOW - 1000))
    svc = LicenseService(
        license_dir=str(tmp_path / "lic"),
        state_dir=str(tmp_path / "state"),
        keys=RING,
        facts=machine,
        wall=lambda: NOW,
        seat_key=SEAT_KEY,
        lease_ttl=LEASE_TTL,
        witnesses=lambda: Witnesses(),
    )
    (tmp_path / "service.conf").write_text(CONF)
    (tmp_path / "pinned").mkdir()
    (tmp_path / "pinned" / "vendor.pub").write_bytes(KEY.public.pem())
    monkeypatch.setattr(license_client, "PINNED", str(tmp_path / "pinned"))
    monkeypatch.setattr(license_client, "WALL", lambda: NOW)
    monkeypatch.setattr(license_client, "CONF", str(tmp_path / "service.conf"))
    monkeypatch.setattr(license_client, "OFFLINE_GRACE", 0.0)
    here = license_client.HostMachine(facts=machine, keys=RING)  # the licensed machine
    monkeypatch.setattr(license_client, "MACHINE", here)
    monkeypatch.setattr(license_client, "_clients", {})
    run = LicenseServer(svc)
    svc.set_facts(machine())
    yield run
    run.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_license_ok_follows_the_license_server(lic_server: LicenseServer) -> None:
    port = _closed_port()
    ok, reason = license_client.license_ok("127.0.0.1", port, timeout=1)
    assert not ok and "couldn't connect to license server" in reason
    assert f"127.0.0.1:{port}" in reason

    port = lic_server.port
    ok, reason = license_client.license_ok("127.0.0.1", port)
    assert ok and reason.startswith("granted (LIC-TEST-1"), reason
    grants = lic_server.service.status()["grants"]["face-server"]
    assert grants["in_use"] == 1  # one seat, for instance 1 of service.conf
    assert license_client._clients[("127.0.0.1", port)].instance == "1"
    assert license_client.license_ok("127.0.0.1", port)[0]  # renewed

    # A refusal (here: the server now sees a VM) stops the service at the next check.
    lic_server.service.set_facts(machine(vm="kvm"))
    ok, reason = license_client.license_ok("127.0.0.1", port)
    assert not ok and "refused" in reason and "virtual machine detected" in reason
    lic_server.service.set_facts(machine())
    assert license_client.license_ok("127.0.0.1", port)[0]

    # Server gone: licensed until the lease ends (offline grace 0 here), then refused.
    lic_server.stop()
    t0 = time.monotonic()
    ok, reason = license_client.license_ok("127.0.0.1", port, timeout=1)
    assert ok and "unreachable" in reason, reason
    time.sleep(max(0.0, LEASE_TTL + 0.1 - (time.monotonic() - t0)))
    ok, reason = license_client.license_ok("127.0.0.1", port, timeout=1)
    assert not ok and "couldn't connect to license server" in reason, reason


class MemStore:
    """In-memory stand-in for FaceStore."""

    def __init__(self) -> None:
        self.rows: Dict[int, Dict[str, Any]] = {}
        self.fail: Optional[str] = None

    def _check(self) -> None:
        if self.fail:
            raise RuntimeError(self.fail)

    def add(self, name: str, feature: List[float]) -> int:
        self._check()
        fid = len(self.rows) + 1
        self.rows[fid] = {"id": fid, "name": name, "feature": feature}
        return fid

    def list(self) -> List[Dict[str, Any]]:
        self._check()
        return [{"id": r["id"], "name": r["name"]} for r in self.rows.values()]

    def get(self, fid: int) -> Optional[Dict[str, Any]]:
        self._check()
        return self.rows.get(fid)

    def delete(self, fid: int) -> bool:
        self._check()
        return self.rows.pop(fid, None) is not None


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Tuple[int, server.Readiness, MemStore]]:
    state, store = server.Readiness(), MemStore()
    httpd, port = _serve(server.make_handler(_conf(tmp_path), store, state))  # type: ignore[arg-type]
    yield port, state, store
    httpd.shutdown()
    httpd.server_close()


def call(port: int, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            code, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, raw = e.code, e.read()
    text = raw.decode()
    try:
        return code, json.loads(text) if text else None
    except ValueError:
        return code, text


def test_api_refuses_until_licensed_and_db_ok(api: Tuple[int, server.Readiness, MemStore]) -> None:
    port, state, _ = api
    state.set_license(False, "authenticate failed: couldn't connect to license server x")
    code, health = call(port, "GET", "/health")
    assert code == 503 and health["licensed"] is False and "authenticate failed" in health["reason"]
    code, body = call(port, "POST", "/v1/faces", b'{"name": "a", "feature": [1]}')
    assert code == 503 and "not serving" in body["error"]
    state.set_license(True, "ok")
    code, health = call(port, "GET", "/health")
    assert code == 503 and health["reason"].startswith("mysql: ")
    state.set_db(True, "ok")
    code, health = call(port, "GET", "/health")
    assert code == 200
    assert health == {
        "status": "ok",
        "licensed": True,
        "db": "ok",
        "instance": "1",
        "gpu": None,
        "stand_in": True,
    }
    code, banner = call(port, "GET", "/")
    assert code == 200 and "STAND-IN" in banner and "serving" in banner


def test_api_crud_and_errors(api: Tuple[int, server.Readiness, MemStore]) -> None:
    port, state, store = api
    state.set_license(True, "ok")
    state.set_db(True, "ok")
    code, added = call(port, "POST", "/v1/faces", b'{"name": "a", "feature": [0.5, 1]}')
    assert (code, added) == (201, {"id": 1})
    assert call(port, "GET", "/v1/faces") == (200, [{"id": 1, "name": "a"}])
    assert call(port, "GET", "/v1/faces/1")[1]["feature"] == [0.5, 1.0]
    assert call(port, "DELETE", "/v1/faces/1") == (204, None)
    assert call(port, "GET", "/v1/faces/1")[0] == 404
    assert call(port, "GET", "/v1/faces/abc")[0] == 400
    assert call(port, "PUT", "/v1/faces", b"{}")[0] == 405
    assert call(port, "GET", "/nope")[0] == 404
    # A DB failure in a request answers 503 and shows in /health until the checker recovers it.
    store.fail = "Lost connection to MySQL server"
    code, body = call(port, "GET", "/v1/faces")
    assert code == 503 and "Lost connection" in body["error"]
    code, health = call(port, "GET", "/health")
    assert code == 503 and "Lost connection" in health["db"]
