"""``logs -f`` over several hosts: each round's lines of all hosts in engine-time order, each
line once (the next round asks ``--since`` the last one seen), a failing host dropped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from installer import constants as L
from installer.deploy.state import StateStore
from installer.fleet.fleet import OnHost
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost
from installer.support.jobs import follow


def _host(name: str, rounds: list[str]) -> RecordedHost:
    cont = {
        "Id": "c-" + name,
        "Name": "/sealbox-app-0",
        "Config": {"Labels": {L.MODULE: "app", L.INSTANCE: "0", L.MANAGED: "true"}},
        "State": {"Running": True},
    }
    calls = iter(rounds)

    def logs(cmd: str) -> Result:
        return Result(cmd, 0, next(calls, ""), "")

    return RecordedHost(
        {
            "docker ps -aq": "c-" + name,
            f"docker container inspect c-{name}": json.dumps([cont]),
            "docker logs --timestamps": logs,
        },
        name=name,
    )


@dataclass
class FakeInventory:
    hosts: dict[str, Any]


class FakeFleet:
    def __init__(self, hosts: dict[str, RecordedHost]) -> None:
        self.hosts = hosts
        self.inventory = FakeInventory({n: None for n in hosts})
        self.closed = False

    def on(self, name: str) -> OnHost:
        if name == "down":
            raise OSError("connection refused")
        h = self.hosts[name]
        return OnHost(name, h, StateStore(h, "/var/lib/sealbox"), "")

    def close(self) -> None:
        self.closed = True


def t(sec: int) -> str:
    return f"2026-12-06T05:00:{sec:02d}.000000000Z"


def test_two_hosts_interleaved_in_time_each_line_once() -> None:
    a = _host("a", [f"{t(1)} a1\n{t(4)} a4\n", f"{t(4)} a4\n{t(6)} a6\n"])
    b = _host("b", [f"{t(2)} b2\n{t(3)} b3\n", f"{t(5)} b5\n"])
    fleet = FakeFleet({"a": a, "b": b, "down": a})
    got: list[str] = []
    warned: list[str] = []
    follow(
        fleet,  # type: ignore[arg-type]
        "app",
        None,
        10,
        lambda host, lines: got.extend(f"{host}:{x.text}" for x in lines),
        interval=0,
        polls=2,
        on_event=lambda host, ev: warned.append(host),
    )
    assert got == ["a:a1", "b:b2", "b:b3", "a:a4", "b:b5", "a:a6"]
    assert warned == ["down"] and fleet.closed
    # the second round asked each host only for what came after its last line
    assert any(f"--since {t(4)}" in c for c in a.commands)
    assert any(f"--since {t(3)}" in c for c in b.commands)
