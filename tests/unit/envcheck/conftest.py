"""Recorded hosts for envcheck unit tests: YAML fixtures of real command output per fact."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any, Union

import pytest
import yaml

from installer.facts.catalog import fact
from installer.hosts.base import Result
from installer.hosts.recorded import RecordedHost

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "envcheck"
HOSTS = [
    "centos7-docker1712",
    "ubuntu1604-vmware",
    "ubuntu2004-healthy",
    "ubuntu2204-kvm-vgpu",
    "rhel8-nodocker",
    "debian12-kvm",
]


@functools.cache
def _yaml(name: str) -> dict[str, Any]:
    with open(FIXTURES / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load(name: str) -> dict[str, dict[str, Any]]:
    return copy.deepcopy(_yaml(name)["facts"])


def odd(case: str) -> dict[str, Any]:
    return copy.deepcopy(_yaml("odd-cases")["cases"][case])


def raw(entry: dict[str, Any], cmd: str = "cmd") -> Result:
    return Result(cmd, entry["rc"], entry.get("stdout", ""), entry.get("stderr", ""))


def fact_raw(host: str, key: str) -> Result:
    """The recorded Result of one fact on one fixture host, as the gatherer would return it."""
    return raw(load(host)[key], fact(key).shell)


def recorded_host(name: str, **swap: Union[str, dict[str, Any]]) -> RecordedHost:
    """A RecordedHost answering every fact command of fixture ``name``.

    ``swap`` replaces facts: ``docker_info="docker_info_permission_denied"`` (an odd case) or a
    raw dict ``{"rc": ..., "stdout": ...}``. File facts become files (absent when rc != 0).
    """
    facts = load(name)
    for key, value in swap.items():
        facts[key] = odd(value) if isinstance(value, str) else value
    answers: dict[str, Result] = {}
    files: dict[str, bytes] = {}
    for key, entry in facts.items():
        f = fact(key)
        if f.path is not None:
            if entry["rc"] == 0:
                files[f.path] = entry.get("stdout", "").encode()
        else:
            answers[f.shell] = raw(entry, f.shell)
    return RecordedHost(answers=answers, files=files, name=name)


@pytest.fixture(params=HOSTS)
def host_name(request: pytest.FixtureRequest) -> str:
    return request.param


OS_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "os"
OS_RELEASES = sorted(p.stem for p in OS_FIXTURES.glob("*.yaml"))


@functools.cache
def _os_yaml(name: str) -> dict[str, Any]:
    with open(OS_FIXTURES / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def os_fixture(name: str) -> dict[str, Any]:
    """A recorded release (tests/fixtures/os): its ``facts`` and what ``expect``-ed of them."""
    return copy.deepcopy(_os_yaml(name))


def os_host(release: str, base: str = "debian12-kvm", **swap: Union[str, dict[str, Any]]):
    """The real recorded ``base`` host with the OS facts of ``release`` in place of its own
    (release files, kernel, C library, package tools): the machine as that OS would show it."""
    return recorded_host(base, **{**os_fixture(release)["facts"], **swap})
