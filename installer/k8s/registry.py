"""A small Docker Registry HTTP API v2 client: is this image already in the registry?

`docker push` alone would answer "layer already exists" per layer but still needs the image
loaded locally first; asking the registry for the manifest first lets a re-run skip loading
and pushing entirely. An image counts as present only when the manifest under its tag names
the same config digest (= the Docker image ID), not merely when the tag exists.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Optional

from installer.errors import HostError
from installer.i18n import _

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
DOCKER_CERTS = "/etc/docker/certs.d"


@dataclass(frozen=True)
class RemoteImage:
    digest: str  # manifest digest (what `docker pull repo@digest` takes)
    config_digest: Optional[str]  # None for a manifest list / index


class AuthRequired(Exception):
    """The registry wants credentials for reads; callers then push without the check."""


def split_ref(ref: str) -> tuple[str, str]:
    """'vendor.io:5000/a/b:1.0' -> ('a/b', '1.0'): the repository path without any registry."""
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        name = rest
    return name, tag


class RegistryClient:
    def __init__(
        self,
        registry: str,
        *,
        insecure: bool = False,
        ca_file: Optional[str] = None,
        timeout: float = 30.0,
    ) -> None:
        self.registry = registry
        self.insecure = insecure
        self.timeout = timeout
        self.base = f"{'http' if insecure else 'https'}://{registry}"
        self._ctx: Optional[ssl.SSLContext] = None
        if not insecure:
            # Same CA lookup as the Docker daemon, so one trust setup serves both.
            ca = ca_file or os.path.join(DOCKER_CERTS, registry, "ca.crt")
            self._ctx = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)

    def _open(self, method: str, path: str, accept: Optional[str] = None):
        req = urllib.request.Request(self.base + path, method=method)
        if accept:
            req.add_header("Accept", accept)
        return urllib.request.urlopen(req, timeout=self.timeout, context=self._ctx)

    def _unreachable(self, exc: Exception) -> HostError:
        reason = getattr(exc, "reason", exc)
        hint = (
            "is it a plain-HTTP registry? pass --insecure"
            if not self.insecure and isinstance(reason, (ssl.SSLError, ConnectionResetError))
            else "check the address, that the registry runs, and TLS (--insecure for plain HTTP)"
        )
        return HostError(f"registry {self.registry} unreachable ({reason}); {hint}")

    def ping(self) -> None:
        """GET /v2/: 200 (open) or 401 (wants auth) both mean a v2 registry answers."""
        try:
            with self._open("GET", "/v2/"):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                return
            raise HostError(
                _(
                    "registry {registry}: /v2/ answered HTTP {code}; not a Docker v2 registry?"
                ).format(registry=self.registry, code=exc.code)
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._unreachable(exc) from None

    def manifest(self, repo: str, reference: str) -> Optional[RemoteImage]:
        """The image under repo:reference (tag or digest), or None when absent."""
        try:
            with self._open("GET", f"/v2/{repo}/manifests/{reference}", MANIFEST_TYPES) as resp:
                body = resp.read()
                digest = resp.headers.get("Docker-Content-Digest", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            if exc.code == 401:
                raise AuthRequired(self.registry) from None
            raise HostError(
                _("registry {registry}: manifest {repo}:{reference} answered HTTP {code}").format(
                    registry=self.registry, repo=repo, reference=reference, code=exc.code
                )
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._unreachable(exc) from None
        try:
            doc = json.loads(body)
        except ValueError:
            raise HostError(
                _("registry {registry}: manifest {repo}:{reference} is not JSON").format(
                    registry=self.registry, repo=repo, reference=reference
                )
            ) from None
        if not digest:
            import hashlib

            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        config = (doc.get("config") or {}).get("digest") if isinstance(doc, dict) else None
        return RemoteImage(digest, config)
