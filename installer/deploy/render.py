"""Jinja2 rendering of the bundle's templates, sandboxed, from verified bytes only.

Templates come from a mapping of name -> source (a VerifiedBundle's `templates`), never from
the disk, so what renders is what was hashed. The environment is
`ImmutableSandboxedEnvironment`: no attribute walks into Python internals (the
`cycler.__init__.__globals__.os` escape raises SecurityError, reported as a one-line SpecError)
and no mutation of values passed in. StrictUndefined: a missing variable is an error naming it
and the file (and line).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Mapping, Optional

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from installer.deploy.render_filters import FILTERS
from installer.errors import SpecError
from installer.i18n import _

PREFIX = "templates/"


class VerifiedLoader(jinja2.BaseLoader):
    """Template sources from memory; the compiled code's file name is "templates/<name>" so a
    render error can name the template line (see _line_in)."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, Optional[str], Callable[[], bool]]:
        if template not in self.sources:
            raise jinja2.TemplateNotFound(template)
        return self.sources[template], PREFIX + template, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


def _line_in(template_file: str) -> Optional[int]:
    """The template line being rendered when the error was raised, from the traceback."""
    tb = sys.exc_info()[2]
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template_file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def sandbox() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    env.filters.update(FILTERS)
    return env


class Renderer:
    def __init__(self, templates: Mapping[str, str]) -> None:
        self.env = sandbox()
        self.env.loader = VerifiedLoader(templates)

    def render_file(self, name: str, context: Mapping[str, Any]) -> str:
        shown = PREFIX + name
        try:
            template = self.env.get_template(name)
        except jinja2.TemplateNotFound:
            raise SpecError(
                _("{shown}: template not found in the bundle").format(shown=shown)
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise SpecError(
                _("{shown}:{lineno}: template syntax error: {message}").format(
                    shown=shown, lineno=exc.lineno, message=exc.message
                )
            ) from None
        try:
            return template.render(**context)
        except jinja2.UndefinedError as exc:
            line = _line_in(shown)
            where = f":{line}" if line else ""
            raise SpecError(
                _(
                    "{shown}{where}: {message}; declare the variable in the module spec or pass --set NAME=VALUE"
                ).format(shown=shown, where=where, message=exc.message)
            ) from None
        except SecurityError as exc:
            line = _line_in(shown)
            where = f":{line}" if line else ""
            raise SpecError(
                _("{shown}{where}: refused by the template sandbox: {exc}").format(
                    shown=shown, where=where, exc=exc
                )
            ) from None

    def render_string(self, text: str, context: Mapping[str, Any], where: str) -> str:
        try:
            return self.env.from_string(text).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            raise SpecError(
                _("{where}: template syntax error: {message}").format(
                    where=where, message=exc.message
                )
            ) from None
        except SecurityError as exc:
            raise SpecError(
                _("{where}: refused by the template sandbox: {exc}").format(where=where, exc=exc)
            ) from None
        except jinja2.UndefinedError as exc:
            raise SpecError(f"{where}: {exc.message}") from None
