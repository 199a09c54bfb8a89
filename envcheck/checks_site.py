"""Check kinds about where the machine stands: physical or virtual (the one VM rule), its LAN
address (the one NIC rule), its ports (the one port-ownership rule), its clock."""

from __future__ import annotations

from envcheck.kinds import Facts, Outcome, Params, _fail, _kind, _said
from installer.facts.net import carries_lan
from installer.facts.ports import judge_port, listeners, readable
from installer.facts.snapshot import VIRT_FACTS, virt_of
from installer.i18n import _

# --- machine, network, ports, time ----------------------------------------------------------


def virtual_evidence(f: Facts) -> list[str]:
    """Every sign that this is a VM or a container, in words (empty = looks physical)."""
    virt = virt_of({k: f[k] for k in VIRT_FACTS if k in f})
    words = {
        "detect-virt": lambda d, what: f"systemd-detect-virt: {what} {d}",
        "cpu-flag": lambda d, what: f"CPU flag '{d}'",
        "dmi": lambda d, what: f"DMI {d}",
        "marker": lambda d, what: f"{d} present",
        "systemd": lambda d, what: f"/run/systemd/container: {d}",
        "cgroup": lambda d, what: f"/proc/1/cgroup: {d}",
    }
    order = ("detect-virt", "cpu-flag", "dmi", "marker", "systemd", "cgroup")
    ev = [(src, d, "VM") for src, d in virt.vm_evidence]
    ev += [(src, d, "container") for src, d in virt.container_evidence]
    ev.sort(key=lambda e: (order.index(e[0]), e[2] != "VM"))
    return [words[src](d, what) for src, d, what in ev]


@_kind(
    "physical",
    _("physical machine (the license is bound to hardware)"),
    list(VIRT_FACTS),
    lambda p: (
        _("any machine (license allows VMs)")
        if p["allow_virtual"]
        else _("physical, not a VM/container")
    ),
    fix=_(
        "install the license server on a physical server, or get a license that allows VMs "
        "(then set physical.allow_virtual=true)"
    ),
    allow_virtual=False,
)
def check_physical(p: Params, f: Facts) -> Outcome:
    ev = virtual_evidence(f)
    if not ev:
        seen = f["dmi"].value.get("sys_vendor", "") if f["dmi"].ok else ""
        return Outcome(
            True,
            _("no sign of virtualisation{value}").format(value=f" (vendor {seen})" if seen else ""),
        )
    shown = "virtual: " + "; ".join(ev)
    if p["allow_virtual"]:
        return Outcome(True, shown + " (allowed by physical.allow_virtual)")
    return _fail(shown)


@_kind(
    "network",
    _("an IPv4 address on a wired LAN interface (else 'machine auth check failure')"),
    ["ip_addr", "net_ifaces"],
    lambda p: _("non-loopback IPv4 on a wired interface"),
    fix=_("connect the wired LAN and give it a fixed IP before fingerprinting"),
)
def check_network(p: Params, f: Facts) -> Outcome:
    a, n = f["ip_addr"], f["net_ifaces"]
    if not a.ok:
        return _fail(_("cannot list addresses: {error}").format(error=a.error))
    wired: list[str] = []
    other: list[str] = []
    for addr in a.value:
        iface = addr["iface"].split("@")[0]
        ifaces = n.value or {}
        label = f"{iface} {addr['address']}"
        if addr["scope"] == "host" or not carries_lan(iface, ifaces):
            continue
        (other if iface in ifaces and ifaces[iface].wireless else wired).append(label)
    if wired:
        return Outcome(True, ", ".join(wired))
    return _fail("no wired IPv4" + (f" (wireless only: {', '.join(other)})" if other else ""))


@_kind(
    "ports",
    _("ports the module listens on are free (ours count as free)"),
    ["ss", "netstat", "containers", "listener_cgroups"],
    lambda p: _("free: {ports}").format(ports=", ".join(str(x) for x in p["ports"])),
    fix=_("stop the program holding the port, or install the module on another port"),
    ports=[],
)
def check_ports(p: Params, f: Facts) -> Outcome:
    if not readable(f["ss"], f["netstat"]):
        return _fail(
            _("cannot list listening ports: {error}; {error2}").format(
                error=f["ss"].error, error2=f["netstat"].error
            )
        )
    socks = listeners(f["ss"], f["netstat"])
    containers = f["containers"].value if f["containers"].ok else []
    ours = [c["id"] for c in containers if c["managed"]]
    cgroups = f["listener_cgroups"].value or {}
    results = [judge_port(int(port), socks, cgroups, containers, ours) for port in p["ports"]]
    return Outcome(all(v.free for v in results), "; ".join(v.words for v in results) or "no ports")


@_kind(
    "time-sync",
    _("clock synchronised (license dates, logs)"),
    ["timedatectl", "chronyc", "ntpstat"],
    lambda p: _("NTP/chrony synchronised"),
    fix=_("{install:chrony}, then enable chronyd against the customer's time server"),
)
def check_time(p: Params, f: Facts) -> Outcome:
    said = []
    for key in ("timedatectl", "chronyc", "ntpstat"):
        r = f[key]
        if r.ok:
            if r.value:
                return Outcome(True, _("synchronised ({key})").format(key=key))
            said.append(f"{key}: not synchronised")
        else:
            said.append(_said(key, r))
    return _fail("; ".join(said))
