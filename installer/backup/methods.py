"""How a module's data is saved and put back, per the spec's ``backup.method``.

Every command runs on the module's host through the Host (this machine and SSH alike). A
password never reaches a command line: it goes in on stdin and the container's shell reads it
into MYSQL_PWD. Outputs are written under umask 077.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from installer.errors import RuntimeFailure, UsageError
from installer.hosts.base import Host
from installer.i18n import _
from installer.spec.model import ModuleSpec

DUMP_FILE = "data.sql.gz"
ARCHIVE_FILE = "data.tar.gz"
_DUMP = (
    "IFS= read -r MYSQL_PWD; export MYSQL_PWD; D=$(command -v mariadb-dump || command -v mysqldump); "
    'exec "$D" -u"$1" --single-transaction --routines --triggers --add-drop-database '
    '--databases "$2"'
)
_LOAD = (
    "IFS= read -r MYSQL_PWD; export MYSQL_PWD; C=$(command -v mariadb || command -v mysql); "
    'exec "$C" -u"$1"'
)


@dataclass(frozen=True)
class Target:
    """Where a module's data is on its host: its containers and data directories."""

    spec: ModuleSpec
    containers: list[str]
    data_root: str  # <state>/data
    data_paths: list[str]  # relative to data_root: module[-i]/name
    values: Mapping[str, Any]
    cli: str = "docker"  # the host's engine program (docker | podman: the state records it)


def data_file(method: str) -> str:
    return DUMP_FILE if method == "mysqldump" else ARCHIVE_FILE


def _value(t: Target, var: str | None, default: str, what: str) -> str:
    if not var:
        return default
    if var not in t.values:
        raise UsageError(
            _(
                "{source}: backup.{what} names variable {var}, which the host's state does not hold; re-run 'in {module}' first"
            ).format(source=t.spec.source, what=what, var=var, module=t.spec.name)
        )
    return str(t.values[var])


def _check(host: Host, res: Any, what: str) -> None:
    if not res.ok:
        raise RuntimeFailure(
            _("{what} failed on {host}: {err}").format(
                what=what, host=host.name, err=res.first_error_line()
            )
        )


def save(host: Host, t: Target, out: str) -> None:
    """Write the module's data to ``out`` (compressed)."""
    b = t.spec.backup
    if b.method == "mysqldump":
        user = _value(t, b.user, "root", "user")
        pw = _value(t, b.password, "", "password")
        db = _value(t, b.database, "", "database")
        script = (
            f"set -o pipefail 2>/dev/null; umask 077; {t.cli} exec -i {shlex.quote(t.containers[0])} "
            f"sh -c {shlex.quote(_DUMP)} sh {shlex.quote(user)} {shlex.quote(db)} "
            f"| gzip -c > {shlex.quote(out)}"
        )
        res = host.run(["bash", "-c", script], input=(pw + "\n").encode(), timeout=3600)
        _check(host, res, f"mariadb-dump of {t.spec.name}")
        return
    if b.method == "archive":
        stop = b.stop
        if stop:
            for c in t.containers:
                host.run([t.cli, "stop", "-t", "30", c])
        try:
            res = host.run(
                ["sh", "-c", 'umask 077; out="$1"; root="$2"; shift 2; '
                 'tar -czf "$out" -C "$root" -- "$@"', "sh", out, t.data_root, *t.data_paths],
                timeout=3600,
            )  # fmt: skip
            _check(host, res, f"archive of {t.spec.name}'s data")
        finally:
            if stop:
                for c in t.containers:
                    host.run([t.cli, "start", c])
        return
    raise UsageError(
        _(
            "{source}: backup.method {method} is not supported by this Sealbox (mysqldump, archive)"
        ).format(source=t.spec.source, method=b.method)
    )


def load(host: Host, t: Target, src: str) -> None:
    """Put the data of ``src`` back; the module's containers are running (dump) or are
    stopped here and started again (archive)."""
    b = t.spec.backup
    if b.method == "mysqldump":
        user = _value(t, b.user, "root", "user")
        pw = _value(t, b.password, "", "password")
        script = (
            'set -o pipefail; IFS= read -r P; { printf "%s\\n" "$P"; gzip -dc "$1"; } '
            f"| {t.cli} exec -i {shlex.quote(t.containers[0])} sh -c {shlex.quote(_LOAD)} "
            f"sh {shlex.quote(user)}"
        )
        res = host.run(
            ["bash", "-c", script, "bash", src], input=(pw + "\n").encode(), timeout=3600
        )
        _check(host, res, f"restore of {t.spec.name}'s dump")
        return
    if b.method == "archive":
        for c in t.containers:
            host.run([t.cli, "stop", "-t", "30", c])
        try:
            res = host.run(
                ["sh", "-c", 'src="$1"; root="$2"; shift 2; cd "$root" && rm -rf -- "$@" && '
                 'tar -xzf "$src" -C "$root"', "sh", src, t.data_root, *t.data_paths],
                timeout=3600,
            )  # fmt: skip
            _check(host, res, f"restore of {t.spec.name}'s data")
        finally:
            for c in t.containers:
                host.run([t.cli, "start", c])
        return
    raise UsageError(
        _("{source}: backup.method {method} cannot be restored").format(
            source=t.spec.source, method=b.method
        )
    )
