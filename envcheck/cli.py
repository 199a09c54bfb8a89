"""The `envcheck` command: parse arguments, run the engine, print. No checking logic here."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from typing import List, Optional

import click
import typer
from rich.console import Console

from envcheck import output
from envcheck.engine import run_checks
from envcheck.profiles import Catalog, default_catalog
from installer.cli.remote import with_targets
from installer.errors import SealboxError, UsageError
from installer.hosts.base import Host
from installer.hosts.local import LocalHost

HELP = (
    "Check this host (or -H/--inventory hosts) against module profiles; the last line gives "
    "the conclusion. Exit codes: 0 pass, 3 a required item failed, 4 only optional items "
    "failed, 1 the check itself could not run (host unreachable, a check crashed), 2 bad usage."
)

app = typer.Typer(add_completion=False, help=HELP)


class Format(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"


def _console(stream=None) -> Console:  # type: ignore[no-untyped-def]
    """Rich console; wide when piped so log files keep whole cells."""
    stream = stream or sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _host() -> Host:
    """The host to check; this machine until -H/--inventory land with the SSH issue."""
    return LocalHost()


def _parse_thresholds(values: List[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"--threshold {v!r}: write ITEM.THRESHOLD=VALUE, e.g. memory.min_gb=16"
            )
        out[key.strip()] = value.strip()
    return out


def _catalog(bundle: Optional[str]) -> Catalog:
    """The profiles of the module specs: --bundle, else the sealbox root --bundle, else the
    bundle install.py ran from, else this checkout (envcheck.profiles.default_catalog)."""
    if bundle is None:
        from installer.cli.context import CTX

        bundle = CTX.bundle
    return default_catalog(bundle)


def _profiles_per_host(inventory, names: list[str], catalog: Catalog):  # type: ignore[no-untyped-def]
    """Profiles named on the command line go to every host; else each host is checked against
    the profiles of the modules the inventory places on it (none placed: the default)."""
    if names:
        return None

    def pick(host: str) -> list[str]:
        return [m for m in inventory.hosts[host].modules if m in catalog.profiles]

    return pick


def _check_hosts(
    t, names: list[str], overrides: dict, skip: list[str], fmt: Format, catalog: Catalog
) -> None:
    """-H / --inventory: the same check on every host, a block per host, then the summary."""
    from installer.cli.remote import finish, fleet
    from installer.fleet.fleet import envcheck_hosts

    f = fleet(t, None, quiet=True)
    results = envcheck_hosts(
        f, names, overrides, skip, _profiles_per_host(f.inventory, names, catalog), catalog
    )

    def details(r) -> None:
        report = r.data
        out = _console()
        out.print(f"== {r.host} ==", markup=False)
        if report.failed_required() or report.failed_optional():
            out.print(output.failures_table(report))
        for line in output.item_lines(report, ("skip",)):
            out.print(line, markup=False)
        out.print(report.conclusion, markup=False)

    for r in results:  # --json: the full reports
        if r.status == "unreachable":
            r.exit_code = 1  # envcheck's code for "the check itself could not run", not 3
        if fmt is Format.json and r.data is not None:
            r.data = r.data.to_dict(raw=False)
    finish("envcheck", results, fmt is Format.json, details, f.log_dir)


@app.command(help=HELP)
@with_targets
def check(
    profiles: List[str] = typer.Argument(
        None,
        metavar="[PROFILE ...] | list",
        help="Profiles to check: default, or a module of the bundle whose spec declares one; "
        "none = default. 'list' shows the profiles.",
    ),
    bundle: Optional[str] = typer.Option(
        None,
        "--bundle",
        "-b",
        help="Bundle (or checkout) whose modules/*.yaml give the profiles (default: the bundle "
        "install.py ran from, else this checkout).",
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Also list passed items."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, json or junit."),
    log: str = typer.Option(
        "envcheck.log", "--log", help="Where to write the raw facts for support."
    ),
    no_log: bool = typer.Option(False, "--no-log", help="Write no log file."),
    thresholds: List[str] = typer.Option(
        [],
        "--threshold",
        "-t",
        metavar="ITEM.THRESHOLD=VALUE",
        help="Override a threshold, e.g. memory.min_gb=16, physical.allow_virtual=true, "
        "disk-install.path=/data (PROFILE/ITEM.THRESHOLD for one profile).",
    ),
    skip: List[str] = typer.Option(
        [], "--skip-check", metavar="ITEM", help="Do not count ITEM (or PROFILE/ITEM)."
    ),
) -> None:
    names = list(profiles or [])
    catalog = _catalog(bundle)
    if names[:1] == ["list"]:
        if len(names) > 1:
            raise UsageError("'list' takes no profile names")
        _list(fmt, verbose, catalog)
        return
    from installer.cli.remote import targets

    t = targets()
    if t:
        return _check_hosts(t, names, _parse_thresholds(thresholds), list(skip), fmt, catalog)
    err = Console(file=sys.stderr, highlight=False)
    report = run_checks(
        _host(),
        names,
        overrides=_parse_thresholds(thresholds),
        skip=list(skip),
        catalog=catalog,
    )
    if not no_log and log:
        with open(log, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(raw=True), fh, indent=2)
            fh.write("\n")
    code = output.exit_code(report)
    if fmt is Format.json:
        typer.echo(output.report_json(report, raw=verbose))
    elif fmt is Format.junit:
        typer.echo(output.report_junit(report))
    else:
        out = _console()
        if report.failed_required() or report.failed_optional():
            out.print(f"Failed items on {report.host} ('*' = optional):", markup=False)
            out.print(output.failures_table(report))
        for line in output.item_lines(report, ("skip",)):
            out.print(line, markup=False)
        if verbose:
            for line in output.item_lines(report, ("pass",)):
                out.print(line, markup=False)
        typer.echo(report.conclusion)
    for item in report.errors():
        err.print(f"check {item.profile}/{item.id} could not run: {item.error}", markup=False)
    if not no_log and log:
        err.print(f"envcheck: raw facts written to {log}", markup=False)
    raise typer.Exit(code)


def _list(fmt: Format, verbose: bool, catalog: Catalog) -> None:
    if fmt is Format.table:
        out = _console()
        out.print("envcheck profiles ('*' = optional item; -v for thresholds):", markup=False)
        out.print(output.profiles_table(verbose, catalog))
    else:
        typer.echo(json.dumps(output.profiles_data(catalog), indent=2))


def main(argv: Optional[List[str]] = None) -> int:
    """Console-script entry (also for `install.py envcheck ...`): returns the exit code."""
    try:
        rc = app(args=argv, prog_name="envcheck", standalone_mode=False)
    except SealboxError as exc:
        typer.echo(f"envcheck: {exc}", err=True)
        return exc.exit_code
    except click.ClickException as exc:  # bad option or value: click says which
        exc.show()
        return 2
    except click.exceptions.Abort:
        return 1
    except OSError as exc:  # e.g. the log file cannot be written
        typer.echo(f"envcheck: {exc}", err=True)
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
