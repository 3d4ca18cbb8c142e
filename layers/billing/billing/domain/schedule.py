"""Schedule semantics of the contract, as pure functions of the anchor.

Cycle k is due at ``anchor + (k-1) * interval_count * interval``, always from the anchor.
Months and years clamp to the month's last day while keeping the time of day; dateutil's
relativedelta does exactly that, so no calendar arithmetic is hand-written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict

Interval = Literal["day", "week", "month", "year"]

# The whole period is at most 3 years.
MAX_INTERVAL_COUNT: dict[str, int] = {"day": 1095, "week": 156, "month": 36, "year": 3}


class Cadence(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    interval: Interval
    interval_count: int

    def offset(self, periods: int) -> timedelta | relativedelta:
        n = periods * self.interval_count
        if self.interval == "day":
            return timedelta(days=n)
        if self.interval == "week":
            return timedelta(weeks=n)
        if self.interval == "month":
            return relativedelta(months=n)
        return relativedelta(years=n)


class Term(BaseModel):
    """When billing ends: after `total_cycles` cycles and/or at `end_at` (inclusive)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    total_cycles: int | None = None
    end_at: datetime | None = None

    def includes(self, cycle: int, due_at: datetime) -> bool:
        if self.total_cycles is not None and cycle > self.total_cycles:
            return False
        return self.end_at is None or due_at <= self.end_at


def billing_anchor(activated_at: datetime, start_at: datetime | None, trial_days: int) -> datetime:
    """Billing starts at S = max(activation, start_at); cycle 1 is due S + trial_days days."""
    start = max(activated_at, start_at) if start_at else activated_at
    return start + timedelta(days=trial_days)


def due_at(anchor: datetime, cadence: Cadence, cycle: int) -> datetime:
    if cycle < 1:
        raise ValueError("cycles are numbered from 1")
    return anchor + cadence.offset(cycle - 1)


def first_cycle_on_or_after(anchor: datetime, cadence: Cadence, moment: datetime, not_before: int = 1) -> int:
    """Smallest cycle k >= not_before whose due time is on or after `moment`."""
    if moment <= anchor:
        return not_before
    # Estimate from the average period length, then step exactly; at most a couple of steps.
    period_days = {"day": 1, "week": 7, "month": 30.436875, "year": 365.2425}[cadence.interval] * cadence.interval_count
    estimate = max(not_before, int((moment - anchor) / timedelta(days=period_days)) + 1)
    while estimate > not_before and due_at(anchor, cadence, estimate - 1) >= moment:
        estimate -= 1
    while due_at(anchor, cadence, estimate) < moment:
        estimate += 1
    return estimate


def upcoming(anchor: datetime, cadence: Cadence, term: Term, from_cycle: int) -> Iterator[tuple[int, datetime]]:
    """(cycle, due_at) from `from_cycle` on, while the term lasts."""
    cycle = from_cycle
    while True:
        when = due_at(anchor, cadence, cycle)
        if not term.includes(cycle, when):
            return
        yield cycle, when
        cycle += 1
