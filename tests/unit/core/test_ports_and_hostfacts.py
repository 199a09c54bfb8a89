"""Parsers for `ss -ltnp` and `ip -4 -o addr` output, through the one facts home."""

from __future__ import annotations

from installer.facts.fact import Fact
from installer.facts.net import ip_addresses, lan_addresses, ss_listeners
from installer.facts.ports import listeners
from installer.hosts.base import Result

SS = """LISTEN 0      4096         0.0.0.0:8887      0.0.0.0:*    users:(("python3",pid=2211,fd=3))
LISTEN 0      80         127.0.0.1:5535      0.0.0.0:*    users:(("mariadbd",pid=1999,fd=20))
LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=812,fd=4))
LISTEN 0      511                *:8300            *:*
"""

IP_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.20.30.40/24 brd 10.20.30.255 scope global eth0\\       valid_lft forever
3: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever
5: veth1a2b@if4    inet 169.254.1.1/16 scope global veth1a2b\\
6: ens3f0    inet 192.168.5.9/24 brd 192.168.5.255 scope global ens3f0\\
"""


def test_parse_ss():
    fr = Fact("ss", ss_listeners, [], command="ss -ltnp").evaluate(Result("ss -ltnp", 0, SS, ""))
    found = {lst.port: lst for lst in listeners(fr)}
    assert found[8887].process == "python3" and found[8887].pid == 2211
    assert found[5535].process == "mariadbd"
    assert found[22].pid == 812
    assert found[8300].pid is None and found[8300].process == "?"


def test_lan_addresses_skip_loopback_and_virtual():
    addrs = ip_addresses(Result("ip -4 -o addr show", 0, IP_ADDR, ""))
    assert lan_addresses(addrs, {}, None) == [("eth0", "10.20.30.40"), ("ens3f0", "192.168.5.9")]
    assert lan_addresses(addrs, {}, "ens3f0")[0] == ("ens3f0", "192.168.5.9")
