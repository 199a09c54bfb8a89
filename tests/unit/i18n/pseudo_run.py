"""Run in a child process under the pseudo-locale: every command's --help, through the real
CLI objects (click's CliRunner). Prints {command line: output} as JSON.

A child process because the language is settled when the CLI is imported (--help texts are
read then), and the test process has long imported it in English."""

from __future__ import annotations

import json
import os
import sys

os.environ["SEALBOX_LANG"] = "pseudo"
os.environ["COLUMNS"] = "2000"  # no wrapping: a wrapped help text's second line has no marker

from click.testing import CliRunner  # noqa: E402

import installer.cli  # noqa: E402,F401  (settles the language first)
from tests.unit.cli.clitree import roots, walk  # noqa: E402


def main() -> None:
    runner = CliRunner()
    out: dict[str, str] = {}
    for prog, root in roots().items():
        for path, _cmd in walk(root, []):
            args = [*path, "--help"]
            res = runner.invoke(root, args, prog_name=prog, terminal_width=2000)
            out[" ".join([prog, *args])] = res.output
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
