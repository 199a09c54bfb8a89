"""Core, end to end on the real Docker engine: inall, idempotence, recreate, rm, data kept, purge.

Uses the field guide ports (8887, 8300, 5535) when free, else alternates, and its own state dir, so the containers carry this
test's deployment id. Nothing else may listen on those ports while it runs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import DEMO_VENDOR_PUB, ROOT, http_json, port_sets, run_cli

pytestmark = pytest.mark.e2e


LIC, HTTP, DB = 8887, 8300, 5535  # replaced by the `ports` fixture
SETS: list[str] = []


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http(method: str, port: int, path: str, body=None):
    return http_json(method, port, path, body)


def containers(state_dir: Path) -> dict[str, str]:
    """name -> status of this deployment's containers, straight from docker."""
    from installer.deploy.state import StateStore
    from installer.hosts.local import LocalHost

    dep = StateStore(LocalHost(), str(state_dir)).deployment_id
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=io.sealbox.deployment={dep}",
            "--format",
            "{{.Names}} {{.State}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines() if line)


@pytest.fixture(scope="module")
def deployment(demo_bundle, tmp_path_factory, ports, skip_args):
    global LIC, HTTP, DB, SETS
    LIC, HTTP, DB = ports["license_port"], ports["http_port"], ports["mysql_port"]
    SETS = port_sets(ports) + skip_args
    state = tmp_path_factory.mktemp("state")
    yield demo_bundle, state
    run_cli("rmall", "--purge", "--yes", bundle=demo_bundle, state_dir=state)


