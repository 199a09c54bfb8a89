"""One host's support folder from recorded outputs: the parts that answer are collected, the
ones that fail are named in errors.json (a broken host still gives a bundle), history files
are globbed, and the generated secrets go to the redactor only."""

from __future__ import annotations

import json

from installer import constants as L
from installer.deploy.state import StateStore
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.support.collect import collect_host

ROOT = "/var/lib/sealbox-t"


def test_collect_a_half_broken_host() -> None:
    cont = {
        "Id": "c1",
        "Name": "/sealbox-db-0",
        "Config": {"Labels": {L.MODULE: "db", L.INSTANCE: "0", L.MANAGED: "true"}},
        "State": {"Status": "running", "Running": True, "StartedAt": "T0"},
    }
    host = RecordedHost(
        {
            "docker ps -aq": "c1",
            "docker container inspect c1": json.dumps([cont]),
            "docker logs --timestamps --tail 7 sealbox-db-0": "2026-12-06T05:00:00.000000000Z up\n",
            "docker info": "Server Version: 20.10\n",
            "docker version": Result("docker version", 1, "", "Cannot connect to the daemon"),
            f"sh -c 'find {ROOT}/history* ": f"{ROOT}/history.json\n",
            f"sh -c 'find {ROOT}/logs ": f"{ROOT}/logs/db-0-1.log\n",
        },
        files={
            f"{ROOT}/state.json": b'{"modules": {}}',
            f"{ROOT}/secrets.json": b'{"secrets": {"db_password": "pw-123456789"}}',
            f"{ROOT}/history.json": b"[]",
            f"{ROOT}/logs/db-0-1.log": b"x" * 10,
        },
        name="db-host",
    )
    hb = collect_host(host, StateStore(host, ROOT), lambda _e: None, tail=7)
    assert hb.secrets == {"db_password": "pw-123456789"}
    assert set(hb.files) >= {
        "containers.json",
        "logs/sealbox-db-0.log",
        "docker-info.txt",
        "state/state.json",
        "state/history.json",
        "sealbox-logs/db-0-1.log",
        "errors.json",
    }
    assert "secrets.json" not in " ".join(hb.files)
    assert b"pw-123456789" not in b"".join(hb.files.values())
    assert hb.files["logs/sealbox-db-0.log"].startswith(b"2026-12-06T05:00:00")
    errors = json.loads(hb.files["errors.json"])
    assert "docker-version" in errors and "daemon" in errors["docker-version"]
    assert "license" in errors and "li" in errors
