"""The user's language for every text Sealbox shows (issue 21: zh_CN beside en).

Mark each user-facing text with ``_()`` where it is written; the English text is the message
id (stdlib gettext), so an untranslated text still reads correctly. The catalogues and the
language choice (LC_ALL / LC_MESSAGES / LANG, ``--lang``) live here and nowhere else.

Machine output (``--json``, JUnit, logs) stays English whatever the language: ``_()`` returns a
:class:`Text`, a ``str`` in the user's language that remembers its English form, and
``english()`` gives that form back (``.format()`` keeps it). So an error or an envcheck item
is written once, shown in Chinese, and still serialised in English.

The catalogue is ``locale/zh_CN/LC_MESSAGES/sealbox.po``, compiled to ``sealbox.mo`` (both
committed, shipped in the wheel and so in bundles); ``scripts/i18n_update.py`` extracts and
compiles it.
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

DOMAIN = "sealbox"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "zh")
PSEUDO = "pseudo"  # a test locale: translated texts come out marked, see pseudo_marked()
PSEUDO_OPEN, PSEUDO_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


class Text(str):
    """A text in the user's language that remembers its English form (for machine output)."""

    english: str

    def __new__(cls, shown: str, english_text: str) -> Text:
        obj = super().__new__(cls, shown)
        obj.english = english_text
        return obj

    def format(self, *args: Any, **kwargs: Any) -> Text:  # type: ignore[override]
        shown = str.format(self, *args, **kwargs)
        plain = str.format(
            self.english, *[english(a) for a in args], **{k: english(v) for k, v in kwargs.items()}
        )
        return Text(shown, plain)

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return (str(self), self.english)  # copy, deepcopy and pickle keep both forms

    # Joining and concatenating keep the English too (an f-string does not: use .format()).
    def __add__(self, other: str) -> Text:  # type: ignore[override]
        if not isinstance(other, str):
            return NotImplemented
        return Text(str.__add__(self, other), self.english + english(other))

    def __radd__(self, other: str) -> Text:
        if not isinstance(other, str):
            return NotImplemented
        return Text(str.__add__(other, self), english(other) + self.english)

    def join(self, parts: Iterable[str]) -> Text:  # type: ignore[override]
        items = list(parts)
        return Text(str.join(self, items), str.join(self.english, [english(p) for p in items]))


def english(value: Any) -> Any:
    """The English form of a text from ``_()`` (any other value as it is)."""
    return value.english if isinstance(value, Text) else value


def english_tree(data: Any) -> Any:
    """``data`` (dicts, lists, tuples) with every ``Text`` in English: what ``--json`` prints."""
    if isinstance(data, Text):
        return data.english
    if isinstance(data, dict):
        return {english_tree(k): english_tree(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [english_tree(v) for v in data]
    if isinstance(data, BaseException) and len(data.args) == 1:
        return english_tree(data.args[0]) if isinstance(data.args[0], Text) else str(data)
    return data


def joined(sep: str, parts: Sequence[Any]) -> Text:
    """``sep.join(parts)`` that keeps the English of each part (for machine output)."""
    return Text(
        str(sep).join(str(p) for p in parts), str(english(sep)).join(str(english(p)) for p in parts)
    )


def message_of(exc: BaseException) -> Any:
    """An exception's text as raised (a ``Text`` when it came from ``_()``)."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


def split_subject(message: Any, subject: Optional[str] = None) -> tuple[str, Any]:
    """``"PATH: reason"`` -> (PATH, reason) for a text in either language: the subject is read
    from the English form (a Chinese text has '：' after it), the reason keeps both forms."""
    en = english(message)
    if subject is None:
        subject, sep, _rest = en.partition(": ")
        if not sep:
            return "", message
    elif not en.startswith(subject + ": "):
        return subject, message
    reason_en = en[len(subject) + 2 :]
    shown = str(message)
    for colon in (": ", "\uff1a"):
        if shown.startswith(subject + colon):
            rest = shown[len(subject) + len(colon) :]
            return subject, (Text(rest, reason_en) if isinstance(message, Text) else rest)
    return subject, message


def language_from_env(environ: Optional[Mapping[str, str]] = None) -> str:
    """'zh' when the first of LC_ALL, LC_MESSAGES, LANG that is set names a Chinese locale."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def language_from_argv(argv: Sequence[str]) -> Optional[str]:
    """The value of ``--lang X`` / ``--lang=X`` in a command line, before typer parses it:
    ``--help`` texts are built when the CLI is imported, so the language must be known then."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def _catalogue() -> gettext.NullTranslations:
    return gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=["zh_CN"], fallback=True
    )


class _Pseudo(gettext.NullTranslations):
    """Marks every text the Chinese catalogue translates; an unmarked line is one that never
    went through ``_()`` or has no translation (the pseudo-locale test fails on it)."""

    def __init__(self) -> None:
        super().__init__()
        self._zh = _catalogue()

    def gettext(self, message: str) -> str:
        if message and self._zh.gettext(message) != message:
            return f"{PSEUDO_OPEN}{message}{PSEUDO_CLOSE}"
        return message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        chosen = msgid1 if n == 1 else msgid2
        return self.gettext(chosen)


def set_language(lang: Optional[str] = None) -> str:
    """Use ``lang`` ('zh', 'en', 'pseudo'; None = from the environment) for every later ``_()``.

    ``SEALBOX_LANG`` overrides the locale variables (the pseudo-locale test sets it)."""
    global _translation, _language
    wanted = (lang or "").lower()
    if not (wanted.startswith("zh") or wanted in LANGUAGES or wanted == PSEUDO):
        wanted = ""  # unknown (the CLI refuses it in that language): the environment's
    chosen = (wanted or os.environ.get("SEALBOX_LANG") or language_from_env()).lower()
    chosen = "zh" if chosen.startswith("zh") else chosen
    if chosen == "zh":
        _translation = _catalogue()
    elif chosen == PSEUDO:
        _translation = _Pseudo()
    else:
        chosen = "en"
        _translation = gettext.NullTranslations()
    _language = chosen
    return chosen


def current_language() -> str:
    return _language


def _(message: str) -> Text:
    """``message`` in the user's language (the English text when there is no translation)."""
    return Text(_translation.gettext(message), message)


def ngettext(singular: str, plural: str, n: int) -> Text:
    return Text(_translation.ngettext(singular, plural, n), singular if n == 1 else plural)


def pick(value: Any) -> Any:
    """A bundle's own text, ``{en: ..., zh: ...}`` or a plain string: the user's language,
    English when the spec has no text in it."""
    if isinstance(value, Mapping):
        en = str(value.get("en", ""))
        shown = value.get("zh") if _language == "zh" else None
        if _language == PSEUDO and value.get("zh"):
            shown = f"{PSEUDO_OPEN}{en}{PSEUDO_CLOSE}"
        return Text(str(shown or en), en)
    return value


set_language()

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "PSEUDO",
    "Text",
    "_",
    "current_language",
    "english",
    "english_tree",
    "joined",
    "language_from_argv",
    "message_of",
    "split_subject",
    "language_from_env",
    "ngettext",
    "pick",
    "set_language",
]
