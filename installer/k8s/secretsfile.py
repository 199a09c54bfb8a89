"""Secret variable values kept between renders, so a re-render yields the same passwords.

A generated MySQL password that changed on every render would roll the face service onto a
password the (already initialised) database does not know. The file is YAML, mode 0600, and
its values are never printed.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

import installer.i18n.yamltext  # noqa: F401  (a Text in the YAML is written in English)
from installer.errors import UsageError
from installer.i18n import _

SECRETS_DIR = ".sealbox"  # inside the output dir: `kubectl apply -f DIR` does not descend
SECRETS_NAME = "secrets.yaml"


def default_path(out_dir: str) -> str:
    return os.path.join(out_dir, SECRETS_DIR, SECRETS_NAME)


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except FileNotFoundError:
        return {}
    except yaml.YAMLError:
        raise UsageError(
            _("{path}: malformed secrets file; restore it or delete it to regenerate").format(
                path=path
            )
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UsageError(_("{path}: expected a mapping of variable: value").format(path=path))
    return {str(k): v for k, v in doc.items()}


def save(path: str, values: dict[str, Any]) -> None:
    """Atomic write, 0600 from the start (never world-readable, not even briefly)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(dict(sorted(values.items())), fh, default_flow_style=False)
    os.replace(tmp, path)
