"""The Docker runtime on a Host, through the docker CLI (no SDK, so targets need nothing else)."""

from __future__ import annotations

import json
import re
from typing import Optional

from installer.errors import RuntimeFailure
from installer.hosts.base import Host
from installer.runtime import labels as L
from installer.runtime.archive import (
    DECOMPRESS_COMMANDS,
    Progress,
    compression_of,
    stream_decompressed,
    stream_verified,
)
from installer.runtime.container import Container
from installer.runtime.facts import DockerFacts, read_docker_facts
from installer.runtime.runspec import RunSpec

LOAD_TIMEOUT = 3600


class DockerRuntime:
    def __init__(
        self,
        host: Host,
        deployment: str = L.DEFAULT_DEPLOYMENT,
        staging_dir: str = "/var/lib/sealbox/images",
    ) -> None:
        self.host = host
        self.deployment = deployment
        self.staging_dir = staging_dir  # remote hosts: where archives are uploaded before load
        self._facts: Optional[DockerFacts] = None
        self._tools: dict[str, bool] = {}

    @property
    def facts(self) -> DockerFacts:
        if self._facts is None:
            self._facts = read_docker_facts(self.host)
        return self._facts

    # images -----------------------------------------------------------------------------
    def image_id(self, ref: str) -> Optional[str]:
        res = self.host.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], timeout=30)
        return res.stdout.strip() if res.ok and res.stdout.strip() else None

    def load_archive(
        self,
        path: str,
        *,
        expected_sha256: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> list[str]:
        """Stream an archive into `docker load`; returns what docker reports it loaded.

        A remote host gets the compressed archive uploaded first (resumable ``.part``, sha256
        checked on the host), then loaded with the host's own decompressor; a zstd archive on a
        host without zstd is streamed decompressed instead (see ``installer.transfer.load``).
        A dropped link mid-upload resumes on the next run instead of starting over.
        """
        if not self.host.is_local:
            from installer.transfer import load_archive as remote_load

            res = remote_load(
                self.host,
                path,
                self.staging_dir,
                sha256=expected_sha256,
                progress=progress,
                retries=2,
            )
            return re.findall(r"Loaded image(?: ID)?: (\S+)", res.stdout)
        # This machine: with the decompressor's C tool here, the compressed bytes are piped
        # into `tool -dc | docker load` (measured ~1.1x `docker load -i` of the plain tar);
        # without it, Python decompresses and pipes the tar. Either way the file is read once
        # and hashed on the way, and the last piece is withheld until the hash matches.
        kind = compression_of(path)
        tool = DECOMPRESS_COMMANDS[kind].split()[0]
        if self._has_command(tool):
            cmd = f"set -o pipefail; {DECOMPRESS_COMMANDS[kind]} | docker load"
            chunks = stream_verified(path, expected_sha256=expected_sha256, progress=progress)
            res = self.host.run_streaming_input(["bash", "-c", cmd], chunks, timeout=LOAD_TIMEOUT)
        else:
            chunks = stream_decompressed(path, expected_sha256=expected_sha256, progress=progress)
            res = self.host.run_streaming_input(["docker", "load"], chunks, timeout=LOAD_TIMEOUT)
        if not res.ok:
            lines = [line.strip() for line in res.stderr.strip().splitlines() if line.strip()]
            detail = " / ".join(lines[-2:]) or res.first_error_line()
            raise RuntimeFailure(
                f"docker load of {path} failed on {self.host.name}: {detail} "
                f"(a damaged or truncated archive: copy the bundle again)"
            )
        return re.findall(r"Loaded image(?: ID)?: (\S+)", res.stdout)

    def _has_command(self, tool: str) -> bool:
        """Is `tool` (and bash, for pipefail) on the host? Asked once per runtime."""
        if tool not in self._tools:
            res = self.host.run(["sh", "-c", f"command -v {tool} && command -v bash"], timeout=30)
            self._tools[tool] = res.ok
        return self._tools[tool]

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
            raise RuntimeFailure(f"docker ps failed on {self.host.name}: {res.first_error_line()}")
        ids = res.stdout.split()
        if not ids:
            return []
        out = self.host.run(["docker", "container", "inspect", *ids], timeout=60)
        if not out.ok:  # a container went away between ps and inspect: ask again, one by one
            return [c for c in (self.inspect(i) for i in ids) if c is not None]
        return [Container(raw) for raw in json.loads(out.stdout)]

    def create(self, spec: RunSpec) -> str:
        res = self.host.run(spec.create_argv(self.facts), timeout=120)
        if not res.ok:
            raise RuntimeFailure(f"docker create {spec.name} failed: {res.first_error_line()}")
        return res.stdout.strip()

    def start(self, name: str) -> None:
        res = self.host.run(["docker", "start", name], timeout=120)
        if not res.ok:
            raise RuntimeFailure(f"docker start {name} failed: {res.first_error_line()}")

    def stop(self, name: str, timeout: int = 30) -> None:
        res = self.host.run(["docker", "stop", "-t", str(timeout), name], timeout=timeout + 60)
        if not res.ok and "No such container" not in res.stderr:
            raise RuntimeFailure(f"docker stop {name} failed: {res.first_error_line()}")

    def remove(self, name: str) -> None:
        res = self.host.run(["docker", "rm", "-f", "-v", name], timeout=120)
        if not res.ok and "No such container" not in res.stderr:
            raise RuntimeFailure(f"docker rm {name} failed: {res.first_error_line()}")

    def rename(self, old: str, new: str) -> None:
        res = self.host.run(["docker", "rename", old, new], timeout=60)
        if not res.ok:
            raise RuntimeFailure(f"docker rename {old} {new} failed: {res.first_error_line()}")

    def logs(self, name: str, tail: int = 20) -> str:
        res = self.host.run(["docker", "logs", "--tail", str(tail), name], timeout=30)
        return (res.stdout + res.stderr).strip()
