"""The Docker runtime on a Host, through the docker CLI (no SDK, so targets need nothing else)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from installer import constants as L
from installer.archive.streams import Progress
from installer.bundle.manifest import ImageEntry
from installer.errors import RuntimeFailure
from installer.facts.runtime import DockerFacts
from installer.facts.snapshot import read_docker_facts
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.container import Container
from installer.runtime.runspec import RunSpec

if TYPE_CHECKING:
    from installer.runtime.load import LoadResult


class DockerRuntime:
    def __init__(
        self,
        host: Host,
        deployment: str = L.DEFAULT_DEPLOYMENT,
        staging_dir: str = "/var/lib/sealbox/images",
        facts: Optional[Callable[[], DockerFacts]] = None,
    ) -> None:
        self.host = host
        self.deployment = deployment
        self.staging_dir = staging_dir  # remote hosts: where archives are uploaded before load
        self._facts: Optional[DockerFacts] = None
        self._facts_source = facts  # the run's snapshot, so docker version/info are read once

    @property
    def facts(self) -> DockerFacts:
        if self._facts is None:
            source = self._facts_source
            self._facts = source() if source is not None else read_docker_facts(self.host)
        return self._facts

    # images -----------------------------------------------------------------------------
    def image_id(self, ref: str) -> Optional[str]:
        res = self.host.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], timeout=30)
        return res.stdout.strip() if res.ok and res.stdout.strip() else None

    def load_archive(
        self,
        path: str,
        images: Sequence[ImageEntry],
        *,
        progress: Optional[Progress] = None,
    ) -> LoadResult:
        """Load the archive holding `images` (manifest entries) by the one load path.

        Checks (installer.runtime.load): the archive's sha256 before docker can finish the
        tar, the signed image IDs after, tags and images the manifest does not list undone.
        """
        from installer.runtime.load import load_archive

        return load_archive(self.host, path, images, self.staging_dir, progress=progress)

    # containers -------------------------------------------------------------------------
    def inspect(self, name_or_id: str) -> Optional[Container]:
        res = self.host.run(["docker", "container", "inspect", name_or_id], timeout=30)
        if not res.ok:
            return None
        try:
            data = json.loads(res.stdout)
        except json.JSONDecodeError:
            return None
        return Container(data[0]) if data else None

    def ours(self) -> list[Container]:
        """Every container of this deployment (by label), running or not."""
        res = self.host.run(
            [
                "docker",
                "ps",
                "-aq",
                "--no-trunc",
                "--filter",
                f"label={L.MANAGED}=true",
                "--filter",
                f"label={L.DEPLOYMENT}={self.deployment}",
            ],
            timeout=30,
        )
        if not res.ok:
            raise RuntimeFailure(
                _("docker ps failed on {name}: {res}").format(
                    name=self.host.name, res=res.first_error_line()
                )
            )
        ids = res.stdout.split()
        if not ids:
            return []
        out = self.host.run(["docker", "container", "inspect", *ids], timeout=60)
        if not out.ok:  # a container went away between ps and inspect: ask again, one by one
            return [c for c in (self.inspect(i) for i in ids) if c is not None]
        return [Container(raw) for raw in json.loads(out.stdout)]

    def create(self, spec: RunSpec) -> str:
        """Create the container from the signed image ID, and check that is what it got."""
        res = self.host.run(spec.create_argv(self.facts), timeout=120)
        if not res.ok:
            raise RuntimeFailure(
                _("docker create {name} failed: {res}").format(
                    name=spec.name, res=res.first_error_line()
                )
            )
        cid = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else spec.name
        got = self.host.run(
            ["docker", "container", "inspect", "--format", "{{.Image}}", cid], timeout=30
        )
        image = got.stdout.strip() if got.ok else ""
        if image != spec.image_id:
            self.remove(cid)
            raise RuntimeFailure(
                _(
                    "container {name} was created from image {image}, not the signed {image_ref} ({image_id}); removed it. Run the command again; if it repeats, something on this engine is replacing images"
                ).format(
                    name=spec.name,
                    image=image or "(unknown)",
                    image_ref=spec.image_ref,
                    image_id=spec.image_id,
                )
            )
        return cid

    def start(self, name: str) -> None:
        res = self.host.run(["docker", "start", name], timeout=120)
        if not res.ok:
            raise RuntimeFailure(
                _("docker start {name} failed: {res}").format(name=name, res=res.first_error_line())
            )

    def stop(self, name: str, timeout: int = 30) -> None:
        res = self.host.run(["docker", "stop", "-t", str(timeout), name], timeout=timeout + 60)
        if not res.ok and "No such container" not in res.stderr:
            raise RuntimeFailure(
                _("docker stop {name} failed: {res}").format(name=name, res=res.first_error_line())
            )

    def remove(self, name: str, stop_timeout: int = 10) -> None:
        """Stop (SIGTERM, then SIGKILL after ``stop_timeout`` s), then remove: ``rm -f`` alone
        kills at once, so a service's exit handler -- the one that gives its license seat back --
        never runs, and the next install waits for the seat's lease to expire."""
        self.host.run(["docker", "stop", "-t", str(stop_timeout), name], timeout=stop_timeout + 60)
        res = self.host.run(["docker", "rm", "-f", "-v", name], timeout=120)
        if not res.ok and "No such container" not in res.stderr:
            raise RuntimeFailure(
                _("docker rm {name} failed: {res}").format(name=name, res=res.first_error_line())
            )

    def rename(self, old: str, new: str) -> None:
        res = self.host.run(["docker", "rename", old, new], timeout=60)
        if not res.ok:
            raise RuntimeFailure(
                _("docker rename {old} {new} failed: {res}").format(
                    old=old, new=new, res=res.first_error_line()
                )
            )

    def logs(self, name: str, tail: int = 20) -> str:
        res = self.host.run(["docker", "logs", "--tail", str(tail), name], timeout=30)
        return (res.stdout + res.stderr).strip()

    def log_lines(
        self, name: str, *, tail: Optional[int] = None, since: Optional[str] = None
    ) -> list[str]:
        """A container's log lines (stdout and stderr), each with the engine's RFC 3339 time
        in front: ``logs -f`` polls with ``since`` = the last time seen, so following works
        the same through any Host (no long-lived stream to hold open over SSH)."""
        argv = ["docker", "logs", "--timestamps"]
        if tail is not None:
            argv += ["--tail", str(tail)]
        if since:
            argv += ["--since", since]
        res = self.host.run([*argv, name], timeout=60)
        if not res.ok:
            raise RuntimeFailure(f"docker logs {name} failed: {res.first_error_line()}")
        lines = (res.stdout + res.stderr).splitlines()
        return sorted(line for line in lines if line)  # the time first: one merged order

    def restart(self, name: str, timeout: int = 30) -> None:
        """Stop (SIGTERM, so a service gives its license seat back) and start again."""
        res = self.host.run(["docker", "restart", "-t", str(timeout), name], timeout=timeout + 90)
        if not res.ok:
            raise RuntimeFailure(f"docker restart {name} failed: {res.first_error_line()}")
