"""TARGET business days: the calendar euro bank debits settle on (weekdays except 1 January, Good
Friday, Easter Monday, 1 May, 25 and 26 December), from the maintained `holidays` library (its
European Central Bank calendar), never a hand-written list. Pure: no clock, no I/O.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def _closed(year: int) -> frozenset[date]:
    import holidays  # imported on first use: only the functions that count business days pay for it

    calendar: Any = holidays.financial_holidays("XECB", years=year)
    return frozenset(calendar.keys())


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _closed(day.year)


def add_business_days(moment: datetime, days: int) -> datetime:
    """The same time of day on the `days`-th TARGET business day after `moment`'s date (a debit
    made on a Friday with 3 days settles on Wednesday; holidays are skipped)."""
    day, left = moment.date(), days
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            left -= 1
    return datetime.combine(day, moment.timetz())


def business_days_between(start: datetime, end: datetime) -> int:
    """How many TARGET business days lie after `start`'s date, up to and including `end`'s."""
    day, count = start.date(), 0
    while day < end.date():
        day += timedelta(days=1)
        count += is_business_day(day)
    return count
