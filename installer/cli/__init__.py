"""The command line (typer): parses and prints; nothing else imports it.

The user's language is settled here, before any CLI module is imported: typer reads each
command's ``--help`` text when the command is declared, so ``--lang`` (read from the raw
command line; typer parses it again later) and LC_ALL / LC_MESSAGES / LANG must be known
first. Click's and typer's own texts ("Usage:", "Show this message and exit.") go through the
same catalogue (``installer.cli.clicktexts``).
"""

from __future__ import annotations

import sys

from installer.i18n import language_from_argv, set_language

set_language(language_from_argv(sys.argv[1:]))

from installer.cli import clicktexts  # noqa: E402  (after the language is set)

clicktexts.install()
