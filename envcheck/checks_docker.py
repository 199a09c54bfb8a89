"""Check kinds about the container engine and what stands between it and the host: Docker,
its storage driver, SELinux, the host firewall."""

from __future__ import annotations

import re

from envcheck.kinds import Facts, Outcome, Params, _fail, _kind
from installer.facts.parse import version_at_least
from installer.facts.runtime import devicemapper_base_size_gb
from installer.i18n import _, joined

# --- Docker ---------------------------------------------------------------------------------


@_kind(
    "docker-installed",
    _("Docker engine installed"),
    ["docker_version"],
    lambda p: _("docker command present"),
    fix=_("install Docker from the offline repo: {install:docker}"),
)
def check_docker_installed(p: Params, f: Facts) -> Outcome:
    v = f["docker_version"]
    if not v.ok:
        return _fail(v.error or "docker not found")
    return Outcome(True, _("docker client {value}").format(value=v.value["client"]))


@_kind(
    "docker-version",
    _("Docker engine version"),
    ["docker_version"],
    lambda p: f">= {p['min']}",
    fix=_("upgrade Docker"),
    min="17.12",
)
def check_docker_version(p: Params, f: Facts) -> Outcome:
    v = f["docker_version"]
    if not v.ok:
        return _fail(v.error or "docker not found")
    if v.value["server"]:
        version, note = v.value["server"], "engine"
    else:
        version, note = v.value["client"], "client; daemon not reachable"
    return Outcome(version_at_least(version, str(p["min"])), f"{version} ({note})")


@_kind(
    "docker-running",
    _("Docker daemon running and reachable"),
    ["docker_info"],
    lambda p: _("docker info succeeds"),
    fix=_("systemctl enable --now docker (and run envcheck as root)"),
)
def check_docker_running(p: Params, f: Facts) -> Outcome:
    i = f["docker_info"]
    if not i.ok:
        return _fail(i.error or "docker info failed")
    return Outcome(True, _("running, engine {value}").format(value=i.value.get("ServerVersion")))


@_kind(
    "storage-driver",
    _("Docker storage driver"),
    ["docker_info"],
    lambda p: _("{allowed} (devicemapper only with base size >= {gb} GB)").format(
        allowed=joined(_(" or "), p["allowed"]), gb=p["devicemapper_min_base_gb"]
    ),
    fix=_(
        'set "storage-driver": "overlay2" in /etc/docker/daemon.json, or '
        "dm.basesize=30G for devicemapper"
    ),
    allowed=["overlay2", "overlayfs"],
    devicemapper_min_base_gb=30,
)
def check_storage_driver(p: Params, f: Facts) -> Outcome:
    i = f["docker_info"]
    if not i.ok:
        return _fail(_("unknown: {error}").format(error=i.error))
    driver = i.value.get("Driver", "")
    if driver in p["allowed"]:
        return Outcome(True, driver)
    if driver == "devicemapper":
        size = devicemapper_base_size_gb(i.value)
        shown = f"devicemapper, base device size {size:.2f} GB" if size else "devicemapper"
        ok = size is not None and size >= float(p["devicemapper_min_base_gb"])
        return Outcome(ok, shown)
    return _fail(driver or "none reported")


@_kind(
    "selinux",
    _("SELinux mode (enforcing gives 'permission denied' in containers)"),
    ["getenforce", "selinux_enforce"],
    lambda p: joined(_(" or "), p["allowed"]),
    fix=_("setenforce 0 and SELINUX=disabled (or permissive) in /etc/selinux/config"),
    allowed=["disabled", "permissive"],
)
def check_selinux(p: Params, f: Facts) -> Outcome:
    g, e = f["getenforce"], f["selinux_enforce"]
    if g.ok:
        mode = g.value
    elif e.ok:
        mode = {"1": "enforcing", "0": "permissive"}.get(e.value, e.value)
    elif "No such file" in (e.error or "") and g.raw.not_found:
        return Outcome(True, _("SELinux not present (no getenforce, no /sys/fs/selinux)"))
    else:
        return _fail(_("cannot tell: {error}; {error2}").format(error=g.error, error2=e.error))
    return Outcome(mode in p["allowed"], mode)


@_kind(
    "firewall",
    _("host firewall that may block container -> host traffic (license server port)"),
    ["firewalld", "iptables_input"],
    lambda p: _("firewalld stopped and INPUT chain not dropping by default"),
    fix=_(
        "open the ports for docker0 (firewall-cmd --zone=trusted --add-interface=docker0) "
        "or stop firewalld"
    ),
)
def check_firewall(p: Params, f: Facts) -> Outcome:
    seen = []
    fw, ipt = f["firewalld"], f["iptables_input"]
    if fw.ok and fw.value == "running":
        return _fail(_("firewalld is running"))
    seen.append("firewalld not running" if fw.ok else "firewalld not installed")
    if ipt.ok:
        drops = [r for r in ipt.value["rules"] if re.search(r"-j (DROP|REJECT)\b", r)]
        opened = any("-i docker0" in r and "-j ACCEPT" in r for r in ipt.value["rules"])
        if ipt.value["policy"] in ("DROP", "REJECT") and not opened:
            return _fail(
                _("iptables INPUT policy {value}, no ACCEPT for docker0").format(
                    value=ipt.value["policy"]
                )
            )
        if drops and not opened:
            return _fail(
                _("iptables INPUT has {n_drops} DROP/REJECT rule(s): {drops}").format(
                    n_drops=len(drops), drops=drops[0]
                )
            )
        seen.append(f"iptables INPUT policy {ipt.value['policy']}")
    elif ipt.raw.not_found:
        seen.append("iptables not installed")
    else:
        return _fail(_("cannot read iptables: {error} (run as root)").format(error=ipt.error))
    return Outcome(True, "; ".join(seen))
