"""The ONE NIC rule over 33 interface names, with and without the kernel's evidence.

main had three rules (installer/hostfacts.py, envcheck/checks.py, fingerprint/collect.py) that
disagreed on 17 of these names (bond0, wg0, tailscale0, team0, br0, ...). Now there is one:
`physical` (fingerprint identity: a NIC of its own) and `carries_lan` (envcheck's wired LAN, the
default LAN address: a physical NIC or something stacked on one).
"""

from __future__ import annotations

import pytest

from installer.facts.net import Iface, carries_lan, identity_nics, lan_addresses, net_interfaces
from installer.hosts.base import Result

NIC = dict(seen=True, device=True)


def virt(kind: str = "", **kw) -> dict:  # type: ignore[type-arg]
    return dict(seen=True, device=False, kind=kind, **kw)


# name: (sysfs evidence, physical, carries LAN, name-only physical, name-only LAN)
TABLE = {
    "lo": (virt(arp_type=772), False, False, False, False),
    "eth0": (NIC, True, True, True, True),
    "eno1": (NIC, True, True, True, True),
    "enp3s0": (NIC, True, True, True, True),
    "ens192": (NIC, True, True, True, True),
    "em1": (NIC, True, True, True, True),
    "p1p1": (NIC, True, True, True, True),
    "enx00e04c680001": (NIC, True, True, True, True),
    "wlan0": (dict(NIC, wireless=True, kind="wlan"), True, True, True, True),
    "wlp2s0": (dict(NIC, wireless=True, kind="wlan"), True, True, True, True),
    "bond0": (virt("bond", lower=("eth0", "eno1")), False, True, False, True),
    "team0": (virt("", lower=("enp3s0",)), False, True, False, True),
    "br0": (virt("bridge", lower=("em1",)), False, True, False, True),
    "eth0.100": (virt("vlan", lower=("eth0",)), False, True, False, True),
    "br-1a2b3c4d5e6f": (virt("bridge", lower=("veth1a2b3c4",)), False, False, False, False),
    "docker0": (virt("bridge"), False, False, False, False),
    "veth1a2b3c4": (virt(), False, False, False, False),
    "virbr0": (virt("bridge", lower=("virbr0-nic", "vnet0")), False, False, False, False),
    "virbr0-nic": (virt("tun"), False, False, False, False),
    "vnet0": (virt("tun"), False, False, False, False),
    "tun0": (virt("tun", arp_type=65534), False, False, False, False),
    "tap0": (virt("tun"), False, False, False, False),
    "wg0": (virt("wireguard", arp_type=65534), False, False, False, False),
    "tailscale0": (virt("tun", arp_type=65534), False, False, False, False),
    "ztabcdef12": (virt("tun"), False, False, False, False),
    "vxlan.calico": (virt("vxlan", lower=("eth0",)), False, False, False, False),
    "flannel.1": (virt("vxlan"), False, False, False, False),
    "cni0": (virt("bridge", lower=("veth1a2b3c4",)), False, False, False, False),
    "cali1234abcd": (virt(), False, False, False, False),
    "weave": (virt("bridge"), False, False, False, False),
    "kube-ipvs0": (virt(), False, False, False, False),
    "cilium_host": (virt(), False, False, False, False),
    "ib0": (dict(NIC, arp_type=32), False, False, True, True),
}


def test_the_table_has_33_names() -> None:
    assert len(TABLE) == 33


@pytest.mark.parametrize("name", sorted(TABLE))
def test_one_rule_with_the_kernels_evidence(name: str) -> None:
    ifaces = {n: Iface(n, **ev) for n, (ev, *_rest) in TABLE.items()}
    _, physical, lan, _, _ = TABLE[name]
    assert ifaces[name].physical is physical
    assert carries_lan(name, ifaces) is lan
    nics, others = identity_nics(ifaces)
    assert (name in [n.name for n in nics]) is physical
    assert (name in others) is (not physical)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_names_decide_only_without_evidence(name: str) -> None:
    _, _, _, physical, lan = TABLE[name]
    assert Iface(name).physical is physical
    assert carries_lan(name, {}) is lan


def test_sysfs_loop_output_is_the_evidence() -> None:
    """Output of the net_ifaces loop (installer.facts.catalog) for a bond of two NICs and
    docker0: the bond carries the LAN address, its slaves name the machine (permanent MACs)."""
    out = "\n".join(
        [
            "@if bond0",
            "bond=1",
            "address=b4:96:91:2a:10:01",
            "type=1",
            "devtype=bond",
            "lower=eno1",
            "lower=eno2",
            "@if eno1",
            "device=1",
            "address=b4:96:91:2a:10:01",
            "type=1",
            "addr_assign_type=0",
            "bonding_slave/perm_hwaddr=b4:96:91:2a:10:01",
            "@if eno2",
            "device=1",
            "address=b4:96:91:2a:10:01",
            "type=1",
            "bonding_slave/perm_hwaddr=b4:96:91:2a:10:02",
            "@if docker0",
            "bridge=1",
            "devtype=bridge",
            "type=1",
        ]
    )
    ifaces = net_interfaces(Result("loop", 0, out + "\n", ""))
    assert [n.name for n in identity_nics(ifaces)[0]] == ["eno1", "eno2"]
    assert ifaces["eno2"].perm_hwaddr == "b4:96:91:2a:10:02"
    addrs = [
        {"iface": "bond0", "address": "10.20.30.41/24", "scope": "global"},
        {"iface": "docker0", "address": "172.17.0.1/16", "scope": "global"},
    ]
    assert lan_addresses(addrs, ifaces, None) == [("bond0", "10.20.30.41")]


def test_older_recordings_still_parse() -> None:
    """envcheck fixtures recorded with the earlier one-line loop keep working."""
    ifaces = net_interfaces(
        Result(
            "loop",
            0,
            "eth0 device wired up\nwlp2s0 device wireless up\n"
            "docker0 virtual wired down\nbond0 virtual wired up\n",
            "",
        )
    )
    assert ifaces["eth0"].physical and not ifaces["docker0"].physical
    assert ifaces["wlp2s0"].wireless
    assert carries_lan("bond0", ifaces) and not carries_lan("docker0", ifaces)


def test_default_lan_address_on_a_veth_only_host_is_the_default_routes() -> None:
    """A sandbox or container host has only a veth: no NIC carries its LAN address, but the
    default route says how others reach it (the engine's `facts.lan_ip` default)."""
    from installer.facts.catalog import fact
    from installer.facts.snapshot import HostFacts
    from installer.hosts.recorded import RecordedHost

    host = RecordedHost(
        {
            fact("ip_addr").shell: "1: lo    inet 127.0.0.1/8 scope host lo\n"
            "2: sbn1a2b0@if5    inet 198.18.0.2/30 scope global sbn1a2b0\n",
            fact("ip_route").shell: "default via 198.18.0.1 dev sbn1a2b0\n",
            fact("net_ifaces").shell: "@if lo\ntype=772\n@if sbn1a2b0\ntype=1\n",
        }
    )
    facts = HostFacts(host)
    assert facts.lan_addresses() == []
    assert facts.lan_ip == "198.18.0.2"
