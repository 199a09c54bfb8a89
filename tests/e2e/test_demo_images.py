"""End to end: the demo images built by demo/build_images.py keep the contracts the engine's
module specs rely on. The containers are started by hand (not by the engine) with host
networking on non-default ports and `demoimg-` names, so this never clashes with engine tests.

The tests run in file order and share one set of containers: each step builds on the last
(mariadb up -> face-server refused -> licensed -> records -> mariadb restart -> license gone).
The license server is the real one: it gets a license issued here for THIS machine, signed with
the demo vendor key that demo/images/license-server/stage.py pins into the image.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from fingerprint.collect import collect
from installer import signing
from installer.hosts.local import LocalHost
from installer.license.issue import issue
from installer.license.shipped import fileformat
from installer.license.shipped.model import ModuleGrant

from .fake_license import fake_license_server

pymysql = pytest.importorskip("pymysql")

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "demo" / "build_images.py"
LIC_PORT, FACE_PORT, DB_PORT = 18887, 18300, 15535
INTERVAL = 2  # face-server license re-check interval for these tests (default is 10 s)
LEASE_TTL = 4  # license server --lease-ttl for these tests (default 30 s, minimum 2 s)
# Without a license server the face-server refuses once its lease has run out (offline grace 0
# here): at the first check after the TTL, so within TTL + INTERVAL, plus slack for requests.
REFUSE_BOUND = LEASE_TTL + INTERVAL + 2
LICENSE_ID = f"LIC-DEMOIMG-{os.getpid()}"
PREFIX = "demoimg-"
MARIADB, LICENSE, FACE = f"{PREFIX}mariadb", f"{PREFIX}license", f"{PREFIX}face"
IMG_BASE = "sealbox-demo/base:bookworm"
IMG_DB = "sealbox-demo/mariadb:10.11"
IMG_LIC = "sealbox-demo/license-server:0.1"
IMG_FACE = "sealbox-demo/face-server-standin:1.0"
IMG_FACE_V2 = "sealbox-demo/face-server-standin:1.1"  # the demo's v2 (issue 20), one layer over 1.0
LIC_CMD = ["python3", "-m", "installer.license.shipped.server", "--port", "8887"]
CONTAINER_LICENSE_DIR = "/etc/sealbox/license"
CONTAINER_STATE_DIR = "/var/lib/sealbox-license"
DEMO_VENDOR_KEY = REPO / "build" / "demo-vendor" / "vendor.key"
# The read-only host view modules/license-server.yaml gives the server (--fact-root /host).
HOST_VIEW = [
    arg
    for src, dst in (
        ("/etc/machine-id", "etc/machine-id"),
        ("/sys", "sys"),
        ("/run/udev", "run/udev"),
        ("/proc/1/mountinfo", "proc/self/mountinfo"),
        ("/proc/cpuinfo", "proc/cpuinfo"),
    )
    for arg in ("-v", f"{src}:/host/{dst}:ro")
]


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """docker CLI with captured text output; a failure shows its stderr."""
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def wait_until(fn: Callable[[], Any], timeout: float, step: float = 0.2) -> Any:
    """Poll fn until it returns something truthy; return that, or the last value on timeout."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = fn()
    return value


def exit_code(name: str) -> Optional[int]:
    """The container's exit code once it has exited, else None."""
    out = docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).stdout
    status, code = out.split()
    return int(code) if status == "exited" else None


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def demo_vendor_key() -> signing.PrivateKey:
    """The demo vendor key the build pinned into the license-server image (fail if it did not:
    a license signed with any other key is refused by the image, by design)."""
    if not DEMO_VENDOR_KEY.is_file():
        pytest.fail(f"{DEMO_VENDOR_KEY} missing: run demo/build_images.py (stage.py makes it)")
    key = signing.load_private(str(DEMO_VENDOR_KEY))
    pinned = docker("run", "--rm", "--network", "none", IMG_LIC, "cat", "/app/pinned/vendor.pub")
    if pinned.stdout.encode() != key.public.pem():
        pytest.fail(
            f"{IMG_LIC} does not pin {DEMO_VENDOR_KEY.with_suffix('.pub')} (built with "
            "SEALBOX_VENDOR_PUB?): rebuild with demo/build_images.py --force without it"
        )
    return key


