"""Sandbox hosts are as distinct as two servers (issue 19, item 7): own machine-id, root-disk
serial, NIC MAC and hostname where the fingerprint reads them, and they reach each other."""

from __future__ import annotations

import subprocess

import pytest

from fingerprint.collect import collect
from installer.hosts.ssh import SSHHost
from tests.e2e.testhosts import can_run, sandbox_hosts

pytestmark = pytest.mark.e2e


def test_two_sandbox_hosts_are_two_machines_that_reach_each_other(tmp_path) -> None:
    why = can_run()
    if why:
        pytest.skip(f"sandbox hosts: {why}")
    with sandbox_hosts(2) as hosts:
        known = tmp_path / "known_hosts"
        known.write_text("".join(h.known_hosts_line() for h in hosts))
        seen = []
        for h in hosts:
            with SSHHost(
                f"root@{h.address}",
                key_filename=h.client_key,
                known_hosts=str(known),
                use_agent=False,
                look_for_keys=False,
            ) as host:
                fp = collect(host)
            assert fp.raw["machine_id"] == (h.machine_id,)
            assert fp.raw["disk_serials"] == (h.disk_serial,)
            assert fp.raw["macs"] == (h.mac,)
            assert fp.labels["hostname"] == h.name
            assert fp.labels["primary_ip"] == h.address
            seen.append(fp)
        a, b = seen
        for kind in ("machine_id", "disk_serials", "macs"):
            assert a.raw[kind] != b.raw[kind], kind
        probe = f"exec 3<>/dev/tcp/{hosts[1].address}/22 && head -c 4 <&3"
        res = hosts[0].exec(["timeout", "3", "bash", "-c", probe], check=False)
        assert res.stdout == b"SSH-", res.stderr
        rule = f"sbh{hosts[0].veth[3:7]}+"
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert rule not in rules, "the FORWARD rule outlived the sandbox"
