"""Podman facts: `podman version` / `podman info` (JSON), read in the host's one fact round trip
and parsed here into the same engine-facts value as Docker's (installer.facts.runtime), so the
engine, the bundle gate's disk check and envcheck read one shape whichever runtime a host has.

Podman has no daemon: a rootful ``podman`` on the host is the engine, so "the server" is the
client's own version. Parsers are pure functions; unit tests feed them recorded outputs
(tests/fixtures/podman).
"""

from __future__ import annotations

from typing import Any

from installer.errors import HostError
from installer.facts.fact import Unavailable
from installer.facts.runtime import DockerFacts, first_json
from installer.hosts.base import Result
from installer.i18n import _

VERSION_COMMAND = "podman version --format json"
INFO_COMMAND = "podman info --format json"
CDI_COMMAND = (
    "for f in /etc/cdi/*.yaml /etc/cdi/*.json /var/run/cdi/*.yaml /var/run/cdi/*.json; do "
    '[ -f "$f" ] && grep -q "nvidia.com/gpu" "$f" && echo "$f"; done; true'
)
"""The CDI spec files that declare NVIDIA GPUs (what ``--device nvidia.com/gpu=N`` needs)."""


def parse_podman_version(text: str) -> str:
    """The podman version ('4.3.1'); a remote client reports its service as 'Server'."""
    doc = first_json(text)
    server = doc.get("Server") or {}
    client = doc.get("Client") or {}
    return str(server.get("Version") or client.get("Version") or "")


def build_podman_facts(version_out: str, info_out: str) -> DockerFacts:
    version = parse_podman_version(version_out)
    info = first_json(info_out)
    host = info.get("host") or {}
    store = info.get("store") or {}
    oci = (host.get("ociRuntime") or {}).get("name", "") or ""
    return DockerFacts(
        client_version=version,
        server_version=version,
        api_version=str((info.get("version") or {}).get("APIVersion", "")),
        runtimes=(oci,) if oci else (),
        default_runtime=oci or "crun",
        storage_driver=str(store.get("graphDriverName", "")),
        data_root=str(store.get("graphRoot", "") or "/var/lib/containers/storage"),
        raw_info=info,
        engine="podman",
        rootless=bool((host.get("security") or {}).get("rootless")),
    )


def podman_facts(version: Result, info: Result, host_name: str) -> DockerFacts:
    """The engine's view; raises HostError with the fix when Podman is missing or broken."""
    if version.not_found:
        raise HostError(
            _(
                "Podman is not installed on {host_name}: install it (Debian/Ubuntu: apt-get install podman; RHEL/openEuler/Kylin: dnf install podman), or choose Docker with --runtime docker"
            ).format(host_name=host_name)
        )
    if not version.ok or not parse_podman_version(version.stdout):
        raise HostError(
            _("podman version failed on {host_name}: {err}").format(
                host_name=host_name, err=version.first_error_line()
            )
        )
    if not info.ok:
        raise HostError(
            _(
                "podman info failed on {host_name} ({err}): check /etc/containers/storage.conf and that the storage graph root is writable"
            ).format(host_name=host_name, err=info.first_error_line())
        )
    return build_podman_facts(version.stdout, info.stdout)


# --- envcheck's views -----------------------------------------------------------------------


def podman_version(r: Result) -> dict[str, Any]:
    """`podman version --format json`, in the shape of envcheck's docker_version view."""
    if r.not_found:
        raise Unavailable("podman: command not found (not installed)")
    version = parse_podman_version(r.stdout)
    if not version:
        raise Unavailable(r.first_error_line())
    return {"client": version, "server": version if r.ok else "", "server_error": ""}


def podman_info(r: Result) -> dict[str, Any]:
    """`podman info --format json` (host, store, version sections)."""
    if r.not_found:
        raise Unavailable("podman: command not found (not installed)")
    if not r.ok:
        raise Unavailable(r.first_error_line())
    data = first_json(r.stdout)
    if not data.get("host"):
        raise Unavailable(f"podman info printed no JSON: {r.first_error_line()}")
    return data


def cdi_nvidia_specs(r: Result) -> list[str]:
    """Paths of CDI specs naming ``nvidia.com/gpu`` ([] where none: no GPU for Podman)."""
    if not r.ok:
        raise Unavailable(r.first_error_line())
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]
