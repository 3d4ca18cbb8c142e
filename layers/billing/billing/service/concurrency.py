"""Optimistic concurrency: every write is conditional on the versions read; a writer that lost a
race reads fresh state, decides again and writes again. One helper for every use case."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..domain.errors import ConcurrentModification

T = TypeVar("T")

MAX_CONFLICT_RETRIES = 5  # tries of one change before the conflict is reported


def retry_on_conflict(change: Callable[[int], T], tries: int = MAX_CONFLICT_RETRIES) -> T:
    """Run `change(try_number)` (it reads, decides and commits); after a ConcurrentModification
    run it again on fresh state, at most `tries` times in all, then let the conflict through."""
    for number in range(tries):
        try:
            return change(number)
        except ConcurrentModification:
            if number == tries - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def build_deferred_models() -> None:
    """Build, in this thread, every model of this package not built yet.

    Models are `defer_build` (built on first use: a cold start pays only for what it uses). Two
    threads using one for the first time at once may both build it, and one of them can meet it
    half-built ("validate_assignment is not supported for Charge"). Whoever hands work to threads
    calls this first (it costs nothing once they are built)."""
    from pydantic import BaseModel

    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        for model in stack.pop().__subclasses__():
            stack.append(model)
            if model.__module__.startswith("billing.") and not model.__pydantic_complete__:
                model.model_rebuild(raise_errors=False)