def license_for_here(key: signing.PrivateKey) -> bytes:
    """A license for this machine, as the vendor would issue from its fingerprint."""
    lic = issue(
        [collect(LocalHost()).to_record()],
        modules={"face-server": ModuleGrant(2)},
        customer="demoimg e2e",
        days=30,
        allow_vm=True,  # CI machines are VMs/containers
        license_id=LICENSE_ID,
    )
    return fileformat.render(lic, key)


def http(method: str, port: int, path: str, body: Any = None, raw: Optional[bytes] = None):
    """(status, parsed JSON or text); connection errors come back as status 0."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            code, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        code, payload = exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    text = payload.decode("utf-8", "replace")
    try:
        return code, json.loads(text) if text else None
    except ValueError:
        return code, text


class Stack:
    """Paths, throwaway secrets and the containers this module started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "mysql-data"
        self.db_conf = root / "db"
        self.sconf = root / "sconf"
        self.lic_dir = root / "license"
        self.lic_state = root / "license-state"
        self.seat_key = secrets.token_hex(24)
        self.root_pw = secrets.token_urlsafe(18)
        self.app_pw = secrets.token_urlsafe(18)
        self.started: List[str] = []
        self.state: Dict[str, Any] = {}

    def write_secret(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)

    def write_init_sql(self, app_pw: str) -> None:
        self.write_secret(
            self.db_conf / "init.sql",
            f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{self.root_pw}';\n"
            "CREATE DATABASE IF NOT EXISTS facedb CHARACTER SET utf8mb4;\n"
            f"CREATE USER IF NOT EXISTS 'face'@'%' IDENTIFIED BY '{app_pw}';\n"
            "GRANT ALL PRIVILEGES ON facedb.* TO 'face'@'%';\n"
            "FLUSH PRIVILEGES;\n",
        )

    def run(self, name: str, *args: str) -> None:
        docker("rm", "-f", name, check=False)
        self.started.append(name)
        docker("run", "-d", "--name", name, "--network", "host", *args)

    def run_mariadb(self) -> None:
        self.run(
            MARIADB,
            "-v",
            f"{self.db_conf / 'my.cnf'}:/etc/sealbox/my.cnf:ro",
            "-v",
            f"{self.db_conf / 'init.sql'}:/etc/sealbox/init.sql:ro",
            "-v",
            f"{self.data}:/var/lib/mysql",
            IMG_DB,
        )

    def run_license(self) -> None:
        """As modules/license-server.yaml runs it: license dir and state dir mounted as
        directories, the seat key, the host's view read-only under /host."""
        cmd = ["python3", "-m", "installer.license.shipped.server", "--port", str(LIC_PORT)]
        cmd += ["--bind", "127.0.0.1", "--license-dir", CONTAINER_LICENSE_DIR]
        cmd += ["--state-dir", CONTAINER_STATE_DIR, "--lease-ttl", str(LEASE_TTL)]
        cmd += ["--fact-root", "/host"]
        self.write_secret(self.root / "seat" / "seat.key", self.seat_key + "\n")
        self.run(
            LICENSE,
            "-v",
            f"{self.root / 'seat'}:/etc/sealbox/seat:ro",
            "-v",
            f"{self.lic_dir}:{CONTAINER_LICENSE_DIR}",
            "-v",
            f"{self.lic_state}:{CONTAINER_STATE_DIR}",
            *HOST_VIEW,
            IMG_LIC,
            *cmd,
        )

    def run_face(self) -> None:
        self.run(
            FACE,
            "-v",
            f"{self.sconf}:/app/sconf:ro",
            "-e",
            f"LICENSE_CHECK_INTERVAL={INTERVAL}",
            "-e",
            "LICENSE_OFFLINE_GRACE=0",
            *HOST_VIEW,  # as modules/face-server.yaml mounts it: the client checks the machine
            IMG_FACE,
        )

    def db(self, password: Optional[str] = None) -> Any:
        return pymysql.connect(
            host="127.0.0.1",
            port=DB_PORT,
            user="face",
            password=password or self.app_pw,
            database="facedb",
            connect_timeout=5,
            autocommit=True,
        )

    def logs(self, name: str) -> str:
        proc = docker("logs", name, check=False)
        return proc.stdout + proc.stderr

    def cleanup(self) -> None:
        for name in dict.fromkeys(self.started):
            docker("rm", "-f", name, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def build_result() -> Tuple[Dict[str, str], float]:
    """Build (or reuse) the images; skip where this machine cannot (not root, no Docker)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (debootstrap, docker)")
    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        pytest.skip("needs a running Docker engine")
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(BUILD)], capture_output=True, text=True, timeout=3600
    )
    assert proc.returncode == 0, f"build_images.py failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout), time.monotonic() - t0


@pytest.fixture(scope="module")
def stack(build_result: Tuple[Dict[str, str], float]) -> Iterator[Stack]:
    """Config files and secrets in a private temp dir; every demoimg- container removed after."""
    busy = [p for p in (LIC_PORT, FACE_PORT, DB_PORT) if port_open(p)]
    assert not busy, f"ports {busy} already in use on 127.0.0.1: stop what listens there"
    st = Stack(Path(tempfile.mkdtemp(prefix="demoimg-")))
    try:
        os.chmod(st.root, 0o700)
        st.data.mkdir()
        st.write_secret(
            st.db_conf / "my.cnf",
            "[mysqld]\n"
            f"port = {DB_PORT}\n"
            "bind-address = 127.0.0.1\n"
            "datadir = /var/lib/mysql\n"
            "socket = /run/mysqld/mysqld.sock\n"
            "skip-name-resolve\n",
        )
        st.write_init_sql(st.app_pw)
        st.lic_dir.mkdir(mode=0o700)
        st.lic_state.mkdir(mode=0o700)
        (st.lic_dir / "license.cfg").write_bytes(license_for_here(demo_vendor_key()))
        st.write_secret(
            st.sconf / "service.conf",
            "MYSQL_SVC_SERVICE_HOST=127.0.0.1\n"
            f"MYSQL_SVC_SERVICE_PORT={DB_PORT}\n"
            "MYSQL_SVC_DATABASE=facedb\n"
            "MYSQL_SVC_USER=face\n"
            f"MYSQL_SVC_PASSWORD={st.app_pw}\n"
            "LICENSE_SERVER_HOST=127.0.0.1\n"
            f"LICENSE_SERVER_PORT={LIC_PORT}\n"
            f"LICENSE_SEAT_KEY={st.seat_key}\n"
            f"HTTP_PORT={FACE_PORT}\n"
            "HTTP_BIND=127.0.0.1\n"
            "INSTANCE=0\n"
            "GPU_ID=\n",
        )
        yield st
    finally:
        st.cleanup()


def test_images_built_labelled_and_cached(build_result: Tuple[Dict[str, str], float]) -> None:
    ids, _ = build_result
    assert set(ids) == {IMG_BASE, IMG_DB, IMG_LIC, IMG_FACE, IMG_FACE_V2}
    for ref, image_id in ids.items():
        assert image_id.startswith("sha256:"), ref
        assert docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id
    labels = {
        ref: json.loads(
            docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout
        )
        for ref in ids
    }
    assert (
        "stand-in for the vendor's face recognition model image"
        in (labels[IMG_FACE]["io.sealbox.stand-in"])
    )
    # The license server is the real one (no stand-in label), started as the module spec says.
    assert labels[IMG_LIC]["org.opencontainers.image.title"] == "sealbox-demo/license-server"
    assert "io.sealbox.stand-in" not in labels[IMG_LIC]
    cmd = json.loads(docker("image", "inspect", "--format", "{{json .Config.Cmd}}", IMG_LIC).stdout)
    assert cmd == LIC_CMD
    # The vendor key is pinned in the image and the server imports from the staged code.
    out = docker("run", "--rm", "--network", "none", IMG_LIC, "ls", "/app/pinned").stdout
    assert out.split() == ["vendor.pub"]
    # The images are for offline hosts: no apt source (and so no mirror host) left inside.
    out = docker(
        "run",
        "--rm",
        "--network",
        "none",
        IMG_BASE,
        "sh",
        "-c",
        "grep -rhv '^#' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null;"
        " ls /var/lib/apt/lists | grep -v '^partial$'; echo END",
    ).stdout
    assert out.strip() == "END", f"apt sources or lists left in the image: {out!r}"
    # Second run: everything cached, same IDs, seconds not minutes.
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(BUILD)], capture_output=True, text=True, timeout=600)
    took = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == ids
    assert took < 30, f"cached run took {took:.1f}s"
    assert "debootstrap" not in proc.stderr and "docker build" not in proc.stderr


def test_mariadb_opens_tcp_only_after_init(stack: Stack) -> None:
    stack.run_mariadb()
    t0 = time.monotonic()
    opened = wait_until(lambda: port_open(DB_PORT), timeout=180, step=0.05)
    assert opened, f"mariadb never listened on {DB_PORT}:\n{stack.logs(MARIADB)[-3000:]}"
    # The very first TCP connection must already find the app user, password and database.
    with stack.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        assert cur.fetchone() == ("face@%", "facedb")
    logs = stack.logs(MARIADB)
    assert "initialisation complete" in logs
    assert logs.index("initialisation complete") < logs.rindex("ready for connections")
    stack.state["db_start_s"] = time.monotonic() - t0
    # Secrets only ever come from the mounted files: not in argv, env or the container config.
    ps = docker("exec", MARIADB, "ps", "-eo", "args").stdout
    inspect = docker("inspect", MARIADB).stdout
    for pw in (stack.root_pw, stack.app_pw):
        assert pw not in ps and pw not in inspect
    with pytest.raises(pymysql.err.OperationalError):
        stack.db(password="wrong-" + stack.app_pw).close()


def test_face_server_refuses_without_license(stack: Stack) -> None:
    stack.run_face()
    assert wait_until(lambda: port_open(FACE_PORT), timeout=30), stack.logs(FACE)
    code, health = http("GET", FACE_PORT, "/health")
    assert code == 503, health
    assert health["licensed"] is False and health["status"] == "unavailable"
    assert f"127.0.0.1:{LIC_PORT}" in health["reason"]
    code, body = http("POST", FACE_PORT, "/v1/faces", {"name": "x", "feature": [1.0]})
    assert code == 503 and "not serving" in body["error"], body
    assert http("GET", FACE_PORT, "/v1/faces")[0] == 503
    code, banner = http("GET", FACE_PORT, "/")
    assert code == 200 and "STAND-IN" in banner and "NOT serving" in banner
    assert stack.app_pw not in docker("inspect", FACE).stdout


def test_face_server_serves_once_licensed(stack: Stack) -> None:
    stack.run_license()
    assert wait_until(lambda: port_open(LIC_PORT), timeout=30), stack.logs(LICENSE)
    code, banner = http("GET", LIC_PORT, "/")
    assert code == 200, banner
    assert banner.startswith(f"Sealbox license server 1.0: serving license {LICENSE_ID} for "), (
        banner,
        stack.logs(LICENSE)[-2000:],
    )
    t0 = time.monotonic()
    code, health = wait_until(
        lambda: (lambda r: r if r[0] == 200 else None)(http("GET", FACE_PORT, "/health")),
        timeout=INTERVAL + 10,
    ) or http("GET", FACE_PORT, "/health")
    assert code == 200, health
    assert health == {
        "status": "ok",
        "licensed": True,
        "db": "ok",
        "instance": "0",
        "gpu": None,
        "stand_in": True,
    }
    assert time.monotonic() - t0 <= INTERVAL + 5
    with stack.db() as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES LIKE 'faces'")
        assert cur.fetchone() == ("faces",)
    # The face-server holds one seat of the license, with the TTL given to the server.
    code, status = http("GET", LIC_PORT, "/v1/status")
    assert code == 200 and status["serving"] is True, status
    assert status["machine"]["ok"] is True
    assert status["license"]["license_id"] == LICENSE_ID
    assert status["grants"]["face-server"]["in_use"] == 1
    assert status["lease_ttl"] == LEASE_TTL


@pytest.mark.parametrize(
    "vendor_license", [False, True], ids=["own-key", "vendor-license-for-another-machine"]
)
def test_a_fake_license_server_leaves_the_stand_in_unlicensed(
    stack: Stack, vendor_license: bool
) -> None:
    """Issue 12, item 1: a stdlib server with a fresh key that grants everything (old TOFU
    protocol and the new one, MACed with this installation's seat key, with a license signed by
    its own key) pointed to by LICENSE_SERVER_PORT: the real stand-in image stays unlicensed.
    Issue 18, item 1: the same minimal server (no machine check, no seat count) with the seat
    key and a GENUINE vendor-signed license for another machine: still unlicensed, because the
    stand-in judges the machine itself through the read-only host view its spec mounts."""
    fake_port, face_port = LIC_PORT + 100, FACE_PORT + 100
    vendor = None
    if vendor_license:
        demo_vendor_key()  # the key pinned in the images
        vendor = DEMO_VENDOR_KEY
    name = f"{PREFIX}face-fake-{int(vendor_license)}"
    with fake_license_server(fake_port, stack.seat_key, vendor):
        conf = (stack.sconf / "service.conf").read_text()
        conf = conf.replace(f"LICENSE_SERVER_PORT={LIC_PORT}", f"LICENSE_SERVER_PORT={fake_port}")
        conf = conf.replace(f"HTTP_PORT={FACE_PORT}", f"HTTP_PORT={face_port}")
        stack.write_secret(stack.root / "sconf-fake" / "service.conf", conf)
        stack.run(
            name,
            "-v",
            f"{stack.root / 'sconf-fake'}:/app/sconf:ro",
            "-e",
            f"LICENSE_CHECK_INTERVAL={INTERVAL}",
            *HOST_VIEW,
            IMG_FACE,
        )
        assert wait_until(lambda: port_open(face_port), timeout=30), stack.logs(name)
        time.sleep(2 * INTERVAL + 1)  # several license checks against the fake
        code, health = http("GET", face_port, "/health")
        assert code == 503 and health["licensed"] is False, health
        if vendor_license:
            assert "is not for this machine" in health["reason"], health
        else:
            assert "not a vendor key pinned in this service" in health["reason"], health
        assert "license: granted" not in stack.logs(name)


def test_face_record_round_trips_through_mysql(stack: Stack) -> None:
    feature = [0.5, -1.25, 3.0e-3, 42.0]
    code, added = http("POST", FACE_PORT, "/v1/faces", {"name": "alice", "feature": feature})
    assert code == 201, added
    fid = added["id"]
    assert isinstance(fid, int)
    code, listed = http("GET", FACE_PORT, "/v1/faces")
    assert code == 200 and [f["name"] for f in listed if f["id"] == fid] == ["alice"]
    code, got = http("GET", FACE_PORT, f"/v1/faces/{fid}")
    assert code == 200 and got["feature"] == feature and got["name"] == "alice"
    with stack.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT name, dim FROM faces WHERE id=%s", (fid,))
        assert cur.fetchone() == ("alice", 4)
    assert http("DELETE", FACE_PORT, f"/v1/faces/{fid}")[0] == 204
    assert http("GET", FACE_PORT, f"/v1/faces/{fid}")[0] == 404
    assert http("DELETE", FACE_PORT, f"/v1/faces/{fid}")[0] == 404
    # Bad input: 400 with a message naming the problem.
    code, err = http("POST", FACE_PORT, "/v1/faces", raw=b"{not json")
    assert code == 400 and "bad JSON" in err["error"]
    code, err = http("POST", FACE_PORT, "/v1/faces", {"name": "bob", "feature": ["x"]})
    assert code == 400 and "feature[0]" in err["error"]
    code, err = http("POST", FACE_PORT, "/v1/faces", {"feature": [1.0]})
    assert code == 400 and "name" in err["error"]
    # The field guide's in-container test script.
    proc = docker("exec", FACE, "python3", "/app/selftest.py", check=False)
    assert proc.returncode == 0 and "selftest: PASS" in proc.stdout, proc.stdout + proc.stderr
    # A record kept for the restart test.
    code, added = http("POST", FACE_PORT, "/v1/faces", {"name": "keeper", "feature": [1.5]})
    assert code == 201
    stack.state["keeper"] = added["id"]


def test_mariadb_restart_keeps_data_and_skips_init(stack: Stack) -> None:
    keeper = stack.state.get("keeper")
    assert keeper, "needs the record from the round-trip test"
    # If init.sql ran again, the app password would change to this one.
    stack.write_init_sql("changed-" + stack.app_pw)
    docker("rm", "-f", MARIADB)
    assert wait_until(lambda: not port_open(DB_PORT), timeout=30)
    stack.run_mariadb()
    assert wait_until(lambda: port_open(DB_PORT), timeout=120), stack.logs(MARIADB)
    assert "already initialised: init.sql not re-run" in stack.logs(MARIADB)
    with stack.db() as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM faces WHERE id=%s", (keeper,))
        assert cur.fetchone() == ("keeper",)
    with pytest.raises(pymysql.err.OperationalError):
        stack.db(password="changed-" + stack.app_pw).close()
    # The face-server reconnects on its own.
    got = wait_until(
        lambda: (lambda r: r if r[0] == 200 else None)(
            http("GET", FACE_PORT, f"/v1/faces/{keeper}")
        ),
        timeout=INTERVAL + 15,
    )
    assert got and got[1]["name"] == "keeper"


def test_face_server_stops_serving_without_license(stack: Stack) -> None:
    assert http("GET", FACE_PORT, "/health")[0] == 200
    docker("rm", "-f", LICENSE)
    t0 = time.monotonic()
    refused = wait_until(
        lambda: http("GET", FACE_PORT, "/health")[0] == 503, timeout=REFUSE_BOUND + 20
    )
    took = time.monotonic() - t0
    assert refused, "face-server kept serving without a license server"
    assert took <= REFUSE_BOUND, (
        f"refused only after {took:.1f}s (lease TTL {LEASE_TTL}s, interval {INTERVAL}s, "
        "offline grace 0)"
    )
    code, body = http("GET", FACE_PORT, "/v1/faces")
    assert code == 503 and body["licensed"] is False and "license server" in body["error"]
    assert f"127.0.0.1:{LIC_PORT}" in body["error"]
    assert "license: REFUSED" in stack.logs(FACE)


def test_mariadb_failed_init_leaves_empty_datadir_and_retries(stack: Stack) -> None:
    """A broken init.sql must not leave a half-initialised data dir that later starts trust."""
    name, port = f"{PREFIX}mariadb-badinit", DB_PORT + 1
    assert not port_open(port), f"port {port} already in use"
    conf, data = stack.root / "badinit", stack.root / "badinit-data"
    data.mkdir()
    cnf = conf / "my.cnf"
    stack.write_secret(
        cnf, f"[mysqld]\nport = {port}\nbind-address = 127.0.0.1\ndatadir = /var/lib/mysql\n"
    )
    stack.write_secret(conf / "init.sql", "CREATE DATABASE facedb;\nTHIS IS NOT SQL;\n")
    args = [
        "-v",
        f"{cnf}:/etc/sealbox/my.cnf:ro",
        "-v",
        f"{conf / 'init.sql'}:/etc/sealbox/init.sql:ro",
        "-v",
        f"{data}:/var/lib/mysql",
        IMG_DB,
    ]
    stack.run(name, *args)
    code = wait_until(lambda: exit_code(name), timeout=120)
    assert code not in (None, 0), f"container did not fail: {stack.logs(name)[-2000:]}"
    assert "initialisation failed" in stack.logs(name)
    assert not port_open(port)
    assert list(data.iterdir()) == [], "failed init left files behind"
    # Fixed init.sql: the next start initialises from scratch and serves.
    stack.write_secret(conf / "init.sql", "CREATE DATABASE facedb;\n")
    stack.run(name, *args)
    assert wait_until(lambda: port_open(port), timeout=120), stack.logs(name)[-2000:]
    assert "initialisation complete" in stack.logs(name)
    docker("rm", "-f", name)
