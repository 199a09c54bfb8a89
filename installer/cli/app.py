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
from installer.cli import k8s as k8s_cli
from installer.cli import license as license_cli
from installer.cli import modules, output
from installer.cli.context import CTX
from installer.errors import SealboxError
from installer.facts.arch import OVERRIDE_ENV, override_note
from installer.i18n import _

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Sealbox: deploy a vendor's offline bundle (license server, MySQL, services) with Docker.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    bundle: Optional[str] = typer.Option(
        None, "--bundle", "-b", help="Bundle directory (default: here)."
    ),
    state_dir: Optional[str] = typer.Option(
        None, "--state-dir", help="State directory (default /var/lib/sealbox)."
    ),
) -> None:
    CTX.bundle = bundle
    CTX.state_dir = state_dir
    forced = override_note()
    if forced:  # visible every time: a test stand-in, never a way to run on the wrong CPU
        output.err.print(
            _(
                "[yellow]warning:[/] ${env}={value}: the hosts' CPU architecture is "
                "OVERRIDDEN for tests; unset it on real installs"
            ).format(env=OVERRIDE_ENV, value=forced),
            highlight=False,
        )


@app.command("version", help="Print the Sealbox version.")
def version() -> None:
    output.out.print(f"sealbox {installer.__version__}")


modules.register(app)


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
        output.error("aborted")
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except SealboxError as exc:
        output.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        output.error("interrupted; re-run the same command to resume")
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
