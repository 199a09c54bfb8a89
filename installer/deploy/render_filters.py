"""Jinja filters that put a value into one target format safely: SQL, KEY=value, my.cnf, YAML.

Variable validation (installer.deploy.variables) already refuses control characters and keeps secrets
to letters and digits; these filters are the second wall, so a template never depends on what
some earlier check happened to allow. Each filter either returns the value quoted for its
format or refuses it (SpecError, exit 2) -- it never silently drops characters. Refusals name
the template and what the format cannot hold, not the value: it may be a secret.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Callable

import jinja2

from installer.errors import SpecError

# Categories no value may carry into a line-oriented file: control characters (newline, CR,
# NUL, DEL, C1...), surrogates, and the Unicode line/paragraph separators that
# str.splitlines() -- and so the stand-in's service.conf reader -- treats as line breaks.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def forbidden_char(text: str) -> str:
    """The first character no variable or rendered value may hold, as ``U+XXXX``; else ""."""
    for ch in text:
        if unicodedata.category(ch) in FORBIDDEN_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return ""


def _refuse(ctx: jinja2.runtime.Context, fmt: str, why: str) -> SpecError:
    where = f"templates/{ctx.name}" if ctx.name else "a template string"
    return SpecError(f"{where}: a value cannot go into {fmt}: {why}; check the variable's value")


def _text(ctx: jinja2.runtime.Context, value: Any, fmt: str) -> str:
    text = str(value)  # StrictUndefined raises its own "'x' is undefined" here
    bad = forbidden_char(text)
    if bad:
        raise _refuse(ctx, fmt, f"it holds the control character {bad}")
    return text


@jinja2.pass_context
def sql_string(ctx: jinja2.runtime.Context, value: Any) -> str:
    """A complete SQL string literal, quotes included: ``'it''s'``.

    The quote is doubled (valid in every sql_mode) and the backslash escaped, which is right for
    MariaDB's default sql_mode; the template sets no NO_BACKSLASH_ESCAPES.
    """
    text = _text(ctx, value, "a SQL string")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


@jinja2.pass_context
def sql_ident(ctx: jinja2.runtime.Context, value: Any) -> str:
    """A complete backquoted SQL identifier: ``` `face` ```, backquotes doubled."""
    text = _text(ctx, value, "a SQL identifier")
    if not text or len(text) > 64:
        raise _refuse(ctx, "a SQL identifier", "it must be 1 to 64 characters")
    return "`" + text.replace("`", "``") + "`"


@jinja2.pass_context
def conf_value(ctx: jinja2.runtime.Context, value: Any) -> str:
    """The value of a ``KEY=value`` line (service.conf, env files): one line, as is.

    Everything after the first ``=`` is the value, so ``=`` and ``#`` inside it are fine; what
    would change the file's meaning is a line break (a new KEY= line) or leading/trailing
    blanks (the reader refuses or strips them).
    """
    text = _text(ctx, value, "a KEY=value line")
    if text != text.strip():
        raise _refuse(ctx, "a KEY=value line", "it starts or ends with a blank")
    return text


_CNF_FORBIDDEN = "#;\\'\""


@jinja2.pass_context
def cnf_value(ctx: jinja2.runtime.Context, value: Any) -> str:
    """An option value in a MySQL/MariaDB option file (my.cnf), unquoted.

    The option-file reader treats ``#`` as a comment anywhere, interprets backslash escapes and
    strips quotes; none of those have a meaning we want, so they are refused, not escaped.
    """
    text = _text(ctx, value, "a my.cnf option")
    if not text or text != text.strip():
        raise _refuse(ctx, "a my.cnf option", "it is empty or starts or ends with a blank")
    bad = sorted({c for c in text if c in _CNF_FORBIDDEN})
    if bad:
        raise _refuse(ctx, "a my.cnf option", f"it holds {' '.join(bad)}")
    return text


@jinja2.pass_context
def yaml_string(ctx: jinja2.runtime.Context, value: Any) -> str:
    """A complete double-quoted YAML scalar: always a string, whatever the text looks like."""
    text = _text(ctx, value, "a YAML string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


FILTERS: dict[str, Callable[..., str]] = {
    "sql_string": sql_string,
    "sql_ident": sql_ident,
    "conf_value": conf_value,
    "cnf_value": cnf_value,
    "yaml_string": yaml_string,
}
