"""Click's and typer's own texts (help panels, usage errors) through Sealbox's catalogue.

Both libraries call the stdlib ``gettext`` of the default domain, which has no Chinese; their
modules' ``_`` / ``ngettext`` are pointed at ``installer.i18n`` instead, and typer's panel
titles (constants read at import) set from it. The texts are listed here so the catalogue
extraction sees them: the ones a Sealbox user meets (help, missing or unknown options).
"""

from __future__ import annotations

from typing import Any

import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.termui
import click.types
import typer.core
import typer.rich_utils

from installer.i18n import _, ngettext

_MODULES: tuple[Any, ...] = (
    click.core,
    click.decorators,
    click.exceptions,
    click.formatting,
    click.parser,
    click.termui,
    click.types,
    typer.core,
    typer.rich_utils,
)


def _marked() -> None:
    """Never called: the texts click and typer pass to ``_``, for the catalogue."""
    _("Show this message and exit.")
    _("Show the version and exit.")
    _("Usage:")
    _("Options")
    _("Commands")
    _("Arguments")
    _("Error")
    _("[required]")
    _("[default: {}]")
    _("Aborted!")
    _("Missing command.")
    _("No such command {name!r}.")
    _("Error: {message}")
    _("Try '{command} {option}' for help.")
    _("Missing argument")
    _("Missing option")
    _("Missing parameter")
    _("Missing {param_type}")
    _("Missing parameter: {param_name}")
    _("No such option {name!r}.")
    _("No such option: {name}")
    _("Invalid value: {message}")
    _("Invalid value for {param_hint}: {message}")
    _("Option {name!r} requires an argument.")
    _("Option {name!r} does not take a value.")
    _("Argument {name!r} takes {nargs} values.")
    _("{value!r} is not a valid integer.")
    _("{value!r} is not one of {choices}.")
    _("{value!r} is not {choice}.")
    _("default: {default}")
    _("required")
    _("env var: {var}")
    ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2)
    ngettext(
        "Got unexpected extra argument ({args})",
        "Got unexpected extra arguments ({args})",
        2,
    )
    ngettext(
        "Option {name!r} requires {nargs} arguments.",
        "Option {name!r} requires {nargs} arguments.",
        2,
    )


def _gettext(message: str) -> str:
    return str(_(message))


def _ngettext(singular: str, plural: str, n: int) -> str:
    return str(ngettext(singular, plural, n))


def install() -> None:
    """Route click's and typer's texts through the user's language (idempotent)."""
    for module in _MODULES:
        if hasattr(module, "_"):
            module._ = _gettext
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext
    ru = typer.rich_utils
    ru.OPTIONS_PANEL_TITLE = _gettext("Options")
    ru.COMMANDS_PANEL_TITLE = _gettext("Commands")
    ru.ARGUMENTS_PANEL_TITLE = _gettext("Arguments")
    ru.ERRORS_PANEL_TITLE = _gettext("Error")
    ru.REQUIRED_LONG_STRING = _gettext("[required]")
    ru.DEFAULT_STRING = _gettext("[default: {}]")
