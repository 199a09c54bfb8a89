"""Jinja2 rendering with StrictUndefined: a missing variable is an error naming it and the file."""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Optional

import jinja2

from installer.errors import SpecError
from installer.render_filters import FILTERS


def _line_in(template_file: str) -> Optional[int]:
    """The template line being rendered when the error was raised, from the traceback."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template_file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Renderer:
    def __init__(self, templates_dir: str) -> None:
        self.templates_dir = templates_dir
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self.env.filters.update(FILTERS)

    def render_file(self, name: str, context: Mapping[str, Any]) -> str:
        shown = f"templates/{name}"
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise SpecError(f"{shown}: template not found in the bundle") from None
        except jinja2.TemplateSyntaxError as exc:
            raise SpecError(f"{shown}:{exc.lineno}: template syntax error: {exc.message}") from None
        try:
            return template.render(**context)
        except jinja2.UndefinedError as exc:
            line = _line_in(os.path.join(self.templates_dir, name))
            where = f":{line}" if line else ""
            raise SpecError(
                f"{shown}{where}: {exc.message}; declare the variable in the module spec "
                f"or pass --set NAME=VALUE"
            ) from None

    def render_string(self, text: str, context: Mapping[str, Any], where: str) -> str:
        try:
            return self.env.from_string(text).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            raise SpecError(f"{where}: template syntax error: {exc.message}") from None
        except jinja2.UndefinedError as exc:
            raise SpecError(f"{where}: {exc.message}") from None
