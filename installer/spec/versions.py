"""Version order for upgrade / downgrade / restore decisions: numbers compare as numbers.

"2026.12.0" > "2026.11.3" > "2026.11"; a non-numeric part compares as text after numbers, so
"1.1-rc1" sorts before "1.1.0". Pure: unit-tested in tests/unit/deploy/test_upgrade_plan.py.
"""

from __future__ import annotations

import re
from typing import Union

_PART = re.compile(r"\d+|[A-Za-z]+")


def version_key(version: str) -> tuple[tuple[int, Union[int, str]], ...]:
    """A sort key: (0, n) for numbers, (-1, text) for words (a pre-release sorts lower)."""
    return tuple(
        (0, int(p)) if p.isdigit() else (-1, p.lower()) for p in _PART.findall(str(version))
    )


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is older than, the same as, or newer than b."""
    ka, kb = version_key(a), version_key(b)
    width = max(len(ka), len(kb))
    ka += ((0, 0),) * (width - len(ka))
    kb += ((0, 0),) * (width - len(kb))
    return (ka > kb) - (ka < kb)
