"""`sealbox k8s push`: the bundle's images into the cluster's registry, skipping what is there.

Images are loaded with the same runtime loader as an install (streamed, sha256 checked
before docker registers anything), tagged `REGISTRY/<repo>:<tag>`, pushed, then untagged
again so the local engine keeps no stray names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, cast

from installer.archive.streams import Progress
from installer.bundle.manifest import ImageEntry, Manifest
from installer.bundle.opened import open_bundle
from installer.errors import HostError, RuntimeFailure
from installer.events import Event, Reporter, make
from installer.hosts.base import Host
from installer.i18n import _
from installer.k8s.registry import AuthRequired, RegistryClient, split_ref
from installer.runtime.docker import DockerRuntime

PUSH_TIMEOUT = 3600
SKIP = "skip"
PUSH = "push"


@dataclass
class PushItem:
    ref: str
    image_id: str
    target: str
    action: str  # skip | push
    digest: str = ""
    archive: str = ""


def target_ref(registry: str, ref: str) -> str:
    repo, tag = split_ref(ref)
    return f"{registry}/{repo}:{tag}"


def _unique(images: Sequence[ImageEntry]) -> list[ImageEntry]:
    seen: set[str] = set()
    out = []
    for entry in images:
        if entry.ref not in seen:
            seen.add(entry.ref)
            out.append(entry)
    return out


def plan_push(manifest: Manifest, client: RegistryClient) -> list[PushItem]:
    """Which images the registry already holds (same config digest under the tag)."""
    client.ping()
    items = []
    for entry in _unique(manifest.images):
        repo, tag = split_ref(entry.ref)
        target = f"{client.registry}/{repo}:{tag}"
        try:
            remote = client.manifest(repo, tag)
        except AuthRequired:
            remote = None  # cannot look without credentials: docker push skips known layers
        if remote is not None and remote.config_digest == entry.id:
            items.append(PushItem(entry.ref, entry.id, target, SKIP, remote.digest, entry.file))
        else:
            items.append(PushItem(entry.ref, entry.id, target, PUSH, "", entry.file))
    return items


def _push_failed(target: str, detail: str) -> HostError:
    if "HTTP response to HTTPS client" in detail:
        return HostError(
            f"docker push {target}: the registry speaks plain HTTP and the Docker engine "
            f'expects TLS; add it to "insecure-registries" in /etc/docker/daemon.json and '
            f"restart dockerd (127.0.0.1/localhost registries are allowed by default)"
        )
    if "x509" in detail or "certificate" in detail:
        return HostError(
            f"docker push {target}: TLS not trusted ({detail}); put the registry's CA in "
            f"/etc/docker/certs.d/<registry>/ca.crt"
        )
    return HostError(f"docker push {target} failed: {detail}")


def push_bundle(
    bundle_dir: str,
    host: Host,
    client: RegistryClient,
    *,
    trust: Sequence[str] = (),
    reporter: Optional[Reporter] = None,
) -> list[PushItem]:
    report = make(reporter)
    bundle = open_bundle(bundle_dir, tuple(trust))  # verified once; the manifest from it
    manifest = bundle.manifest
    items = plan_push(manifest, client)
    runtime = DockerRuntime(host)
    todo = [i for i in items if i.action == PUSH]
    for item in items:
        if item.action == SKIP:
            report(
                Event(
                    "done",
                    item.ref,
                    _("already in {registry} ({digest})").format(
                        registry=client.registry, digest=item.digest[:19]
                    ),
                )
            )
    archives = {i.archive for i in todo if runtime.image_id(i.image_id) is None}
    for archive in sorted(archives):
        report(Event("step", "images", _("loading {archive}").format(archive=archive)))
        runtime.load_archive(
            bundle.archive_path(archive),
            manifest.archives()[archive],
            # cast: mypy cannot infer a lambda with a default (the early-bound `a`).
            progress=cast(
                Progress,
                lambda d, t, a=archive: report(Event("progress", "images", a, done=d, total=t)),
            ),
        )
    for item in todo:
        if runtime.image_id(item.image_id) is None:
            raise RuntimeFailure(
                _(
                    "image {ref} ({image_id}) not present after loading {archive}; the bundle does not hold it, rebuild it"
                ).format(ref=item.ref, image_id=item.image_id[:19], archive=item.archive)
            )
        had_tag = runtime.image_id(item.target) is not None
        tag = host.run(["docker", "tag", item.image_id, item.target], timeout=60)
        if not tag.ok:
            raise RuntimeFailure(
                _("docker tag {ref} {target}: {tag}").format(
                    ref=item.ref, target=item.target, tag=tag.first_error_line()
                )
            )
        try:
            report(Event("step", item.ref, _("pushing {target}").format(target=item.target)))
            res = host.run(["docker", "push", item.target], timeout=PUSH_TIMEOUT)
            if not res.ok:
                raise _push_failed(item.target, res.first_error_line())
            found = re.search(r"digest: (sha256:[0-9a-f]{64})", res.stdout)
            item.digest = found.group(1) if found else ""
        finally:
            if not had_tag:
                host.run(["docker", "image", "rm", item.target], timeout=60)
        repo, tag_name = split_ref(item.ref)
        try:
            remote = client.manifest(repo, tag_name)
        except AuthRequired:
            remote = None
        if remote is not None and remote.config_digest not in (None, item.image_id):
            raise RuntimeFailure(
                _(
                    "{target}: the registry holds config {config_digest} after the push, expected {image_id}; is another push racing this one?"
                ).format(
                    target=item.target,
                    config_digest=remote.config_digest[:19],
                    image_id=item.image_id[:19],
                )
            )
        if remote is not None:
            item.digest = remote.digest
        report(
            Event(
                "done",
                item.ref,
                _("pushed {target} ({digest})").format(target=item.target, digest=item.digest[:19]),
            )
        )
    return items
