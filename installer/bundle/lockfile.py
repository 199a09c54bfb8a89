"""requirements/runtime.lock: the exact dependency wheels a bundle may carry, with their hashes.

One resolution per target Python (`scripts/lock_runtime.py` runs `pip download` for the bundle
platform and each Python version, then records name==version and the sha256 of the file it
got). pip-compile resolves for the interpreter it runs on, so it cannot lock for a 3.9 and a
3.12 customer host from one machine; `pip download --platform --python-version` can. The file
is a valid pip requirements file (`pip install --require-hashes -r` picks the lines whose
`python_version` marker matches). Its header records a digest of pyproject.toml's dependency
list, so a changed dependency without a new lock is refused instead of silently carried.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from installer.errors import UsageError
from installer.i18n import _

LOCK_REL = "requirements/runtime.lock"
DIGEST_HEADER = "# dependencies-sha256: "
PLATFORM_HEADER = "# platform: "
_LINE = re.compile(
    r'^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+) ; python_version == "(?P<py>3\.\d+)"'
    r"(?P<hashes>(?: --hash=sha256:[0-9a-f]{64})+)$"
)


@dataclass(frozen=True)
class Locked:
    name: str
    version: str
    python: str  # "3.11": the target Python this line was resolved for
    hashes: tuple[str, ...]

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Lock:
    entries: tuple[Locked, ...]
    dependencies_sha256: str
    platform: str  # pip platform tags, space-separated (one wheel per architecture)
    sha256: str  # of the lock file's bytes, recorded in the signed manifest

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(self.platform.split())

    def for_python(self, version: str) -> list[Locked]:
        return [e for e in self.entries if e.python == version]

    def pythons(self) -> list[str]:
        return sorted({e.python for e in self.entries}, key=lambda v: tuple(map(int, v.split("."))))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_dependencies(pyproject_text: str) -> list[str]:
    """[project].dependencies of our own pyproject.toml (a flat list of strings)."""
    m = re.search(r"^dependencies = \[(.*?)^\]", pyproject_text, re.S | re.M)
    if not m:
        raise UsageError(_("pyproject.toml: no 'dependencies = [...]' list"))
    return sorted(re.findall(r'^\s*"([^"]+)"', m.group(1), re.M))


def dependencies_digest(deps: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()


def parse_lock(data: bytes, source: str = LOCK_REL) -> Lock:
    digest = platform = ""
    entries: list[Locked] = []
    logical = data.decode("utf-8").replace("\\\n", " ").splitlines()
    for n, raw in enumerate(logical, 1):
        line = " ".join(raw.split())
        if line.startswith(DIGEST_HEADER.strip()):
            digest = line.split(": ", 1)[1]
        elif line.startswith(PLATFORM_HEADER.strip()):
            platform = line.split(": ", 1)[1]
        elif line and not line.startswith("#"):
            m = _LINE.match(line)
            if not m:
                raise UsageError(
                    _("{source}: entry {n} not understood: {line}").format(
                        source=source, n=n, line=line[:80]
                    )
                )
            hashes = tuple(h.split(":", 1)[1] for h in m.group("hashes").split())
            entries.append(Locked(canonical(m["name"]), m["version"], m["py"], hashes))
    if not digest or not platform:
        raise UsageError(
            _("{source}: no '{digest_header}' or '{platform_header}' header").format(
                source=source,
                digest_header=DIGEST_HEADER.strip(),
                platform_header=PLATFORM_HEADER.strip(),
            )
        )
    return Lock(tuple(entries), digest, platform, hashlib.sha256(data).hexdigest())


def render_lock(entries: Iterable[Locked], deps: list[str], platform: str) -> str:
    out = [
        "# Sealbox's runtime dependencies, as the wheels a bundle carries: one resolution per",
        "# target Python. Made by `python scripts/lock_runtime.py` (pip download --platform",
        "# --python-version); do not edit. `sealbox bundle create` downloads exactly these files",
        "# (pip --require-hashes) and records their hashes in the signed manifest.",
        f"{PLATFORM_HEADER}{platform}",
        f"{DIGEST_HEADER}{dependencies_digest(deps)}",
    ]
    out += [f"#   {d}" for d in deps]
    for e in sorted(entries, key=lambda e: (tuple(map(int, e.python.split("."))), e.name)):
        out.append(f'{e.requirement} ; python_version == "{e.python}" \\')
        out += [f"    --hash=sha256:{h}" + (" \\" if i < len(e.hashes) - 1 else "")
                for i, h in enumerate(e.hashes)]  # fmt: skip
    return "\n".join(out) + "\n"


def load_lock(root: str) -> Lock:
    """The lock beside pyproject.toml; refused when it is missing or older than the deps."""
    path = os.path.join(root, *LOCK_REL.split("/"))
    try:
        with open(path, "rb") as fh:
            lock = parse_lock(fh.read(), path)
    except FileNotFoundError:
        raise UsageError(
            _("{path}: missing; run 'python scripts/lock_runtime.py'").format(path=path)
        ) from None
    with open(os.path.join(root, "pyproject.toml"), encoding="utf-8") as fh:
        deps = pyproject_dependencies(fh.read())
    if dependencies_digest(deps) != lock.dependencies_sha256:
        raise UsageError(
            _(
                "{path}: stale, pyproject.toml's dependencies changed since it was made; run 'python scripts/lock_runtime.py' and commit the result"
            ).format(path=path)
        )
    return lock
