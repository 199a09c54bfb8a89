"""logs/restart by module name through the runtime: containers by label, lines merged in time
order, ``-f`` polls with ``--since`` and shows each line once, prefixes per host/container."""

from __future__ import annotations

import json

from installer import constants as L
from installer.hosts.recorded import RecordedHost
from installer.runtime.docker import DockerRuntime
from installer.support.logs import (
    LogLine,
    last_times,
    module_containers,
    prefixed,
    read_logs,
    restart_module,
)


def _container(name: str, module: str, instance: int, started: str = "T0") -> dict:
    return {
        "Id": name + "-id",
        "Name": "/" + name,
        "Config": {"Labels": {L.MODULE: module, L.INSTANCE: str(instance), L.MANAGED: "true"}},
        "State": {"Status": "running", "Running": True, "StartedAt": started},
    }


def _host(logs: dict[str, str]) -> RecordedHost:
    conts = [_container("sb-face-1", "face", 1), _container("sb-face-0", "face", 0),
             _container("sb-db-0", "db", 0)]  # fmt: skip
    answers = {
        "docker ps -aq": "\n".join(c["Id"] for c in conts),
        "docker container inspect sb-face-1-id": json.dumps(conts),
    }
    for name, text in logs.items():
        answers[f"docker logs --timestamps --tail 5 {name}"] = text
    return RecordedHost(answers, name="h1")


def test_containers_by_module_label_and_instance() -> None:
    rt = DockerRuntime(_host({}))
    assert [c.name for c in module_containers(rt, "face")] == ["sb-face-0", "sb-face-1"]
    assert [c.name for c in module_containers(rt, "face", 1)] == ["sb-face-1"]
    assert module_containers(rt, "nope") == []


def test_lines_of_several_containers_are_merged_in_engine_time_order() -> None:
    host = _host(
        {
            "sb-face-0": "2026-12-06T05:00:01.000000000Z b\n2026-12-06T05:00:03.000000000Z d\n",
            "sb-face-1": "2026-12-06T05:00:02.000000000Z c\n2026-12-06T05:00:00.000000000Z a\n",
        }
    )
    rt = DockerRuntime(host)
    lines = read_logs(rt, module_containers(rt, "face"), tail=5)
    assert [x.text for x in lines] == ["a", "b", "c", "d"]
    assert last_times(lines) == {
        "sb-face-0": "2026-12-06T05:00:03.000000000Z",
        "sb-face-1": "2026-12-06T05:00:02.000000000Z",
    }


def test_follow_asks_since_the_last_line_and_drops_the_line_at_that_time() -> None:
    seen = "2026-12-06T05:00:03.000000000Z"
    host = RecordedHost(
        {
            f"docker logs --timestamps --since {seen} sb-face-0": f"{seen} old\n"
            "2026-12-06T05:00:04.000000000Z new\n"
        }  # fmt: skip
    )
    rt = DockerRuntime(host)
    from installer.runtime.container import Container

    c = Container(_container("sb-face-0", "face", 0))
    got = read_logs(rt, [c], tail=5, since={"sb-face-0": seen})
    assert [x.text for x in got] == ["new"]
    assert host.commands == [f"docker logs --timestamps --since {seen} sb-face-0"]


def test_prefixes() -> None:
    line = LogLine("2026-12-06T05:00:00.000000000Z", "sb-face-0", "ready")
    assert prefixed("", line, with_container=False) == "ready"
    assert prefixed("", line, with_container=True) == "sb-face-0 | ready"
    assert prefixed("gpu01", line, with_container=False) == "[gpu01] sb-face-0 | ready"
    assert LogLine.parse("c", "2026-12-06T05:00:00.000000000Z a b").text == "a b"


def test_restart_reports_what_the_engine_says() -> None:
    after = _container("sb-face-0", "face", 0, started="T1")
    host = RecordedHost(
        {
            "docker restart -t 30 sb-face-0": "sb-face-0",
            "docker container inspect sb-face-0": json.dumps([after]),
        }
    )
    from installer.runtime.container import Container

    done = restart_module(DockerRuntime(host), [Container(_container("sb-face-0", "face", 0))])
    assert done == [
        {"container": "sb-face-0", "started_before": "T0", "started_at": "T1", "status": "running"}
    ]


def test_kubectl_prefixed_lines_are_parsed_and_merged() -> None:
    from installer.support.k8s import parse_prefixed

    text = (
        "[pod/face-server-1/face-server] 2026-12-06T05:00:02.000000000Z second\n"
        "[pod/face-server-0/face-server] 2026-12-06T05:00:01.000000000Z first\n"
    )
    lines = parse_prefixed(text)
    assert [(x.container, x.text) for x in lines] == [
        ("face-server-0/face-server", "first"),
        ("face-server-1/face-server", "second"),
    ]
