"""Printing for the CLI: tables and messages for people, pure JSON for machines.

Tables and JSON go to stdout; progress and step lines go to stderr, so `--json | jq` works.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable, Optional, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from installer.events import Event
from installer.i18n import _, english_tree

NO_WRAP = 100_000


def _console(stderr: bool) -> Console:
    """Without a terminal (a pipe, a log file), width from ``COLUMNS`` or none at all: rich's
    80-column fallback would fold each one-line message and table row over several lines,
    exactly in the logged runs where they are read later."""
    probe = Console(stderr=stderr)
    width: Optional[int] = None
    if not probe.is_terminal:
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else NO_WRAP
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


out = _console(False)
err = _console(True)


def print_json(data: Any) -> None:
    # machine output: every text in English, whatever the user's language (issue 21)
    data = english_tree(data)
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def table(title: Optional[str], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", show_lines=False)
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*["-" if v is None or v == "" else str(v) for v in row])
    out.print(t)


def error(message: str) -> None:
    first, _unused, rest = message.partition("\n")
    err.print(_("[bold red]error:[/] {first}").format(first=first), markup=True, highlight=False)
    if rest:
        err.print(rest, markup=False, highlight=False)


class EventPrinter:
    """Turns engine events into stderr lines and a progress bar for image loads."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress: Optional[Progress] = None
        self._task: Optional[TaskID] = None

    def _stop_bar(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def __call__(self, event: Event) -> None:
        if event.kind == "progress":
            if self.quiet or not err.is_terminal:
                return
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("[bold]{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    console=err,
                    transient=True,
                )
                self._progress.start()
                self._task = self._progress.add_task(event.message, total=event.total)
            assert self._task is not None
            self._progress.update(self._task, completed=event.done, total=event.total)
            return
        self._stop_bar()
        if self.quiet and event.kind not in ("warn", "fail"):
            return
        style = {"done": "green", "warn": "yellow", "fail": "red"}.get(event.kind, "")
        text = f"[{event.module}] {event.message}"
        if style:
            err.print(f"[{style}]{escape(text)}[/]", markup=True, highlight=False)
        else:
            err.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self._stop_bar()
