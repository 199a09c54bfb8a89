"""The user's language for every text Sealbox shows (issue 21: zh_CN beside en).

Mark each user-facing text with ``_()`` where it is written; the English text is the message
id (stdlib gettext), so an untranslated text still reads correctly. The catalogues and the
language choice (LC_ALL / LC_MESSAGES / LANG, ``--lang``) live here and nowhere else. Machine
output (``--json``, logs) stays English: it does not go through ``_()``.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path
from typing import Optional

DOMAIN = "sealbox"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_translation: gettext.NullTranslations = gettext.NullTranslations()


def language_from_env(environ: Optional[dict[str, str]] = None) -> str:
    """'zh' when the first of LC_ALL, LC_MESSAGES, LANG that is set names a Chinese locale."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def set_language(lang: Optional[str] = None) -> str:
    """Use ``lang`` ('zh' or 'en'; None = from the environment) for every later ``_()``."""
    global _translation
    chosen = lang or language_from_env()
    if chosen == "zh":
        _translation = gettext.translation(
            DOMAIN, localedir=str(LOCALE_DIR), languages=["zh_CN"], fallback=True
        )
    else:
        _translation = gettext.NullTranslations()
    return chosen


def _(message: str) -> str:
    """``message`` in the user's language (the English text when there is no translation)."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


__all__ = ["DOMAIN", "LOCALE_DIR", "_", "language_from_env", "ngettext", "set_language"]