def test_inall_then_everything_after(deployment):
    bundle, state = deployment
    # --- inall: all healthy, endpoints printed
    res = run_cli("inall", "-y", "--json", *SETS, bundle=bundle, state_dir=state)
    assert res.rc == 0, res.stderr
    out = res.json()
    assert {e["port"] for e in out["endpoints"]} == {LIC, HTTP, DB}
    assert set(out["changed"]) == {"license-server", "mysql", "face-server"}

    # --- the stand-in face-server round-trips a record through MySQL
    status, health = http("GET", HTTP, "/health")
    assert status == 200 and health["licensed"] is True and health["db"] == "ok"
    status, created = http("POST", HTTP, "/v1/faces", {"name": "alice", "feature": [0.1, 0.2, 0.3]})
    assert status == 201
    face_id = created["id"]
    status, faces = http("GET", HTTP, "/v1/faces")
    assert any(f["id"] == face_id and f["name"] == "alice" for f in faces)

    # --- li shows all three, running and healthy
    li = run_cli("li", "--json", bundle=bundle, state_dir=state)
    assert li.rc == 0, li.stderr
    rows = {r["module"]: r for r in li.json()["instances"]}
    assert set(rows) == {"license-server", "mysql", "face-server"}
    assert all(r["state"] == "running" and r["health"] == "healthy" for r in rows.values()), rows
    # ... and the license state, from the license server itself (issue 13 item 8)
    lic = li.json()["license"]
    assert lic["serving"] is True and lic["days_left"] > 0, lic
    assert lic["seats"]["face-server"]["in_use"] == 1, lic
    table = run_cli("li", bundle=bundle, state_dir=state)
    assert "License (" in table.stdout and "): serving" in table.stdout, table.stdout

    # --- secrets: 0600, never in state.json, never on a docker command line
    secrets_file = state / "secrets.json"
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    secrets = json.loads(secrets_file.read_text())["secrets"]
    assert len(secrets["mysql_password"]) == 32
    assert secrets["mysql_password"] not in (state / "state.json").read_text()
    assert secrets["mysql_password"] not in res.stdout + res.stderr
    inspect = subprocess.run(
        ["docker", "inspect", *containers(state)], capture_output=True, text=True
    ).stdout
    assert (
        secrets["mysql_password"] not in inspect and secrets["mysql_root_password"] not in inspect
    )

    # --- a second inall loads nothing and recreates nothing
    again = run_cli("inall", "-y", "--json", *SETS, bundle=bundle, state_dir=state)
    assert again.rc == 0, again.stderr
    out2 = again.json()
    assert out2["images_loaded"] == 0 and out2["changed"] == []
    assert {a["kind"] for a in out2["actions"]} == {"noop"}

    # --- changing a face-server variable recreates only face-server
    before = subprocess.run(
        ["docker", "inspect", "--format", "{{.Name}} {{.Id}}", *containers(state)],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    changed = run_cli(
        "inall", "-y", "--json", "--set", "license_check_interval=7", bundle=bundle, state_dir=state
    )
    assert changed.rc == 0, changed.stderr
    kinds = {(a["module"], a["kind"]) for a in changed.json()["actions"]}
    assert kinds == {("license-server", "noop"), ("mysql", "noop"), ("face-server", "recreate")}
    # the recreate says what changed: the variable's name and the file, never a value
    (why,) = [a["reason"] for a in changed.json()["actions"] if a["kind"] == "recreate"]
    assert why.startswith("changed: license_check_interval, file "), why
    assert "service.conf" in why and "=7" not in why and " 7" not in why
    assert "will be recreated: changed: license_check_interval" in changed.stderr
    assert secrets["mysql_password"] not in changed.stdout + changed.stderr
    after = subprocess.run(
        ["docker", "inspect", "--format", "{{.Name}} {{.Id}}", *containers(state)],
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    same = set(before) & set(after)
    assert len([x for x in same if "face-server" not in x and x]) == 2
    assert not [x for x in same if "face-server" in x]
    assert http("GET", HTTP, "/health")[0] == 200
    assert any(f["id"] == face_id for f in http("GET", HTTP, "/v1/faces")[1])

    # --- rm mysql is refused while face-server depends on it
    refused = run_cli("rm", "mysql", bundle=bundle, state_dir=state)
    assert refused.rc == 2 and "face-server depend(s) on mysql" in refused.stderr

    # --- rm face-server leaves mysql (and the license server) running
    rm = run_cli("rm", "face-server", bundle=bundle, state_dir=state)
    assert rm.rc == 0, rm.stderr
    now = containers(state)
    assert not [n for n in now if "face-server" in n]
    assert [s for n, s in now.items() if "mysql" in n] == ["running"]
    assert port_open(DB) and not port_open(HTTP)

    # --- rm mysql then in mysql keeps the data (and its generated passwords)
    assert run_cli("rm", "mysql", bundle=bundle, state_dir=state).rc == 0
    assert not port_open(DB)
    assert (state / "data" / "mysql" / "db").is_dir()
    back = run_cli("in", "face-server", "-y", "--json", *SETS, bundle=bundle, state_dir=state)
    assert back.rc == 0, back.stderr
    assert (
        json.loads((state / "secrets.json").read_text())["secrets"]["mysql_password"]
        == secrets["mysql_password"]
    )
    assert any(
        f["id"] == face_id and f["name"] == "alice" for f in http("GET", HTTP, "/v1/faces")[1]
    )

    # --- secrets.json lost while MySQL's data exists: refused with the fix, nothing touched
    # (it used to generate new passwords, recreate both containers, and fail with "Access
    # denied" after the health timeout)
    running = containers(state)
    kept = (state / "secrets.json").read_bytes()
    (state / "secrets.json").unlink()
    try:
        lost = run_cli("in", "face-server", "-y", *SETS, bundle=bundle, state_dir=state)
        assert lost.rc == 3, lost.stderr
        # the first module in install order with data and lost secrets is named: the license
        # server (its seat key) comes before mysql (its passwords)
        assert "license-server has data" in lost.stderr and "restore" in lost.stderr, lost.stderr
        assert "rm license-server --purge --yes" in lost.stderr
        assert containers(state) == running
        assert not (state / "secrets.json").exists()
    finally:
        (state / "secrets.json").write_bytes(kept)
    assert run_cli("in", "face-server", "-y", *SETS, bundle=bundle, state_dir=state).rc == 0

    # --- --purge with nobody to ask (no terminal) and no --yes: exit 2, nothing deleted
    running = containers(state)
    for args in (["rm", "mysql", "--purge", "--force"], ["rmall", "--purge"]):
        refused = run_cli(*args, bundle=bundle, state_dir=state)
        assert refused.rc == 2 and "add --yes to confirm" in refused.stderr, refused.stderr
        assert "nothing was deleted" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert containers(state) == running
    assert (state / "data" / "mysql" / "db").is_dir() and (state / "secrets.json").exists()

    # --- rmall --purge --yes leaves no container, no state, no data dir
    purge = run_cli("rmall", "--purge", "--yes", bundle=bundle, state_dir=state)
    assert purge.rc == 0, purge.stderr
    assert containers(state) == {}
    assert not (state / "state.json").exists() and not (state / "secrets.json").exists()
    assert not (state / "data").exists() and not (state / "config").exists()
    assert not any(port_open(p) for p in (LIC, HTTP, DB))


def test_two_instances_get_their_own_ports(deployment):
    bundle, state = deployment
    res = run_cli(
        "in",
        "face-server",
        "--instances",
        "2",
        "-y",
        "--json",
        *SETS,
        bundle=bundle,
        state_dir=state,
    )
    assert res.rc == 0, res.stderr
    face_ports = sorted(e["port"] for e in res.json()["endpoints"] if e["module"] == "face-server")
    assert face_ports == [HTTP, HTTP + 1]
    for port in face_ports:
        status, health = http("GET", port, "/health")
        assert status == 200 and str(health["instance"]) == str(port - HTTP)
    # the count is remembered: a plain inall keeps two instances
    again = run_cli("inall", "-y", "--json", *SETS, bundle=bundle, state_dir=state)
    assert again.rc == 0 and again.json()["changed"] == []
    # and can be lowered: the extra instance is removed
    one = run_cli(
        "in", "face-server", "--instances", "1", "-y", "--json", bundle=bundle, state_dir=state
    )
    assert one.rc == 0, one.stderr
    removed = [a["container"] for a in one.json()["actions"] if a["kind"] == "remove"]
    assert len(removed) == 1 and removed[0].endswith("face-server-1")
    assert not port_open(HTTP + 1)
    assert len([n for n in containers(state) if "face-server" in n]) == 1
    assert run_cli("rmall", "--purge", "--yes", bundle=bundle, state_dir=state).rc == 0


def test_image_is_loaded_from_the_bundle_when_absent(deployment, tmp_path):
    """An image the engine lacks is streamed in from its .tar.zst, and its ID checked.

    A throwaway image derived from the stand-in (one extra label) is used, so this works even
    while a demo deployment keeps the demo images in use.
    """
    import shutil

    import yaml

    from installer.bundle.create import create_bundle, load_definition

    bundle, state = deployment
    ref = "sealbox-test/face-server-load:1"
    build = subprocess.run(
        ["docker", "build", "-q", "-t", ref, "-"],
        input="FROM sealbox-demo/face-server-standin:1.0\nLABEL io.sealbox.test=image-load\n",
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    assert build.returncode == 0, build.stderr
    src = tmp_path / "src"
    shutil.copytree(ROOT / "modules", src / "modules")
    shutil.copytree(ROOT / "templates", src / "templates")
    spec_file = src / "modules" / "face-server.yaml"
    spec = yaml.safe_load(spec_file.read_text())
    spec["image"] = {"ref": ref, "archive": "images/face-server-load.tar.zst"}
    spec_file.write_text(yaml.safe_dump(spec))
    (src / "bundle.yaml").write_text(
        yaml.safe_dump(
            {
                "product": "load-test",
                "version": "1",
                "modules": ["license-server", "mysql", "face-server"],
            }
        )
    )
    out = tmp_path / "bundle"
    from installer import signing

    key = signing.load_private(str(DEMO_VENDOR_PUB.with_suffix(".key")))
    create_bundle(
        load_definition(str(src / "bundle.yaml")),
        str(out),
        key=key,
        carry=False,
        license_dir=str(ROOT / "build" / "demo-license"),
    )
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(["docker", "rmi", ref], capture_output=True, check=True)
    try:
        res = run_cli("inall", "-y", "--json", *SETS, bundle=out, state_dir=state)
        assert res.rc == 0, res.stderr
        assert res.json()["images_loaded"] == 1
        got = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", ref],
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert got == image_id
        assert http("GET", HTTP, "/health")[0] == 200
    finally:
        assert run_cli("rmall", "--purge", "--yes", bundle=out, state_dir=state).rc == 0
        subprocess.run(["docker", "rmi", ref], capture_output=True)
