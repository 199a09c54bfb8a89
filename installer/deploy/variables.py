"""Variable values for a deployment: --set, answers file, remembered state, prompts, defaults.

Resolution order per variable: --set, answers file, the value remembered in the host's state,
a generated secret, an interactive prompt (TTY only, default shown), the spec's default. A
variable with none of these is an error that names it and how to set it.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import yaml

from installer.deploy.render_filters import forbidden_char
from installer.errors import UsageError
from installer.i18n import _
from installer.spec.model import ModuleSpec, Variable

# What the generator produces is also all a secret may hold: letters and digits need no
# quoting in SQL, shell, KEY=value or YAML, so a password can never end the string it sits in.
SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_MIN_LENGTH = 16  # or the generator's own length, when that is shorter
SECRET_MAX_LENGTH = 128  # the most a spec may ask the generator for
HOSTNAME_RE = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")

Prompter = Callable[[Variable, Optional[str]], str]


def generate_secret(length: int) -> str:
    """Letters and digits only, so a password is safe in SQL, shell and KEY=value files."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))


def parse_set_options(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(
                _("--set {item!r}: expected NAME=VALUE, e.g. --set mysql_host=10.0.0.5").format(
                    item=item
                )
            )
        key, _unused, value = item.partition("=")
        key = key.strip()
        if "." in key:  # module.name is accepted for readability; names are global
            key = key.split(".", 1)[1]
        values[key] = value
    return values


def load_answers(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError:
        raise UsageError(_("{path}: answers file not found").format(path=path)) from None
    except yaml.YAMLError as exc:
        raise UsageError(
            _("{path}: malformed YAML: {exc}").format(path=path, exc=str(exc).splitlines()[0])
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UsageError(_("{path}: expected a mapping of variable: value").format(path=path))
    return {str(k): v for k, v in doc.items()}


def _check_secret(var: Variable, value: str, hint: str) -> None:
    """A secret must look like one the generator could have made (the value is never shown)."""
    shortest = min(SECRET_MIN_LENGTH, var.generate) if var.generate else SECRET_MIN_LENGTH
    if not shortest <= len(value) <= SECRET_MAX_LENGTH or value.strip(SECRET_ALPHABET):
        raise UsageError(
            _(
                "variable {name}: a secret must be {shortest}-{secret_max_length} letters and digits (A-Z a-z 0-9), like the generated ones; leave it unset to generate one {hint}"
            ).format(
                name=var.name, shortest=shortest, secret_max_length=SECRET_MAX_LENGTH, hint=hint
            )
        )


def validate(var: Variable, raw: Any, source: str) -> Any:
    """Coerce and check a value; the error says which variable, what was wrong, how to fix.

    Every value, whatever its type, is refused if it holds a control character (newline, CR,
    NUL, DEL...) or a Unicode line separator: values end up in line-oriented files.
    """
    hint = f"(from {source}; set it with --set {var.name}=VALUE)"
    if not isinstance(raw, (bool, int, float)):
        bad = forbidden_char(str(raw))
        if bad:
            shown = "" if var.secret else f" in {raw!r}"
            raise UsageError(
                _("variable {name}: control character {bad}{shown} is not allowed {hint}").format(
                    name=var.name, bad=bad, shown=shown, hint=hint
                )
            )
    text = str(raw).strip() if not isinstance(raw, bool) else raw
    if var.type in ("int", "port"):
        try:
            value: Any = int(text)
        except (TypeError, ValueError):
            raise UsageError(
                _("variable {name}: expected an integer, got {raw!r} {hint}").format(
                    name=var.name, raw=raw, hint=hint
                )
            ) from None
        if var.type == "port" and not 1 <= value <= 65535:
            raise UsageError(
                _("variable {name}: port must be 1-65535, got {value} {hint}").format(
                    name=var.name, value=value, hint=hint
                )
            )
    elif var.type == "bool":
        if isinstance(text, bool):
            value = text
        elif str(text).lower() in ("1", "true", "yes", "on"):
            value = True
        elif str(text).lower() in ("0", "false", "no", "off"):
            value = False
        else:
            raise UsageError(
                _("variable {name}: expected true or false, got {raw!r} {hint}").format(
                    name=var.name, raw=raw, hint=hint
                )
            )
    elif var.type == "host":
        value = str(text)
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not HOSTNAME_RE.fullmatch(value):
                raise UsageError(
                    _(
                        "variable {name}: expected an IP address or host name, got {raw!r} {hint}"
                    ).format(name=var.name, raw=raw, hint=hint)
                ) from None
    else:
        value = str(raw)
    if var.secret:
        _check_secret(var, str(value), hint)
    shown = "the value" if var.secret else repr(raw)
    if var.choices and str(value) not in var.choices:
        raise UsageError(
            _("variable {name}: must be one of {choices}, got {shown} {hint}").format(
                name=var.name, choices=", ".join(var.choices), shown=shown, hint=hint
            )
        )
    # fullmatch: with re.match, "$" also matches before a trailing newline
    if var.pattern and not re.fullmatch(var.pattern, str(value)):
        raise UsageError(
            _("variable {name}: {shown} does not match {pattern} {hint}").format(
                name=var.name, shown=shown, pattern=var.pattern, hint=hint
            )
        )
    return value


@dataclass
class Resolved:
    values: dict[str, Any] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)
    sources: dict[str, str] = field(default_factory=dict)  # name -> where the value came from

    def public(self) -> dict[str, Any]:
        """Values safe to store in plain state and show: secrets left out."""
        return {k: v for k, v in self.values.items() if k not in self.secrets}

    def secret_values(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self.secrets}


def resolve(
    specs: list[ModuleSpec],
    *,
    overrides: Mapping[str, Any],
    answers: Mapping[str, Any],
    remembered: Mapping[str, Any],
    default_context: Callable[[ModuleSpec], Mapping[str, Any]],
    render_default: Callable[[str, Mapping[str, Any], str], str],
    prompter: Optional[Prompter] = None,
    others: Sequence[ModuleSpec] = (),
) -> Resolved:
    """Resolve every variable the given modules declare (dependencies' variables included).

    `others` are the bundle's remaining modules: a value given for one of their variables is
    checked and kept (remembered for when that module is installed), not refused.
    """
    declared = {v.name: (spec, v) for spec in specs for v in spec.variables}
    elsewhere = {v.name: v for spec in others for v in spec.variables if v.name not in declared}
    for source, given in (("--set", overrides), ("the answers file", answers)):
        unknown = sorted(set(given) - set(declared) - set(elsewhere))
        if unknown:
            raise UsageError(
                _("{source}: unknown variable {unknown} (known: {declared})").format(
                    source=source,
                    unknown=", ".join(unknown),
                    declared=", ".join(sorted(set(declared) | set(elsewhere))),
                )
            )
    result = Resolved()
    for name, var in elsewhere.items():
        for source, given in (("--set", overrides), ("the answers file", answers)):
            if name in given and name not in result.values:
                result.values[name] = validate(var, given[name], source)
                result.sources[name] = source
                if var.secret:
                    result.secrets.add(name)
    for name, (spec, var) in declared.items():
        if var.secret:
            result.secrets.add(name)
        if name in overrides:
            result.values[name] = validate(var, overrides[name], "--set")
            result.sources[name] = "--set"
        elif name in answers:
            result.values[name] = validate(var, answers[name], "the answers file")
            result.sources[name] = "answers"
        elif name in remembered:
            result.values[name] = validate(var, remembered[name], "the installed state")
            result.sources[name] = "state"
        elif var.secret and var.generate:
            result.values[name] = generate_secret(var.generate)
            result.sources[name] = "generated"
        else:
            default: Optional[str] = None
            if var.default is not None:
                default = (
                    render_default(
                        var.default,
                        default_context(spec),
                        f"{spec.source}: variables.{name}.default",
                    )
                    if isinstance(var.default, str) and "{" in var.default
                    else str(var.default)
                )
            if prompter is not None and var.prompt:
                answer = prompter(var, default)
                result.values[name] = validate(var, answer, "the prompt")
                result.sources[name] = "prompt"
            elif default is not None:
                result.values[name] = validate(var, default, f"{spec.source} default")
                result.sources[name] = "default"
            else:
                raise UsageError(
                    _(
                        "variable {name} of module {name2} has no value: pass --set {name}=VALUE or put it in an --answers file"
                    ).format(name=name, name2=spec.name)
                )
    return result
