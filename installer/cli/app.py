"""The `sealbox` / `install.py` command line: parses, calls the engine, prints. No logic here."""

from __future__ import annotations

import sys
from typing import List, Optional

import click
import typer

import installer
from envcheck import cli as envcheck_cli
from fingerprint import cli as fingerprint_cli
from installer.cli import bundle as bundle_cli
from installer.cli import day2, modules, output
from installer.cli import k8s as k8s_cli
from installer.cli import license as license_cli
from installer.cli import support as support_cli
from installer.cli.context import CTX
from installer.errors import SealboxError, UsageError
from installer.i18n import LANGUAGES, PSEUDO, _, set_language

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help=_(
        "Sealbox: deploy a vendor's offline bundle (license server, MySQL, services) with Docker."
    ),
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    bundle: Optional[str] = typer.Option(
        None, "--bundle", "-b", help=_("Bundle directory (default: here).")
    ),
    state_dir: Optional[str] = typer.Option(
        None, "--state-dir", help=_("State directory (default /var/lib/sealbox).")
    ),
    lang: Optional[str] = typer.Option(
        None,
        "--lang",
        help=_("Language of messages: zh or en (default: from LC_ALL, LC_MESSAGES, LANG)."),
    ),
    runtime: Optional[str] = typer.Option(
        None,
        "--runtime",
        help=_(
            "Container runtime on every target: docker, podman or auto (default: the "
            "inventory's, else auto: Docker where installed, else Podman)."
        ),
    ),
    ulimit: Optional[List[str]] = typer.Option(
        None,
        "--ulimit",
        help=_(
            "NAME=SOFT[:HARD] for every container created (repeatable), e.g. "
            "nofile=1024:1024; default: the inventory's, else the engine's defaults."
        ),
    ),
) -> None:
    if lang is not None:
        if lang.lower() not in LANGUAGES and lang.lower() != PSEUDO:
            raise UsageError(_("--lang {lang}: choose zh or en").format(lang=lang))
        set_language(lang)
    CTX.bundle = bundle
    CTX.state_dir = state_dir
    CTX.set_runtime(runtime, ulimit or [])


@app.command("version", help=_("Print the Sealbox version."))
def version() -> None:
    output.out.print(_("sealbox {version}").format(version=installer.__version__))


modules.register(app)
day2.register(app)
support_cli.register(app, license_cli.app)


# Sub-apps, mounted with plain imports: a module that cannot be imported stops the CLI with
# its traceback, never a command (or the checks it brings) silently missing.
# one command, not a group: `install.py envcheck PROFILE` works as `envcheck PROFILE`
app.command("envcheck", help=envcheck_cli.HELP)(envcheck_cli.check)
app.add_typer(fingerprint_cli.app, name="fingerprint")
app.add_typer(license_cli.app, name="license")
app.add_typer(bundle_cli.app, name="bundle")
app.add_typer(k8s_cli.app, name="k8s")


def main(argv: Optional[List[str]] = None, prog_name: str = "sealbox") -> None:
    """Run the CLI; SealboxErrors become one red line and their documented exit code."""
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        output.error(_("aborted"))
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except SealboxError as exc:
        output.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error(_("interrupted; re-run the same command to resume"))
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
