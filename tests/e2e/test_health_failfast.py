"""Issue 13.1: every failure path of the health wait reports within 30 s, in one line that says
the reason and the fix, and names the file that keeps the failed container's log.

Real engine, real demo images, real MariaDB and license server. One deployment for the module
(MySQL bound to 127.0.0.1 only, so 127.0.0.2 is a closed address on this machine); each test
breaks face-server in its own way, and the old face-server comes back after each failure.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import copy_bundle, port_sets, resign, run_cli

pytestmark = pytest.mark.e2e

LIMIT = 30.0
LOG_RE = re.compile(r"its log is kept on \S+ in (\S+\.log)$")


@pytest.fixture(scope="module")
def deployment(demo_bundle, tmp_path_factory, ports, skip_args):
    """A healthy demo deployment; yields (state dir, base args)."""
    state = tmp_path_factory.mktemp("failfast") / "state"
    base = [
        *port_sets(ports),
        *skip_args,
        "--set",
        "mysql_bind_address=127.0.0.1",
        "--set",
        "mysql_host=127.0.0.1",
    ]
    res = run_cli("inall", "-y", *base, bundle=demo_bundle, state_dir=state)
    assert res.rc == 0, res.stderr
    yield state, base
    run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)


def broken_copy(demo_bundle: Path, dst: Path, module: str, edit) -> Path:
    bundle = copy_bundle(demo_bundle, dst)
    spec_file = bundle / "modules" / f"{module}.yaml"
    doc = yaml.safe_load(spec_file.read_text())
    edit(doc)
    spec_file.write_text(yaml.safe_dump(doc))
    resign(bundle)
    return bundle


def fails_fast(bundle: Path, state: Path, *args: str) -> tuple[str, str]:
    """Run `in face-server`; assert one error line within LIMIT naming a kept 0600 log file.
    Returns (the error line, the kept log's text)."""
    started = time.monotonic()
    res = run_cli("in", "face-server", "-y", *args, bundle=bundle, state_dir=state)
    elapsed = time.monotonic() - started
    assert res.rc == 1, res.stderr
    errors = res.error_lines()
    assert len(errors) == 1, res.stderr
    assert elapsed < LIMIT, f"{elapsed:.1f}s: {errors[0]}"
    print(f"\n{elapsed:.1f}s (whole 'in' command): {errors[0]}")
    assert "Traceback" not in res.stderr and "BrokenPipeError" not in res.stderr
    m = LOG_RE.search(errors[0])
    assert m, errors[0]
    log = Path(m.group(1))
    assert log.parent == state / "logs"
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    return errors[0], log.read_text()


def face_server_back(demo_bundle: Path, state: Path, base: list[str]) -> None:
    """The good bundle again: the deployment is whole for the next test."""
    res = run_cli("in", "face-server", "-y", *base, bundle=demo_bundle, state_dir=state)
    assert res.rc == 0, res.stderr


def test_container_exits_on_start(demo_bundle, tmp_path, deployment):
    state, base = deployment

    def edit(doc):
        doc["command"] = [
            "python3",
            "-c",
            "import sys; print('loading model', flush=True); "
            "print('model failed to load: CUDA error 100', file=sys.stderr); sys.exit(3)",
        ]

    bundle = broken_copy(demo_bundle, tmp_path / "b", "face-server", edit)
    line, log = fails_fast(bundle, state, *base)
    assert "exited (exit code 3) while starting" in line
    assert '"model failed to load: CUDA error 100"' in line and "run the install again" in line
    assert "loading model" in log and "model failed to load: CUDA error 100" in log


FATAL_SERVER = """
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"reason": "model file /models/face.onnx is missing", "fatal": True})
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
print("model file /models/face.onnx is missing; serving 503", file=sys.stderr, flush=True)
http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""


def test_health_answers_with_a_fatal_reason(demo_bundle, tmp_path, deployment):
    state, base = deployment

    def edit(doc):
        doc["command"] = ["python3", "-c", FATAL_SERVER, "{{ ports.http }}"]

    bundle = broken_copy(demo_bundle, tmp_path / "b", "face-server", edit)
    line, log = fails_fast(bundle, state, *base)
    assert 'is not healthy: it says "model file /models/face.onnx is missing" (HTTP 503)' in line
    assert "fix what it says" in line
    assert "serving 503" in log


def test_dependency_address_unreachable(demo_bundle, deployment):
    """MySQL listens on 127.0.0.1 only: face-server wired to 127.0.0.2 meets a closed port."""
    state, base = deployment
    try:
        line, log = fails_fast(demo_bundle, state, *base, "--set", "mysql_host=127.0.0.2")
        m = re.search(r"cannot reach mysql at 127\.0\.0\.2:(\d+) \(mysql_host, mysql_port\)", line)
        assert m, line
        assert "connection refused" in line
        assert f"open TCP port {m.group(1)} from " in line and " to 127.0.0.2" in line
        assert "listening on" in log  # the stand-in's own start line is kept
    finally:
        face_server_back(demo_bundle, state, base)


def test_license_server_not_serving(demo_bundle, tmp_path, deployment):
    """The license server runs but has no license to serve: the face-server install stops with
    the license server's reason, not after 180 s with 'HTTP 503'."""
    state, base = deployment

    def edit(doc):
        cmd = doc["command"]
        cmd[cmd.index("--license-dir") + 1] = "/var/lib/sealbox-license/no-license-here"

    bundle = broken_copy(demo_bundle, tmp_path / "b", "license-server", edit)
    try:
        # a changed face-server setting: face-server is recreated and must get a grant again
        line, log = fails_fast(bundle, state, *base, "--set", "license_check_interval=7")
        assert "license" in line.lower() and "not" in line.lower()
        assert log.strip()
    finally:
        face_server_back(demo_bundle, state, base)
