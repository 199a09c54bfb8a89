"""The container runtime on a Host, through its CLI (no SDK, so targets need nothing else).

One class for Docker and Podman: Podman's CLI takes Docker's commands and flags for everything
Sealbox does (create/start/stop/rm/rename/logs/inspect/ps/load), so the runtime is the same
code with ``cli`` naming the program, read from the host's engine facts (``facts.engine``).
Where the two differ, the difference is a value, not a branch here: the create arguments
(installer.runtime.runspec: restart policy, log driver, GPU), image IDs in inspect output
(Container.image_id), image names after a load (installer.runtime.images).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from installer import constants as L
from installer.archive.streams import Progress
from installer.bundle.manifest import ImageEntry
from installer.errors import RuntimeFailure
from installer.facts.runtime import DockerFacts
from installer.facts.snapshot import read_docker_facts
from installer.hosts.base import Host
from installer.i18n import _
from installer.runtime.container import Container, image_id
from installer.runtime.runspec import RunSpec

if TYPE_CHECKING:
    from installer.runtime.load import LoadResult


ULIMIT_HINT = (
    "; the engine may not raise this container's limits here (no CAP_SYS_RESOURCE): set "
    "container ulimits at or below the host's, e.g. --ulimit nofile=1024:1024 --ulimit "
    "nproc=1024:1024 (inventory: ulimits: [nofile=1024:1024, nproc=1024:1024])"
)
"""Added to a start that failed on rlimits. (Not through installer.i18n: the runtime sits
below it in the import graph, like every engine error text today.)"""


def _gone(stderr: str) -> bool:
    """Docker's "No such container" and Podman's "no such container" alike."""
    return "no such container" in stderr.lower()


class ContainerRuntime:
    """``ulimits``: ``--ulimit`` values every container of this host gets (a host setting:
    inventory ``ulimits:``, ``--ulimit``); empty leaves the engine's defaults."""

    def __init__(
        self,
        host: Host,
        deployment: str = L.DEFAULT_DEPLOYMENT,
        staging_dir: str = "/var/lib/sealbox/images",
        facts: Optional[Callable[[], DockerFacts]] = None,
        ulimits: Sequence[str] = (),
        cli: Optional[str] = None,
    ) -> None:
        self.host = host
        self._cli = cli  # None: the engine the facts name (the host's runtime choice)
        self.deployment = deployment
        self.staging_dir = staging_dir  # remote hosts: where archives are uploaded before load
        self.ulimits = tuple(ulimits)
        self._facts: Optional[DockerFacts] = None
        self._facts_source = facts  # the run's snapshot, so docker version/info are read once

    @property
    def facts(self) -> DockerFacts:
        if self._facts is None:
            source = self._facts_source
            self._facts = source() if source is not None else read_docker_facts(self.host)
        return self._facts

    @property
    def cli(self) -> str:
        """The program that drives this host's engine: ``docker`` or ``podman``."""
        return self._cli or self.facts.engine

    # images -----------------------------------------------------------------------------
    def image_id(self, ref: str) -> Optional[str]:
        res = self.host.run([self.cli, "image", "inspect", "--format", "{{.Id}}", ref], timeout=30)
        return image_id(res.stdout.strip()) if res.ok and res.stdout.strip() else None

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

        return load_archive(
            self.host, path, images, self.staging_dir, progress=progress, cli=self.cli
        )

    # containers -------------------------------------------------------------------------
    def inspect(self, name_or_id: str) -> Optional[Container]:
        res = self.host.run([self.cli, "container", "inspect", name_or_id], timeout=30)
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
                self.cli,
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
                _("{cli} ps failed on {name}: {res}").format(
                    cli=self.cli, name=self.host.name, res=res.first_error_line()
                )
            )
        ids = res.stdout.split()
        if not ids:
            return []
        out = self.host.run([self.cli, "container", "inspect", *ids], timeout=60)
        if not out.ok:  # a container went away between ps and inspect: ask again, one by one
            return [c for c in (self.inspect(i) for i in ids) if c is not None]
        return [Container(raw) for raw in json.loads(out.stdout)]

    def create(self, spec: RunSpec) -> str:
        """Create the container from the signed image ID, and check that is what it got."""
        res = self.host.run(spec.create_argv(self.facts), timeout=120)
        if not res.ok:
            raise RuntimeFailure(
                _("{cli} create {name} failed: {res}").format(
                    cli=self.cli, name=spec.name, res=res.first_error_line()
                )
            )
        cid = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else spec.name
        got = self.host.run(
            [self.cli, "container", "inspect", "--format", "{{.Image}}", cid], timeout=30
        )
        image = image_id(got.stdout.strip()) if got.ok else ""
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
        res = self.host.run([self.cli, "start", name], timeout=120)
        if not res.ok:
            hint = ULIMIT_HINT if "setting rlimit" in res.stderr else ""
            raise RuntimeFailure(
                _("{cli} start {name} failed: {res}").format(
                    cli=self.cli, name=name, res=res.first_error_line()
                )
                + hint
            )

    def stop(self, name: str, timeout: int = 30) -> None:
        res = self.host.run([self.cli, "stop", "-t", str(timeout), name], timeout=timeout + 60)
        if not res.ok and not _gone(res.stderr):
            raise RuntimeFailure(
                _("{cli} stop {name} failed: {res}").format(
                    cli=self.cli, name=name, res=res.first_error_line()
                )
            )

    def remove(self, name: str, stop_timeout: int = 10) -> None:
        """Stop (SIGTERM, then SIGKILL after ``stop_timeout`` s), then remove: ``rm -f`` alone
        kills at once, so a service's exit handler -- the one that gives its license seat back --
        never runs, and the next install waits for the seat's lease to expire."""
        self.host.run([self.cli, "stop", "-t", str(stop_timeout), name], timeout=stop_timeout + 60)
        res = self.host.run([self.cli, "rm", "-f", "-v", name], timeout=120)
        if not res.ok and not _gone(res.stderr):
            raise RuntimeFailure(
                _("{cli} rm {name} failed: {res}").format(
                    cli=self.cli, name=name, res=res.first_error_line()
                )
            )

    def rename(self, old: str, new: str) -> None:
        res = self.host.run([self.cli, "rename", old, new], timeout=60)
        if not res.ok:
            raise RuntimeFailure(
                _("{cli} rename {old} {new} failed: {res}").format(
                    cli=self.cli, old=old, new=new, res=res.first_error_line()
                )
            )

    def logs(self, name: str, tail: int = 20) -> str:
        res = self.host.run([self.cli, "logs", "--tail", str(tail), name], timeout=30)
        return (res.stdout + res.stderr).strip()

    def log_lines(
        self, name: str, *, tail: Optional[int] = None, since: Optional[str] = None
    ) -> list[str]:
        """A container's log lines (stdout and stderr), each with the engine's RFC 3339 time
        in front: ``logs -f`` polls with ``since`` = the last time seen, so following works
        the same through any Host (no long-lived stream to hold open over SSH)."""
        argv = [self.cli, "logs", "--timestamps"]
        if tail is not None:
            argv += ["--tail", str(tail)]
        if since:
            argv += ["--since", since]
        res = self.host.run([*argv, name], timeout=60)
        if not res.ok:
            raise RuntimeFailure(f"{self.cli} logs {name} failed: {res.first_error_line()}")
        lines = (res.stdout + res.stderr).splitlines()
        return sorted(line for line in lines if line)  # the time first: one merged order

    def restart(self, name: str, timeout: int = 30) -> None:
        """Stop (SIGTERM, so a service gives its license seat back) and start again."""
        res = self.host.run([self.cli, "restart", "-t", str(timeout), name], timeout=timeout + 90)
        if not res.ok:
            raise RuntimeFailure(f"{self.cli} restart {name} failed: {res.first_error_line()}")


class DockerRuntime(ContainerRuntime):
    """Docker by name, whatever the facts say (the k8s push drives the controller's Docker)."""

    def __init__(self, host: Host, *args: Any, **kw: Any) -> None:
        kw.setdefault("cli", "docker")
        super().__init__(host, *args, **kw)
