"""Multi-host end to end: an inventory places license-server on A, MySQL on B, face-server on
C (three network-namespace hosts, each with its own sshd and dockerd). ``inall`` deploys them
in cross-host order and wires C to A and B over the veth addresses; ``li -H`` per host; a
re-run changes nothing; an unreachable host is reported while the others are done.
"""

from __future__ import annotations

import time
import urllib.request

import pytest
import yaml

from tests.e2e.conftest import http_json
from tests.e2e.multihost.conftest import run_cli

pytestmark = pytest.mark.e2e


def common(known_hosts: str, tmp_path) -> list[str]:
    return ["--known-hosts", known_hosts, "--log-dir", str(tmp_path / "logs")]


def http(method: str, addr: str, port: int, path: str, body=None):
    return http_json(method, port, path, body, addr=addr)


def containers(h) -> dict[str, str]:
    out = h.exec(["docker", "ps", "-a", "--format", "{{.Names}} {{.State}}"]).stdout.decode()
    return dict(line.split(" ", 1) for line in out.strip().splitlines() if line)


def by_host(res) -> dict:
    return {h["host"]: h for h in res.json()["hosts"]}


@pytest.fixture(scope="module")
def deployed(licensed_bundle, inventory, known_hosts, host_skips, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    args = ["--bundle", str(licensed_bundle)]
    res = run_cli(
        *args,
        "inall",
        "--inventory",
        str(inventory),
        "-y",
        "--json",
        *host_skips,
        *common(known_hosts, tmp),
    )
    yield res, args, tmp
    run_cli(
        *args, "rmall", "--purge", "--yes", "--inventory", str(inventory), *common(known_hosts, tmp)
    )


def test_inall_from_inventory_places_and_wires_services(deployed, three_hosts) -> None:
    res, _, tmp = deployed
    assert res.rc == 0, res.stderr[-4000:] + res.stdout[-4000:]
    hosts = by_host(res)
    assert {n: h["status"] for n, h in hosts.items()} == {
        "lic": "changed",
        "db": "changed",
        "gpu1": "changed",
    }
    a, b, c = three_hosts
    # each service on its own host, nothing else there
    assert set(containers(a)) == {"sealbox-license-server-0"}
    assert set(containers(b)) == {"sealbox-mysql-0"}
    assert set(containers(c)) == {"sealbox-face-server-0"}
    # C was wired to A and B by address, and took B's generated credentials
    face = hosts["gpu1"]["data"]
    assert face["wired"]["license_server_host"].startswith(a.address)
    assert face["wired"]["mysql_host"].startswith(b.address)
    assert "mysql_password" in face["inherited"]
    conf = c.exec(
        ["sh", "-c", "cat /var/lib/sealbox/config/sealbox-face-server-0/*service.conf*"]
    ).stdout.decode()
    assert (
        f"LICENSE_SERVER_HOST={a.address}" in conf and f"MYSQL_SVC_SERVICE_HOST={b.address}" in conf
    )
    # the face server on C is licensed by A and stores records in B's MySQL
    status, health = http("GET", c.address, 8300, "/health")
    assert status == 200 and health["licensed"] is True and health["db"] == "ok", health
    status, created = http("POST", c.address, 8300, "/v1/faces", {"name": "bob", "feature": [0.5]})
    assert status == 201
    status, faces = http("GET", c.address, 8300, "/v1/faces")
    assert any(f["id"] == created["id"] and f["name"] == "bob" for f in faces)
    # the license server answers on A's address, from the root namespace
    # (to a peer that is not local, the banner no longer names the license: status redaction)
    with urllib.request.urlopen(f"http://{a.address}:8887/", timeout=10) as resp:
        assert resp.status == 200 and b": serving" in resp.read()
    # per-host log files
    logs = sorted(p.name for p in (tmp / "logs").iterdir())
    assert logs == ["db.log", "gpu1.log", "lic.log"]
    assert "wiring" in (tmp / "logs" / "gpu1.log").read_text()


def test_li_per_host(deployed, three_hosts, known_hosts, tmp_path) -> None:
    _, args, _ = deployed
    hs = [x for h in three_hosts for x in ("-H", f"root@{h.address}")]
    res = run_cli(
        *args,
        "li",
        "--json",
        *hs,
        "--identity",
        three_hosts[0].client_key,
        *common(known_hosts, tmp_path),
    )
    assert res.rc == 0, res.stderr
    rows = {h["host"]: h["data"] for h in res.json()["hosts"]}
    want = ["license-server", "mysql", "face-server"]
    for h, module in zip(three_hosts, want):
        (inst,) = rows[f"root@{h.address}"]["instances"]
        assert inst["module"] == module and inst["state"] == "running"
        assert inst["health"] == "healthy"
    # the license state, on the host that runs the license server (issue 13 item 8)
    lic = rows[f"root@{three_hosts[0].address}"]["license"]
    assert lic["serving"] is True and lic["days_left"] > 0, lic
    assert lic["seats"]["face-server"] == {"in_use": 1, "limit": 4}, lic
    assert all(rows[f"root@{h.address}"]["license"] is None for h in three_hosts[1:])
    table = run_cli(
        *args, "li", *hs, "--identity", three_hosts[0].client_key, *common(known_hosts, tmp_path)
    )
    assert table.rc == 0 and "Installed on root@" in table.stdout and "ok" in table.stdout
    assert "License (sealbox-license-server-0): serving" in table.stdout, table.stdout
    assert "seats in use: face-server 1/4" in table.stdout


def test_rerun_is_a_noop(deployed, inventory, known_hosts, host_skips, three_hosts, tmp_path):
    _, args, _ = deployed
    before = {h.name: containers(h) for h in three_hosts}
    ids = {
        h.name: h.exec(["docker", "ps", "-q", "--no-trunc"]).stdout.decode().split()
        for h in three_hosts
    }
    res = run_cli(
        *args,
        "inall",
        "--inventory",
        str(inventory),
        "-y",
        "--json",
        *host_skips,
        *common(known_hosts, tmp_path),
    )
    assert res.rc == 0, res.stderr[-3000:]
    for name, h in by_host(res).items():
        assert h["status"] == "ok", (name, h)
        assert h["data"]["images_loaded"] == 0
        assert {a["kind"] for a in h["data"]["actions"]} == {"noop"}
    assert {h.name: containers(h) for h in three_hosts} == before
    assert {
        h.name: h.exec(["docker", "ps", "-q", "--no-trunc"]).stdout.decode().split()
        for h in three_hosts
    } == ids


def _inall(args, inventory, host_skips, known_hosts, tmp_path):
    started = time.monotonic()
    res = run_cli(
        *args,
        "inall",
        "--inventory",
        str(inventory),
        "-y",
        "--json",
        *host_skips,
        *common(known_hosts, tmp_path),
    )
    return res, time.monotonic() - started


def _assert_blocked(res, b, c) -> dict:
    assert res.rc == 3, res.stderr[-3000:]
    hosts = by_host(res)
    assert hosts["gpu1"]["status"] == "failed", hosts["gpu1"]
    msg = hosts["gpu1"]["message"]
    assert msg.startswith(
        f"gpu1 ({c.address}) cannot reach mysql on db at {b.address}:5535 "
        "(mysql_host, mysql_port) for face-server: no answer within 3s"
    ), msg
    assert f"open TCP port 5535 from gpu1 ({c.address}) to db ({b.address})" in msg
    assert "not healthy after" not in res.stderr
    return hosts


def test_blocked_port_between_hosts_is_a_reachability_error(
    deployed, inventory, known_hosts, host_skips, three_hosts, tmp_path
) -> None:
    """Issue 13.2: a firewall on B drops C's packets to MySQL. Before any change, C is failed
    with a message naming both hosts, the address and the port; A and B are unaffected; C's
    running face-server is not touched. Then the same with MySQL installed by the run itself:
    the check runs when B is healthy, before C changes."""
    _, args, _ = deployed
    _, b, c = three_hosts
    rule = ["INPUT", "-p", "tcp", "-s", c.address, "--dport", "5535", "-j", "DROP"]
    face_id = c.exec(["docker", "ps", "-q", "--no-trunc"]).stdout.decode().split()
    b.exec(["iptables", "-I", *rule])
    try:
        res, elapsed = _inall(args, inventory, host_skips, known_hosts, tmp_path)
        hosts = _assert_blocked(res, b, c)
        assert hosts["lic"]["status"] == "ok" and hosts["db"]["status"] == "ok"
        assert elapsed < 60, elapsed  # a no-op run of 3 hosts plus one 3 s connect
        assert c.exec(["docker", "ps", "-q", "--no-trunc"]).stdout.decode().split() == face_id
        # MySQL gone from B: this run installs it; C is checked right after B is healthy
        b.exec(["docker", "rm", "-f", "sealbox-mysql-0"])
        res, _ = _inall(args, inventory, host_skips, known_hosts, tmp_path)
        hosts = _assert_blocked(res, b, c)
        assert hosts["db"]["status"] == "changed"
        assert "running" in containers(b)["sealbox-mysql-0"]
        assert c.exec(["docker", "ps", "-q", "--no-trunc"]).stdout.decode().split() == face_id
    finally:
        b.exec(["iptables", "-D", *rule], check=False)
    res, _ = _inall(args, inventory, host_skips, known_hosts, tmp_path)
    assert res.rc == 0, res.stderr[-3000:]


def test_unreachable_host_is_reported_and_others_done(
    deployed, inventory, known_hosts, host_skips, tmp_path
) -> None:
    _, args, _ = deployed
    doc = yaml.safe_load(inventory.read_text())
    doc["hosts"]["gpu2"] = {"address": "127.0.0.1", "port": 1, "modules": ["face-server"]}
    inv2 = tmp_path / "inventory.yaml"
    inv2.write_text(yaml.safe_dump(doc))
    res = run_cli(
        *args,
        "inall",
        "--inventory",
        str(inv2),
        "-y",
        "--json",
        *host_skips,
        *common(known_hosts, tmp_path),
    )
    assert res.rc != 0
    hosts = by_host(res)
    assert hosts["gpu2"]["status"] == "unreachable"
    assert "cannot reach" in hosts["gpu2"]["message"]
    assert {hosts[n]["status"] for n in ("lic", "db", "gpu1")} == {"ok"}
    table = run_cli(*args, "li", "--inventory", str(inv2), *common(known_hosts, tmp_path))
    assert table.rc != 0 and "unreachable" in table.stdout


def test_license_install_show_verify_on_a_remote_host(
    deployed, licensed_bundle, three_hosts, known_hosts, tmp_path
) -> None:
    """Issue 13 item 5: `license install/show/verify -H` replace and read the license on the
    license server's host over SSH -- verified against that host, last-good kept, that host's
    server restarted -- by the same code path as on this machine. Last in this file: it
    restarts the license server the other tests rely on."""
    import dataclasses

    from installer import signing
    from installer.license.shipped import fileformat
    from tests.e2e.multihost.conftest import DEMO_KEY

    _, args, _ = deployed
    a = three_hosts[0]
    lic_dir = "/var/lib/sealbox/data/license-server/license"
    target = ["-H", f"root@{a.address}", "--identity", a.client_key]
    target += common(known_hosts, tmp_path)
    old = (licensed_bundle / "license" / "license.cfg").read_bytes()
    key = signing.load_private(str(DEMO_KEY))
    current = fileformat.load(old, fileformat.KeyRing([key.public]), "old")
    renewed = dataclasses.replace(
        current, license_id=current.license_id + "-renewed", expires_at=current.expires_at + 86400
    )
    new_file = tmp_path / "renewed.cfg"
    new_file.write_bytes(fileformat.render(renewed, key))

    shown = run_cli(*args, "license", "show", "--json", *target)
    assert shown.rc == 0, shown.stderr[-3000:]
    (host,) = shown.json()["hosts"]
    assert host["data"]["license_id"] == current.license_id
    assert host["data"]["signature"].startswith("valid")

    started = a.exec(
        ["docker", "inspect", "-f", "{{.State.StartedAt}}", "sealbox-license-server-0"]
    ).stdout
    res = run_cli(*args, "license", "install", str(new_file), "--json", *target)
    assert res.rc == 0, res.stderr[-3000:] + res.stdout[-3000:]
    (host,) = res.json()["hosts"]
    assert host["status"] == "changed"
    assert host["data"]["license_id"] == renewed.license_id
    assert host["data"]["restarted"] == ["sealbox-license-server-0"]
    assert host["data"]["previous_kept"] == f"{lic_dir}/license.cfg.last-good"
    assert a.exec(["cat", f"{lic_dir}/license.cfg"]).stdout == new_file.read_bytes()
    assert a.exec(["cat", f"{lic_dir}/license.cfg.last-good"]).stdout == old
    assert (
        a.exec(
            ["docker", "inspect", "-f", "{{.State.StartedAt}}", "sealbox-license-server-0"]
        ).stdout
        != started
    ), "the license server on that host was not restarted"

    shown = run_cli(*args, "license", "show", *target)
    assert shown.rc == 0 and renewed.license_id in shown.stdout, shown.stdout
    verified = run_cli(*args, "license", "verify", "--json", *target)
    assert verified.rc == 0, verified.stdout[-3000:]

    # a license that fails verification changes nothing on the host
    bad = tmp_path / "bad.cfg"
    bad.write_bytes(new_file.read_bytes().replace(b"renewed", b"renewex"))
    refused = run_cli(*args, "license", "install", str(bad), "--json", *target)
    assert refused.rc == 4, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert a.exec(["cat", f"{lic_dir}/license.cfg"]).stdout == new_file.read_bytes()
