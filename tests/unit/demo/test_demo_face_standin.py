"""Unit tests of the face-server STAND-IN app (config, validation, license check, HTTP API)
with an in-memory store: no Docker, no MySQL."""

from __future__ import annotations

import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

APP = Path(__file__).resolve().parents[3] / "demo" / "images" / "face-server-standin" / "app"
sys.path.insert(0, str(APP))
pytest.importorskip("pymysql")
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
HTTP_PORT=8300
INSTANCE=1
GPU_ID=
"""


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
        (CONF.replace("HTTP_PORT=8300", "HTTP_PORT = 8300"), "service.conf:8: expected KEY=value"),
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


def test_license_ok_follows_the_license_server() -> None:
    class Lic(BaseHTTPRequestHandler):
        code = 200

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(Lic.code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    httpd, port = _serve(Lic)
    try:
        assert license_client.license_ok("127.0.0.1", port) == (True, "ok")
        Lic.code = 403
        ok, reason = license_client.license_ok("127.0.0.1", port)
        assert not ok and "HTTP 403" in reason
    finally:
        httpd.shutdown()
        httpd.server_close()
    ok, reason = license_client.license_ok("127.0.0.1", port, timeout=1)
    assert not ok and "couldn't connect to license server" in reason


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
