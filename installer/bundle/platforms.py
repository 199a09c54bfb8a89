"""The architectures a bundle carries (vendor side): ``--platform``/``platforms:`` values to arch
names, and the local Docker image that holds each module's image for an architecture."""

from __future__ import annotations

import os
import subprocess
from typing import Optional

from installer.errors import RuntimeFailure, UsageError
from installer.facts.arch import KNOWN, normalize, platform
from installer.i18n import _


def parse_platforms(values: list[str], where: str) -> list[str]:
    """``linux/amd64``, ``linux/arm64`` (or ``amd64``, ``aarch64``) -> arch names, in order."""
    out: list[str] = []
    for raw in values:
        arch = normalize(str(raw))
        if arch not in KNOWN:
            raise UsageError(
                _("{where} {raw}: unknown platform; choose from {known}").format(
                    where=where, raw=raw, known=", ".join(platform(a) for a in KNOWN)
                )
            )
        if arch not in out:
            out.append(arch)
    return out


def _inspect(ref: str) -> Optional[tuple[str, str]]:
    """(image ID, normalised architecture) of a local image, None when there is none."""
    fmt = "{{.Id}} {{.Architecture}}"
    res = subprocess.run(["docker", "image", "inspect", "--format", fmt, ref],
                         capture_output=True, text=True)  # fmt: skip
    if res.returncode != 0:
        return None
    image_id, _, arch = res.stdout.strip().partition(" ")
    return image_id, normalize(arch)


def arch_ref(ref: str, arch: str) -> str:
    """Where the image of ``ref`` for another architecture is found in the one local engine
    (it holds one image per tag): the tag with ``-ARCH`` appended (``app:1.0-arm64``)."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return f"{ref}:latest-{arch}"
    return f"{repo}:{tag}-{arch}"


def image_for_arch(ref: str, arch: Optional[str]) -> tuple[str, str, str]:
    """(local reference, image ID, architecture) of the image a bundle carries for ``arch``:
    ``REF-ARCH`` or ``REF`` itself, whichever is an image whose config says that architecture
    (None: ``REF`` as it is, a one-architecture bundle)."""
    if arch is None:
        found = _inspect(ref)
        if found is None:
            raise RuntimeFailure(
                f"image {ref} is not in the local Docker engine; build or pull it first"
            )
        return ref, found[0], found[1] or normalize(os.uname().machine)
    seen = []
    for cand in (arch_ref(ref, arch), ref):
        found = _inspect(cand)
        if found is not None and found[1] == arch:
            return cand, found[0], arch
        seen.append(f"{cand}: {found[1] if found else 'absent'}")
    raise RuntimeFailure(
        _(
            "no {platform} image for {ref} in the local Docker engine ({seen}): build it and "
            "tag it {tag}"
        ).format(platform=platform(arch), ref=ref, seen="; ".join(seen), tag=arch_ref(ref, arch))
    )
