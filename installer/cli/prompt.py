"""Interactive prompts with working line editing.

The reference installer echoes `^H` for backspace because it reads the raw terminal; importing
readline gives input() full line editing (backspace, arrows, Ctrl-U) on every terminal.
"""

from __future__ import annotations

import getpass
import sys
from typing import Optional

from installer.spec.model import Variable

try:  # readline is absent on some minimal Pythons; input() still works, just without editing
    import readline  # noqa: F401
except ImportError:  # pragma: no cover
    pass


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def prompt_variable(var: Variable, default: Optional[str]) -> str:
    label = var.prompt or var.name
    if var.secret:
        answer = getpass.getpass(f"{label}: ", stream=sys.stderr)
        return answer or (default or "")
    shown = f" [{default}]" if default not in (None, "") else ""
    text = f"{label}{shown}: "
    if sys.stdout.isatty():  # readline must own the prompt to redraw it while editing
        answer = input(text).strip()
    else:  # stdout is a pipe (e.g. --json): keep it clean, prompt on stderr
        sys.stderr.write(text)
        sys.stderr.flush()
        answer = input().strip()
    return answer or (default or "")
