"""Looking inside, end to end on the real engine: ``logs`` and ``restart`` by module name (here
and over ``-H`` on a sandbox host), ``support-bundle`` of the installed demo (no generated
secret anywhere in it, a redaction report), and the license server's signed usage report
(verifies with the vendor key, fails with one byte flipped).

Own state dir and ports (like test_core_e2e), removed at the end.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import DEMO_VENDOR_PUB, ROOT, port_sets, run_cli
from tests.e2e.testhosts import can_run_docker, sandbox_hosts

pytestmark = pytest.mark.e2e


def started_at(name: str) -> str:
    return subprocess.run(
        ["docker", "inspect", "--format", "{{.State.StartedAt}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="module")
def installed(demo_bundle, tmp_path_factory, ports, skip_args):
    state = tmp_path_factory.mktemp("support-state")
    res = run_cli("inall", "-y", "--json", *port_sets(ports), *skip_args,
                  bundle=demo_bundle, state_dir=state)  # fmt: skip
    assert res.rc == 0, res.stderr[-3000:]
    names = {e["module"]: e["container"] for e in res.json()["endpoints"]}
    try:
        yield demo_bundle, state, names
    finally:
        run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)


def secrets_of(state: Path) -> dict[str, str]:
    doc = json.loads((state / "secrets.json").read_text())["secrets"]
    assert doc, "the demo generates secrets (MySQL passwords, the seat key)"
    return {k: str(v) for k, v in doc.items()}


def test_logs_by_module_name(installed) -> None:
    bundle, state, names = installed
    res = run_cli("logs", "face-server", "--tail", "5", "--json", state_dir=state)
    assert res.rc == 0, res.stderr
    doc = res.json()
    assert doc["containers"] == [names["face-server"]]
    assert 0 < len(doc["lines"]) <= 5
    plain = run_cli("logs", "mysql", "--tail", "3", state_dir=state)
    assert plain.rc == 0 and len(plain.stdout.strip().splitlines()) == 3
    nowhere = run_cli("logs", "no-such-module", state_dir=state)
    assert nowhere.rc == 2 and "does not run on this machine" in nowhere.stderr


def test_restart_is_seen_in_the_engine_and_follow_shows_the_new_lines(installed) -> None:
    bundle, state, names = installed
    name = names["face-server"]
    before = started_at(name)
    cmd = [sys.executable, str(ROOT / "install.py"), "--state-dir", str(state),
           "logs", "face-server", "-f", "--tail", "1"]  # fmt: skip
    env = dict(os.environ, SEALBOX_TRUST=str(DEMO_VENDOR_PUB))
    follow = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        time.sleep(3)
        res = run_cli("restart", "face-server", "--json", state_dir=state)
        assert res.rc == 0, res.stderr
        (done,) = res.json()["restarted"]
        after = started_at(name)
        assert after != before and done["started_at"] == after and done["status"] == "running"
        time.sleep(4)
    finally:
        follow.send_signal(signal.SIGINT)
        out, err = follow.communicate(timeout=20)
    assert follow.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err
    # the lines the restarted service wrote at start came through -f
    assert len(out.decode().splitlines()) > 1, out.decode()


def test_support_bundle_has_no_secret_and_a_usage_report_that_verifies(installed, tmp_path) -> None:
    bundle, state, names = installed
    secrets = secrets_of(state)
    # put a generated secret where a careless tool would: in a run log, plain and gzipped,
    # and a DSN in a history file (the support bundle takes <state>/logs and <state>/history*)
    mysql = names["mysql"]
    pw = next(v for k, v in secrets.items() if "password" in k)
    (state / "logs").mkdir(exist_ok=True)
    (state / "logs" / "debug.log").write_text(f"debug: connect with {pw}\n")
    (state / "logs" / "old.log.gz").write_bytes(gzip.compress(f"old: {pw}\n".encode()))
    (state / "history-test.json").write_text('{"dsn": "mysql://app:not-generated-pw@db/x"}\n')
    out = tmp_path / "support.tar.gz"
    res = run_cli("support-bundle", "-o", str(out), "--json", bundle=bundle, state_dir=state)
    assert res.rc == 0, res.stderr[-3000:]
    raw = out.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for m in tar:
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                files[m.name.split("/", 1)[1]] = f.read()
    for name, value in secrets.items():
        assert value.encode() not in raw, f"{name} in the raw archive"
        for path, data in files.items():
            assert value.encode() not in data, f"{name} in {path}"
    host = next(p.split("/")[0] for p in files if p.endswith("/facts.json"))
    for part in ("facts.json", "envcheck.json", "li.json", "containers.json",
                 "state/state.json", "docker-info.txt", "docker-version.txt",
                 "license-status.json", "license-usage.report", f"logs/{mysql}.log"):  # fmt: skip
        assert f"{host}/{part}" in files, part
    assert b"debug: connect with [REDACTED:" in files[f"{host}/sealbox-logs/debug.log"]
    assert b"old: [REDACTED:" in gzip.decompress(files[f"{host}/sealbox-logs/old.log.gz"])
    history = files[f"{host}/state/history-test.json"]
    assert b"not-generated-pw" not in history and b"app:[REDACTED]@db" in history
    report = json.loads(files["redaction-report.json"])
    assert report["by_rule"].get(f"secret:{next(k for k, v in secrets.items() if v == pw)}")
    assert set(report["secrets_known"]) <= set(secrets)
    # the usage report: verifies offline with the vendor key; one flipped byte fails
    usage = tmp_path / "usage.report"
    usage.write_bytes(files[f"{host}/license-usage.report"])
    ok = run_cli("license", "usage", "verify", str(usage), "--vendor-pub", str(DEMO_VENDOR_PUB),
                 "--json")  # fmt: skip
    assert ok.rc == 0, ok.stderr
    doc = ok.json()
    assert doc["usage"]["modules"]["face-server"]["grants"] >= 1
    assert doc["usage"]["modules"]["face-server"]["peak_seats"] >= 1
    bad = bytearray(usage.read_bytes())
    bad[len(bad) // 2] ^= 0x01
    usage.write_bytes(bytes(bad))
    refused = run_cli("license", "usage", "verify", str(usage), "--vendor-pub",
                      str(DEMO_VENDOR_PUB))  # fmt: skip
    assert refused.rc != 0 and "does NOT verify" in refused.stderr


LABELS = {
    "io.sealbox.managed": "true",
    "io.sealbox.deployment": "default",
    "io.sealbox.module": "ticker",
    "io.sealbox.instance": "0",
}
TICK = "import time\nwhile True:\n print('tick', time.time(), flush=True)\n time.sleep(0.5)\n"


def test_logs_and_restart_over_ssh_on_a_sandbox_host(demo_bundle, tmp_path) -> None:
    """A module's container on a remote engine, found by its labels over -H."""
    why = can_run_docker()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    image = "sealbox-demo/license-server:0.1"
    with sandbox_hosts(1, docker=True) as (h,):
        saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
        h.exec(["docker", "load"], input=saved)
        labels = [a for k, v in LABELS.items() for a in ("--label", f"{k}={v}")]
        h.exec(["docker", "run", "-d", "--name", "sealbox-ticker-0", "--network", "none",
                *labels, "--entrypoint", "python3", image, "-c", TICK])  # fmt: skip
        kh = tmp_path / "known_hosts"
        kh.write_text(h.known_hosts_line())
        target = ["-H", f"root@{h.address}", "--identity", h.client_key,
                  "--known-hosts", str(kh)]  # fmt: skip
        time.sleep(2)
        res = run_cli("logs", "ticker", "--tail", "2", *target)
        assert res.rc == 0, res.stderr
        lines = [x for x in res.stdout.splitlines() if "| tick" in x]
        assert len(lines) == 2 and all(x.startswith("[") for x in lines), res.stdout
        assert "sealbox-ticker-0 | tick" in lines[0]

        def remote_started() -> str:
            got = h.exec(["docker", "inspect", "--format", "{{.State.StartedAt}}",
                          "sealbox-ticker-0"])  # fmt: skip
            return got.stdout.decode().strip()

        before = remote_started()
        res = run_cli("restart", "ticker", "--json", *target)
        assert res.rc == 0, res.stderr
        (host,) = res.json()["hosts"]
        assert host["status"] == "changed"
        assert remote_started() != before
        assert host["data"]["restarted"][0]["started_at"] == remote_started()
        gone = run_cli("logs", "nothing-here", *target)
        assert gone.rc == 2 and "does not run on any of the hosts" in gone.stderr
        # the support bundle over SSH: the remote host's own folder
        out = tmp_path / "remote.tar.gz"
        res = run_cli("support-bundle", "-o", str(out), *target)
        assert res.rc == 0, res.stderr[-2000:]
        with tarfile.open(out) as tar:
            names = {m.name.split("/", 1)[1] for m in tar if m.isfile()}
        folder = next(n.split("/")[0] for n in names if n.endswith("/facts.json"))
        for part in ("facts.json", "envcheck.json", "containers.json", "docker-info.txt",
                     "logs/sealbox-ticker-0.log", "errors.json"):  # fmt: skip
            assert f"{folder}/{part}" in names, part
