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
from envcheck.jobs import envcheck_job
from envcheck.profiles import Catalog, default_catalog
from installer.cli.output import NO_WRAP
from installer.cli.remote import with_targets
from installer.errors import SealboxError, UsageError
from installer.hosts.base import Host
from installer.hosts.local import LocalHost
from installer.i18n import _

HELP = _(
    "Check this host (or -H/--inventory hosts) against module profiles; the last line gives "
    "the conclusion. Exit codes: 0 pass, 3 a required item failed, 4 only optional items "
    "failed, 1 the check itself could not run (host unreachable, a check crashed), 2 bad usage."
)

app = typer.Typer(add_completion=False, help=HELP)
DEFAULT_LOG = "~/.sealbox/envcheck.log"


class Format(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"


def _console(stream=None) -> Console:  # type: ignore[no-untyped-def]
    """Rich console; when piped, ``COLUMNS`` wide or not wrapped at all, so log files keep
    whole cells and each item on one line (as installer.cli.output does)."""
    stream = stream or sys.stdout
    columns = os.environ.get("COLUMNS", "")
    width = None
    if not stream.isatty():
        width = int(columns) if columns.isdigit() and int(columns) > 0 else NO_WRAP
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _host() -> Host:
    """This machine's Host, for the inventory of one (unit tests hand in a recorded one)."""
    return LocalHost()


def _parse_thresholds(values: List[str]) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise UsageError(
                _("--threshold {v!r}: write ITEM.THRESHOLD=VALUE, e.g. memory.min_gb=16").format(
                    v=v
                )
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


def _per_host(inventory, names: list[str], catalog: Catalog):  # type: ignore[no-untyped-def]
    """Profiles named on the command line go to every host; else each host is checked against
    the profiles of the modules the inventory places on it (none placed: the default)."""
    if names:
        return None

    def pick(host: str) -> list[str]:
        return [m for m in inventory.hosts[host].modules if m in catalog.profiles]

    return pick


def _print_report(report, verbose: bool, fmt: Format, log: Optional[str]) -> int:  # type: ignore[no-untyped-def]
    """This machine's report, in full: the log file, the format asked for, the exit code."""
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    if log:
        if log == DEFAULT_LOG:
            os.makedirs(os.path.dirname(os.path.expanduser(log)), exist_ok=True)
        log = os.path.expanduser(log)
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
            out.print(
                _("Failed items on {host} ('*' = optional):").format(host=report.host), markup=False
            )
            out.print(output.failures_table(report))
        for line in output.item_lines(report, ("skip",)):
            out.print(line, markup=False)
        if verbose:
            for line in output.item_lines(report, ("pass",)):
                out.print(line, markup=False)
        typer.echo(report.conclusion)
    for item in report.errors():
        err.print(
            _("check {profile}/{id_} could not run: {error}").format(
                profile=item.profile, id_=item.id, error=item.error
            ),
            markup=False,
        )
    if log:
        err.print(_("envcheck: raw facts written to {log}").format(log=log), markup=False)
    return code


def _host_block(r) -> None:  # type: ignore[no-untyped-def]
    """-H / --inventory: a block per host before the summary."""
    report = r.data
    out = _console()
    out.print(f"== {r.host} ==", markup=False)
    if report.failed_required() or report.failed_optional():
        out.print(output.failures_table(report))
    for line in output.item_lines(report, ("skip",)):
        out.print(line, markup=False)
    out.print(report.conclusion, markup=False)


@app.command(help=HELP)
@with_targets
def check(
    profiles: List[str] = typer.Argument(
        None,
        metavar="[PROFILE ...] | list",
        help=_(
            "Profiles to check: default, or a module of the bundle whose spec declares one; "
            "none = default. 'list' shows the profiles."
        ),
    ),
    bundle: Optional[str] = typer.Option(
        None,
        "--bundle",
        "-b",
        help=_(
            "Bundle (or checkout) whose modules/*.yaml give the profiles (default: the bundle "
            "install.py ran from, else this checkout)."
        ),
    ),
    verbose: bool = typer.Option(False, "-v", "--verbose", help=_("Also list passed items.")),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help=_("table, json or junit.")),
    log: str = typer.Option(
        DEFAULT_LOG,
        "--log",
        help=_(
            "Where to write the raw facts for support (not the current folder: it may be "
            "the bundle's, which carries only what its manifest lists)."
        ),
    ),
    no_log: bool = typer.Option(False, "--no-log", help=_("Write no log file.")),
    thresholds: List[str] = typer.Option(
        [],
        "--threshold",
        "-t",
        metavar="ITEM.THRESHOLD=VALUE",
        help=_(
            "Override a threshold, e.g. memory.min_gb=16, physical.allow_virtual=true, "
            "disk-install.path=/data (PROFILE/ITEM.THRESHOLD for one profile)."
        ),
    ),
    skip: List[str] = typer.Option(
        [], "--skip-check", metavar="ITEM", help=_("Do not count ITEM (or PROFILE/ITEM).")
    ),
) -> None:
    names = list(profiles or [])
    catalog = _catalog(bundle)
    if names[:1] == ["list"]:
        if len(names) > 1:
            raise UsageError(_("'list' takes no profile names"))
        _list(fmt, verbose, catalog)
        return
    from installer.cli.remote import on_targets, targets

    t = targets()
    overrides = _parse_thresholds(thresholds)
    skipped = list(skip)

    def here(r) -> None:  # type: ignore[no-untyped-def]
        raise typer.Exit(_print_report(r.data, verbose, fmt, None if no_log else log))

    def work(f):  # type: ignore[no-untyped-def]
        job = envcheck_job(
            names, overrides, skipped, _per_host(f.inventory, names, catalog), catalog
        )
        results = f.each_host(job)
        for r in results:
            if r.status == "unreachable":
                r.exit_code = 1  # envcheck's code for "the check itself could not run", not 3
            if fmt is Format.json and r.data is not None and not t.here:
                r.data = r.data.to_dict(raw=False)  # --json on hosts: the full reports
        return results

    on_targets(
        t,
        None,
        work,
        here,
        title="envcheck",
        as_json=fmt is Format.json,
        details=_host_block,
        quiet=True,
        local_host=_host,
    )


def _list(fmt: Format, verbose: bool, catalog: Catalog) -> None:
    if fmt is Format.table:
        out = _console()
        out.print(_("envcheck profiles ('*' = optional item; -v for thresholds):"), markup=False)
        out.print(output.profiles_table(verbose, catalog))
    else:
        typer.echo(json.dumps(output.profiles_data(catalog), indent=2))


def main(argv: Optional[List[str]] = None) -> int:
    """Console-script entry (also for `install.py envcheck ...`): returns the exit code."""
    try:
        rc = app(args=argv, prog_name="envcheck", standalone_mode=False)
    except SealboxError as exc:
        typer.echo(_("envcheck: {exc}").format(exc=exc), err=True)
        return exc.exit_code
    except click.ClickException as exc:  # bad option or value: click says which
        exc.show()
        return 2
    except click.exceptions.Abort:
        return 1
    except OSError as exc:  # e.g. the log file cannot be written
        typer.echo(_("envcheck: {exc}").format(exc=exc), err=True)
        return 1
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
