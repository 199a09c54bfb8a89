"""Progress events: the engine reports through a callback and never prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Event:
    kind: str  # step | progress | done | warn | fail
    module: str
    message: str
    container: str = ""
    done: int = 0
    total: int = 0


Reporter = Callable[[Event], None]


def silent(_event: Event) -> None:
    return None


def make(reporter: Optional[Reporter]) -> Reporter:
    return reporter or silent
