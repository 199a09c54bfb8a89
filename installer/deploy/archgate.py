"""The architecture gate: the bundle must carry images for the host's architecture (issue 22).

It runs before the plan is made (the plan picks each module's signed image ID and archive by the
host's architecture), so a host the bundle cannot serve is refused before anything is read,
loaded, written or started -- naming the host, what it reports and what the bundle carries.
Exit code 3 (the host cannot run this bundle), as the README's table says.
"""

from __future__ import annotations

from dataclasses import dataclass

from installer.bundle.opened import VerifiedBundle
from installer.errors import HostError
from installer.events import Event, Reporter
from installer.facts.arch import HostArch, platform
from installer.facts.snapshot import HostFacts
from installer.hosts.base import Host
from installer.i18n import _


class ArchitectureNotCarried(HostError):
    """The bundle has no images for this host's architecture (exit 3)."""


@dataclass(frozen=True)
class ArchInput:
    """What the gate is handed: the opened bundle and the host with the run's facts."""

    bundle: VerifiedBundle
    host: Host
    facts: HostFacts
    report: Reporter


def required_arch(inp: ArchInput) -> HostArch:
    """The host's architecture when the bundle carries it; raises otherwise."""
    found = inp.facts.arch
    carried = inp.bundle.manifest.architectures()
    shown = ", ".join(platform(a) for a in carried) or "none"
    if found is None:
        raise ArchitectureNotCarried(
            _(
                "cannot tell the CPU architecture of {host} (neither 'uname -m' nor 'docker "
                "info' answered); the bundle carries {carried}: check that the host runs a "
                "shell and Docker"
            ).format(host=inp.host.name, carried=shown)
        )
    if found.overridden:
        inp.report(
            Event(
                "warn",
                "arch",
                _("{host}: architecture {arch} ({said}): for tests only").format(
                    host=inp.host.name, arch=platform(found.arch), said=found.describe()
                ),
            )
        )
    if carried and found.arch not in carried:
        raise ArchitectureNotCarried(
            _(
                "{host} is {arch} ({seen}), but bundle {product} {version} carries images for "
                "{carried} only: use a bundle built with --platform {want}"
            ).format(
                host=inp.host.name,
                arch=platform(found.arch),
                seen=found.describe(),
                product=inp.bundle.manifest.product,
                version=inp.bundle.manifest.version,
                carried=shown,
                want=platform(found.arch),
            )
        )
    return found


def arch_gate(inp: ArchInput) -> None:
    """Refuse a host whose architecture the bundle does not carry (before the plan)."""
    required_arch(inp)
