"""What a `docker load` changed on an engine, and putting the bundle's names right afterwards.

An archive can carry more than the manifest lists (other images, other tags, even the bundle's
own tags on other images). After any load, successful or not, only what the manifest lists may
remain of it: every tag the load set that the manifest does not give is put back to what it
was (or removed), images it brought that the manifest does not list are removed, and each tag
the bundle uses points at its signed image ID or at nothing. Containers are created from the
ID anyway (installer.runtime.runspec); the tags are kept right so that nobody else on the
engine is handed an image the vendor did not sign under the vendor's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Optional

from installer.errors import RuntimeFailure
from installer.hosts.base import Host
from installer.i18n import _

_LOADED = re.compile(r"^Loaded image( ID)?: (\S+)\s*$")


@dataclass(frozen=True)
class Loaded:
    """What `docker load` said it loaded: tags ("Loaded image: r:t") and untagged IDs."""

    refs: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()


def engine_ref(cli: str, ref: str) -> str:
    """A name as the bundle writes it. Podman files names without a registry under
    ``localhost/`` (``localhost/sealbox-demo/x:1``) and takes them back without it."""
    if cli == "podman" and ref.startswith(PODMAN_LOCAL):
        return ref[len(PODMAN_LOCAL) :]
    return ref


PODMAN_LOCAL = "localhost/"


def parse_loaded(stdout: str, cli: str = "docker") -> Loaded:
    """Docker: "Loaded image: r:t" / "Loaded image ID: sha256:..". Podman names an untagged
    image by its ID on a "Loaded image:" line."""
    refs: list[str] = []
    ids: list[str] = []
    for line in stdout.splitlines():
        m = _LOADED.match(line.strip())
        if m:
            name = m.group(2)
            untagged = m.group(1) or (cli == "podman" and re.fullmatch(_ID, name))
            (ids if untagged else refs).append(name if untagged else engine_ref(cli, name))
    return Loaded(tuple(refs), tuple(ids))


_ID = r"(sha256:)?[0-9a-f]{64}"


@dataclass(frozen=True)
class Snapshot:
    """The engine's images at one moment: tag -> ID, and every top-level image ID."""

    tags: Mapping[str, str]
    ids: frozenset[str]


def snapshot_command(cli: str = "docker") -> list[str]:
    return [
        cli,
        "image",
        "ls",
        "-a",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]


def parse_snapshot(stdout: str, cli: str = "docker") -> Snapshot:
    """`docker image ls` lines; untagged images (<none>:<none>) count for IDs only."""
    tags = {}
    ids = set()
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        ids.add(parts[1])
        if "<none>" not in parts[0]:
            tags[engine_ref(cli, parts[0])] = parts[1]
    return Snapshot(tags, frozenset(ids))


def snapshot(host: Host, cli: str = "docker") -> Snapshot:
    """One `docker image ls` (cheaper than an inspect per name)."""
    res = host.run(snapshot_command(cli), timeout=60)
    if not res.ok:
        raise RuntimeFailure(
            _("{cli} image ls failed on {name}: {res}").format(
                cli=cli, name=host.name, res=res.first_error_line()
            )
        )
    return parse_snapshot(res.stdout, cli)


def keep_image_argv(cli: str, ref: str) -> list[str]:
    """Drop the name ``ref`` and keep its image (a container uses it). Not ``podman rmi -f``:
    that removes the containers using the image."""
    if cli == "podman":
        return ["podman", "untag", ref, ref]
    return ["docker", "rmi", "-f", "--no-prune", ref]


def _point(host: Host, ref: str, want: Optional[str], cli: str = "docker") -> None:
    """Make `ref` name `want`, or name nothing when `want` is None."""
    if want is not None:
        res = host.run([cli, "tag", want, ref], timeout=60)
    else:
        res = host.run([cli, "rmi", ref], timeout=120)
        if not res.ok and any(s in res.stderr for s in ("No such image", "image not known")):
            return
        if not res.ok:  # in use by a container: drop the name, keep the image for it
            res = host.run(keep_image_argv(cli, ref), timeout=120)
    if not res.ok:
        raise RuntimeFailure(
            _("cannot put tag {ref} right on {name}: {res}").format(
                ref=ref, name=host.name, res=res.first_error_line()
            )
        )


def settle(
    host: Host,
    listed: Mapping[str, str],
    before: Snapshot,
    after: Snapshot,
    loaded: Loaded,
    *,
    succeeded: bool,
    cli: str = "docker",
) -> list[str]:
    """Undo what a load did beyond `listed` (tag -> signed ID); returns what it changed.

    `before` and `after` are the engine before and after the load. After a successful load
    every listed tag names its signed ID. After a failed one, a listed tag the load moved
    names the signed ID again if it did before, else nothing; tags it did not move are left.
    """
    changed: list[str] = []
    brought = [i if i.startswith("sha256:") else f"sha256:{i}" for i in loaded.ids]
    # the bundle's own tags first (after a failure, only those this load moved: a failed load
    # leaves the engine as it found it, it does not tidy up other people's images): the
    # archive may carry its image under another tag only (a vendor's `app:1-arm64`, issue 22),
    # and removing that tag first would delete the image the bundle's tag is about to name
    for ref, want in listed.items():
        now = after.tags.get(ref)
        moved = now != before.tags.get(ref)
        if now == want or (not succeeded and not moved):
            continue
        if now is not None and moved:
            brought.append(now)
        have_signed = want in after.ids
        if have_signed and (succeeded or before.tags.get(ref) == want):
            _point(host, ref, want, cli)
            changed.append(_("tagged {ref} as {image_id}").format(ref=ref, image_id=want[:19]))
        elif now is not None:
            _point(host, ref, None, cli)
            changed.append(
                _("removed tag {ref} (it named {image_id}, not the signed image)").format(
                    ref=ref, image_id=now[:19]
                )
            )
    # tags the archive set that the manifest does not give: back to what they were
    for ref in loaded.refs:
        now = after.tags.get(ref)
        if ref in listed or now is None or now == before.tags.get(ref):
            continue
        brought.append(now)
        _point(host, ref, before.tags.get(ref), cli)
        changed.append(
            (_("restored tag {ref}") if ref in before.tags else _("removed tag {ref}")).format(
                ref=ref
            )
        )
    # images the archive brought that the manifest does not list
    kept = set(listed.values()) | before.ids
    for full in dict.fromkeys(brought):
        if full in kept or full not in after.ids:
            continue
        res = host.run([cli, "rmi", full], timeout=120)
        if res.ok:
            changed.append(_("removed image {image_id}").format(image_id=full[:19]))
    return changed


def missing_signed(after: Snapshot, listed: Mapping[str, str]) -> list[str]:
    """The listed tags whose signed image ID is not on the engine."""
    return [ref for ref, want in listed.items() if want not in after.ids]
