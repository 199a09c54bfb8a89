"""A host's CPU architecture, as the engine picks a bundle's images by it (issue 22).

Two facts say it: the kernel's ``uname -m`` and the container engine's own view
(``docker info`` ``Architecture``); the engine's wins where both answer, because it is the
engine that runs the image. Names are normalised to the Go/OCI names bundles use
(``x86_64`` -> ``amd64``, ``aarch64`` -> ``arm64``).

For tests only, ``$SEALBOX_TEST_HOST_ARCH`` overrides what a host reports (``arm64`` for every
host, or ``NAME=arm64,OTHER=amd64`` per host name), so a sandbox host on this x86_64 machine can
stand in for an arm64 server while its engine runs the arm64 images under qemu emulation. It is
visible: the value says ``overridden`` and the CLI prints a warning whenever it is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

OVERRIDE_ENV = "SEALBOX_TEST_HOST_ARCH"

_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "amd64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv8": "arm64",
    "arm64v8": "arm64",
}
KNOWN = ("amd64", "arm64")
"""The architectures bundles carry images for."""


def normalize(name: str) -> str:
    """``x86_64``/``amd64`` -> ``amd64``, ``aarch64``/``arm64`` -> ``arm64``; a platform
    ``linux/arm64`` gives its architecture; anything else comes back lower-cased."""
    text = (name or "").strip().lower()
    if "/" in text:
        parts = text.split("/")
        text = parts[1] if len(parts) > 1 else parts[0]
    return _ALIASES.get(text, text)


def platform(arch: str) -> str:
    """How the architecture is shown: ``linux/arm64``."""
    return f"linux/{arch}"


def override_for(host_name: str, env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The test override for ``host_name`` (normalised), or None when there is none."""
    raw = (os.environ if env is None else env).get(OVERRIDE_ENV, "").strip()
    if not raw:
        return None
    if "=" not in raw:
        return normalize(raw)
    for item in raw.split(","):
        name, _, value = item.partition("=")
        if name.strip() == host_name and value.strip():
            return normalize(value)
    return None


def override_note(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The raw override when one is set (the CLI warns with it), else None."""
    raw = (os.environ if env is None else env).get(OVERRIDE_ENV, "").strip()
    return raw or None


@dataclass(frozen=True)
class HostArch:
    """What a host reports: the kernel's and the engine's words, the one the engine uses."""

    arch: str  # normalised: amd64, arm64, ...
    machine: str = ""  # uname -m as read
    engine: str = ""  # docker info .Architecture as read ('' when the engine did not say)
    overridden: bool = False  # $SEALBOX_TEST_HOST_ARCH replaced what the host reports

    def describe(self) -> str:
        """What the host said, for messages: 'uname -m aarch64, docker aarch64'."""
        said = [f"{k} {v}" for k, v in (("uname -m", self.machine), ("docker", self.engine)) if v]
        shown = ", ".join(said) or "nothing"
        if self.overridden:
            return f"TEST OVERRIDE ${OVERRIDE_ENV}; the host says {shown}"
        return shown


def host_arch(
    uname: Optional[Mapping[str, Any]],
    docker_info: Optional[Mapping[str, Any]],
    host_name: str,
    env: Optional[Mapping[str, str]] = None,
) -> Optional[HostArch]:
    """The host's architecture from its facts; None when neither fact could be read."""
    machine = str((uname or {}).get("machine", "") or "")
    engine = str((docker_info or {}).get("Architecture", "") or "")
    forced = override_for(host_name, env)
    if forced:
        return HostArch(forced, machine, engine, overridden=True)
    word = engine or machine
    if not word:
        return None
    return HostArch(normalize(word), machine, engine)
