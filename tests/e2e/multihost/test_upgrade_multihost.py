"""Day 2 over SSH on a sandbox host (own sshd, own dockerd), the same code path as on this
machine: install v1 with -H, write face records, upgrade to v2 (backup on that host, records
kept, schema changed), history, rollback (v1 by its signed image ID, v1 schema from the backup,
records readable), restore; then a v2 that fails its health comes back to v1 by itself."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import http_json
from tests.e2e.multihost.conftest import licensed_copy, run_cli

pytestmark = pytest.mark.e2e
V1, V2 = "2026.11.0", "2026.12.0"


@pytest.fixture(scope="module")
def remote(demo_bundle, demo_bundle_v2, three_hosts, known_hosts, host_skips, tmp_path_factory):
    h = three_hosts[1]
    tmp = tmp_path_factory.mktemp("up")
    grants = {"face-server": 4}
    v1 = licensed_copy(demo_bundle, [h], known_hosts, tmp / "v1", grants)
    v2 = licensed_copy(demo_bundle_v2, [h], known_hosts, tmp / "v2", grants)
    target = ["-H", f"root@{h.address}", "--identity", h.client_key, "--known-hosts", known_hosts,
              "--log-dir", str(tmp / "logs")]  # fmt: skip

    def cli(*args: str, bundle=v1):
        return run_cli("--bundle", str(bundle), *args, *target)

    yield h, v1, v2, cli, host_skips
    cli("rmall", "--purge", "--yes", bundle=v2)


def _data(res) -> dict:
    (host,) = res.json()["hosts"]
    return host["data"]


def _image_of(h, container: str) -> str:
    return (
        h.exec(["docker", "inspect", "--format", "{{.Image}}", container]).stdout.decode().strip()
    )


def _columns(h) -> list[str]:
    secrets = json.loads(open(h.path("/var/lib/sealbox/secrets.json")).read())["secrets"]
    out = h.exec(
        ["docker", "exec", "-e", f"MYSQL_PWD={secrets['mysql_root_password']}",
         "sealbox-mysql-0", "mariadb", "-uroot", "-N", "-e",
         "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_NAME='faces'"]
    )  # fmt: skip
    return out.stdout.decode().split()


def _signed(bundle, archive: str) -> str:
    doc = yaml.safe_load((bundle / "manifest.yaml").read_text())
    return next(i["id"] for i in doc["images"] if archive in (i.get("name"), i["file"]))


def test_upgrade_history_rollback_restore_over_ssh(remote) -> None:
    h, v1, v2, cli, skips = remote
    res = cli("inall", "-y", "--json", *skips)
    assert res.rc == 0, res.stderr[-3000:]
    for name in ("alice", "bob"):
        status, _ = http_json(
            "POST", 8300, "/v1/faces", {"name": name, "feature": [1.0]}, addr=h.address
        )
        assert status == 201

    res = cli("upgrade", str(v2), "-y", "--json", *skips, bundle=v2)
    assert res.rc == 0, res.stderr[-3000:]
    data = _data(res)
    assert (data["upgrade"]["from"], data["upgrade"]["to"]) == (V1, V2)
    (backup,) = data["backups"]
    assert backup.startswith("/var/lib/sealbox/backups/mysql-10.11-")
    man = json.loads(open(h.path(backup + "/manifest.json")).read())
    assert man["module"] == "mysql" and man["data_version"] == V1
    assert "quality" in _columns(h)
    assert _image_of(h, "sealbox-face-server-0") == _signed(
        v2, "images/face-server-standin-1.1.tar.zst"
    )

    res = cli("history", "--json")
    assert res.rc == 0, res.stderr
    acts = [(e["action"], e["result"], e["version"]) for e in _data(res)["history"]]
    assert ("upgrade", "ok", V2) in acts and ("install", "ok", V1) in acts

    res = cli("rollback", "--yes", "--json")
    assert res.rc == 0, res.stderr[-3000:]
    assert _data(res)["restored"] == [backup]
    assert _image_of(h, "sealbox-face-server-0") == _signed(
        v1, "images/face-server-standin.tar.zst"
    )
    assert "quality" not in _columns(h)
    status, rows = http_json("GET", 8300, "/v1/faces", addr=h.address)
    assert status == 200 and [r["name"] for r in rows] == ["alice", "bob"]

    http_json("POST", 8300, "/v1/faces", {"name": "carol", "feature": [1.0]}, addr=h.address)
    res = cli("restore", backup.rsplit("/", 1)[1], "--json")
    assert res.rc == 0, res.stderr[-3000:]
    status, rows = http_json("GET", 8300, "/v1/faces", addr=h.address)
    assert [r["name"] for r in rows] == ["alice", "bob"]

    # a v2 that fails its health comes back to v1 by itself, on that host, and says so
    res = cli("upgrade", str(v2), "-y", "--json", "--set", "face_min_quality=7", *skips, bundle=v2)
    assert res.rc != 0
    (host,) = res.json()["hosts"]
    assert host["status"] == "failed"
    assert "rolled back" in host["message"] and V1 in host["message"], host["message"]
    assert "data restored from" in host["message"]
    assert _image_of(h, "sealbox-face-server-0") == _signed(
        v1, "images/face-server-standin.tar.zst"
    )
    assert "quality" not in _columns(h)
    status, rows = http_json("GET", 8300, "/v1/faces", addr=h.address)
    assert [r["name"] for r in rows] == ["alice", "bob"]
