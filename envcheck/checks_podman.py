"""Check kinds about a Podman host's engine, and the Docker items they stand in for.

A module's profile names Docker's items (``docker-installed``, ``docker-running``, ...): they are
about "the container engine", written when Docker was the only one. On a host whose runtime is
Podman (installer.facts.snapshot.HostFacts.runtime_kind) each is judged by its Podman
equivalent (``FOR_PODMAN``), so a vendor's profile needs no second copy. Docker's thresholds
(``min: 17.12``) mean nothing for Podman, so the Podman kind's own defaults apply.
"""

from __future__ import annotations

from envcheck.checks_host import _check_df
from envcheck.kinds import Facts, Outcome, Params, _fail, _kind
from installer.facts.parse import version_at_least
from installer.i18n import _, joined


@_kind(
    "podman-installed",
    _("Podman installed (the host's container runtime)"),
    ["podman_version"],
    lambda p: _("podman command present"),
    fix=_("install podman from the offline repo (apt-get install podman / dnf install podman)"),
)
def check_podman_installed(p: Params, f: Facts) -> Outcome:
    v = f["podman_version"]
    if not v.ok:
        return _fail(v.error or "podman not found")
    return Outcome(True, _("podman {value}").format(value=v.value["client"]))


@_kind(
    "podman-version",
    _("Podman version"),
    ["podman_version"],
    lambda p: f">= {p['min']}",
    fix=_("upgrade Podman"),
    min="4.0",
)
def check_podman_version(p: Params, f: Facts) -> Outcome:
    v = f["podman_version"]
    if not v.ok:
        return _fail(v.error or "podman not found")
    version = v.value["client"]
    return Outcome(version_at_least(version, str(p["min"])), version)


@_kind(
    "podman-running",
    _("Podman usable by this user (rootful: Sealbox runs containers as root)"),
    ["podman_info"],
    lambda p: _("podman info succeeds, not rootless"),
    fix=_("run Sealbox as root (sudo); check /etc/containers/storage.conf"),
)
def check_podman_running(p: Params, f: Facts) -> Outcome:
    i = f["podman_info"]
    if not i.ok:
        return _fail(i.error or "podman info failed")
    host = i.value.get("host") or {}
    if (host.get("security") or {}).get("rootless"):
        return _fail(_("rootless (not root)"))
    oci = (host.get("ociRuntime") or {}).get("name", "?")
    return Outcome(
        True,
        _("rootful, OCI runtime {oci}, cgroup manager {cgroup}").format(
            oci=oci, cgroup=host.get("cgroupManager")
        ),
    )


@_kind(
    "podman-storage-driver",
    _("Podman storage driver"),
    ["podman_info"],
    lambda p: joined(_(" or "), p["allowed"]),
    fix=_('set driver = "overlay" in /etc/containers/storage.conf'),
    allowed=["overlay"],
)
def check_podman_storage(p: Params, f: Facts) -> Outcome:
    i = f["podman_info"]
    if not i.ok:
        return _fail(_("unknown: {error}").format(error=i.error))
    driver = str((i.value.get("store") or {}).get("graphDriverName", ""))
    return Outcome(driver in p["allowed"], driver or _("none reported"))


@_kind(
    "disk-podman",
    _("free disk on Podman's graph root (images and containers)"),
    ["df_podman"],
    lambda p: _(">= {gb} GB free on Podman's graph root").format(gb=p["min_gb"]),
    fix=_("free space, or move graphroot in /etc/containers/storage.conf to a bigger disk"),
    min_gb=30,
)
def check_disk_podman(p: Params, f: Facts) -> Outcome:
    return _check_df(f["df_podman"], p["min_gb"], "Podman's graph root")


@_kind(
    "nvidia-cdi",
    _("NVIDIA GPUs declared for Podman (CDI spec from nvidia-container-toolkit)"),
    ["cdi_nvidia"],
    lambda p: _("a CDI spec naming nvidia.com/gpu in /etc/cdi or /var/run/cdi"),
    fix=_(
        "install nvidia-container-toolkit, then: nvidia-ctk cdi generate "
        "--output=/etc/cdi/nvidia.yaml"
    ),
)
def check_nvidia_cdi(p: Params, f: Facts) -> Outcome:
    c = f["cdi_nvidia"]
    if not c.ok:
        return _fail(_("cannot tell: {error}").format(error=c.error))
    if c.value:
        return Outcome(True, ", ".join(c.value))
    return _fail(_("no CDI spec names nvidia.com/gpu"))


FOR_PODMAN = {
    "docker-installed": "podman-installed",
    "docker-version": "podman-version",
    "docker-running": "podman-running",
    "storage-driver": "podman-storage-driver",
    "disk-docker": "disk-podman",
    "nvidia-runtime": "nvidia-cdi",
}
"""Docker's item -> the item that judges the same thing on a Podman host."""
