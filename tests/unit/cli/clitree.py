"""The real command trees (sealbox / install.py, envcheck, fingerprint) and a parse-only run.

``parse`` hands a command line to click exactly as running it would -- option names, choices,
types, required and extra arguments, subcommand names -- but stops before any callback runs,
so a documented command that would install or delete something is checked without doing it.
"""

from __future__ import annotations

import shlex
from typing import Iterator

import click
import typer


def roots() -> dict[str, click.Command]:
    import envcheck.cli
    import fingerprint.cli
    from installer.cli.app import app

    return {
        "sealbox": typer.main.get_command(app),
        "envcheck": typer.main.get_command(envcheck.cli.app),
        "fingerprint": typer.main.get_command(fingerprint.cli.app),
    }


def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from walk(sub, [*path, name])


PROGRAMS = {
    "sealbox": "sealbox",
    "install.py": "sealbox",
    "./install.py": "sealbox",
    "envcheck": "envcheck",
    "fingerprint": "fingerprint",
}


def program_of(argv: list[str]) -> tuple[str, list[str]]:
    """``sudo python3 install.py in x`` -> ("sealbox", ["in", "x"]); unknown -> ("", argv)."""
    rest = list(argv)
    while rest and rest[0] in ("sudo", "python3", "python"):
        rest = rest[1:]
    if rest and rest[0] in PROGRAMS:
        return PROGRAMS[rest[0]], rest[1:]
    return "", argv


def parse(line: str) -> click.Context:
    """Parse ``line`` through the real tree; raises click's usage errors like a real run."""
    argv = shlex.split(line)
    prog, args = program_of(argv)
    if not prog:
        raise ValueError(f"not a Sealbox command line: {line}")
    cmd = roots()[prog]
    ctx = cmd.make_context(prog, list(args))
    while isinstance(ctx.command, click.Group):
        rest = [*ctx._protected_args, *ctx.args]  # what the group leaves for its subcommand
        if not rest:
            break
        name, sub, rest = ctx.command.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
    return ctx
