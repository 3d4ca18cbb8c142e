"""The schedule, checked against an independent computation for random plans and anchors."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone

from dateutil.rrule import DAILY, WEEKLY, rrule
from hypothesis import given
from hypothesis import strategies as st

from billing.domain import schedule
from billing.domain.schedule import MAX_INTERVAL_COUNT, Cadence, Term

anchors = st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2090, 12, 31)).map(
    lambda d: d.replace(tzinfo=timezone.utc)
)
month_end_anchors = st.builds(
    lambda year, month, day_back, hour: datetime(
        year, month, calendar.monthrange(year, month)[1] - day_back, hour, 30, tzinfo=timezone.utc
    ),
    st.integers(1999, 2090),
    st.integers(1, 12),
    st.integers(0, 3),
    st.integers(0, 23),
)
cadences = st.sampled_from(["day", "week", "month", "year"]).flatmap(
    lambda interval: st.builds(Cadence, interval=st.just(interval), interval_count=st.integers(1, MAX_INTERVAL_COUNT[interval]))
)


def oracle(anchor: datetime, cadence: Cadence, cycle: int) -> datetime:
    """Month arithmetic by hand with the calendar module: clamp to the month's last day."""
    n = (cycle - 1) * cadence.interval_count
    if cadence.interval in ("day", "week"):
        return anchor + timedelta(days=n * (7 if cadence.interval == "week" else 1))
    months = n * (12 if cadence.interval == "year" else 1)
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return anchor.replace(year=year, month=month + 1, day=day)


@given(anchor=anchors | month_end_anchors, cadence=cadences, cycle=st.integers(1, 200))
def test_cycle_due_matches_independent_computation(anchor: datetime, cadence: Cadence, cycle: int) -> None:
    # Given a random plan cadence and anchor, When cycle k's due time is computed,
    # Then it equals the hand computation, keeps the time of day, and clamps to the month end.
    due = schedule.due_at(anchor, cadence, cycle)
    assert due == oracle(anchor, cadence, cycle)
    assert due.timetz() == anchor.timetz()
    if cadence.interval in ("month", "year"):
        assert due.day == min(anchor.day, calendar.monthrange(due.year, due.month)[1])


@given(
    anchor=anchors,
    cadence=st.builds(Cadence, interval=st.sampled_from(["day", "week"]), interval_count=st.integers(1, 30)),
    count=st.integers(1, 40),
)
def test_day_and_week_cycles_agree_with_rrule(anchor: datetime, cadence: Cadence, count: int) -> None:
    # Given a daily or weekly cadence, When its first cycles are computed, Then they are dateutil's rrule's
    anchor = anchor.replace(microsecond=0)  # rrule works in whole seconds
    freq = DAILY if cadence.interval == "day" else WEEKLY
    expected = list(rrule(freq, interval=cadence.interval_count, dtstart=anchor, count=count))
    assert [schedule.due_at(anchor, cadence, k) for k in range(1, count + 1)] == expected


@given(anchor=anchors | month_end_anchors, cadence=cadences, cycles=st.integers(2, 60))
def test_due_times_strictly_increase_from_the_anchor(anchor: datetime, cadence: Cadence, cycles: int) -> None:
    # Given any cadence and anchor, Then cycle 1 is the anchor and each cycle comes strictly after the last
    dues = [schedule.due_at(anchor, cadence, k) for k in range(1, cycles + 1)]
    assert dues[0] == anchor
    assert all(a < b for a, b in zip(dues, dues[1:]))


@given(anchor=anchors | month_end_anchors, cadence=cadences, offset=st.integers(0, 10_000), start=st.integers(1, 5))
def test_first_cycle_on_or_after_is_the_smallest(anchor: datetime, cadence: Cadence, offset: int, start: int) -> None:
    # Given any moment after the anchor, When the first cycle on or after it is asked for
    moment = anchor + timedelta(hours=offset * 7)
    k = schedule.first_cycle_on_or_after(anchor, cadence, moment, start)
    # Then it is due at or after the moment, and the cycle before it is not
    assert k >= start
    assert schedule.due_at(anchor, cadence, k) >= moment
    assert k == start or schedule.due_at(anchor, cadence, k - 1) < moment


def test_month_end_anchor_clamps_each_month_from_the_anchor() -> None:
    # Given Jan 31 09:00, monthly: Feb 28 (29 in leap years), Mar 31, Apr 30, never drifting.
    cadence = Cadence(interval="month", interval_count=1)
    for year, february in ((2027, 28), (2028, 29)):
        anchor = datetime(year, 1, 31, 9, tzinfo=timezone.utc)
        assert [schedule.due_at(anchor, cadence, k).day for k in range(1, 5)] == [31, february, 31, 30]


def test_leap_day_yearly_anchor() -> None:
    # Given a yearly plan anchored on Feb 29
    anchor = datetime(2028, 2, 29, 12, tzinfo=timezone.utc)
    cadence = Cadence(interval="year", interval_count=1)
    # Then it is due on Feb 28 in common years and Feb 29 in leap years
    assert [schedule.due_at(anchor, cadence, k).date().isoformat() for k in (1, 2, 5)] == [
        "2028-02-29",
        "2029-02-28",
        "2032-02-29",
    ]


def test_anchor_is_later_of_activation_and_start_plus_trial() -> None:
    # Given an activation, a start and a trial
    activation = datetime(2026, 11, 25, 9, tzinfo=timezone.utc)
    # Then billing starts at the later of activation and start, plus the trial
    assert schedule.billing_anchor(activation, None, 14) == datetime(2026, 12, 9, 9, tzinfo=timezone.utc)
    later = datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert schedule.billing_anchor(activation, later, 0) == later
    assert schedule.billing_anchor(activation, datetime(2020, 1, 1, tzinfo=timezone.utc), 0) == activation


@given(total=st.integers(1, 30), cadence=cadences, anchor=anchors)
def test_term_ends_after_total_cycles(total: int, cadence: Cadence, anchor: datetime) -> None:
    # Given a term of N cycles, Then exactly cycles 1..N are produced
    produced = list(schedule.upcoming(anchor, cadence, Term(total_cycles=total), 1))
    assert [k for k, _ in produced] == list(range(1, total + 1))


def test_term_ends_at_end_at_inclusive() -> None:
    # Given a monthly term ending on the 15th of April, anchored on the 15th
    anchor = datetime(2026, 1, 15, tzinfo=timezone.utc)
    cadence = Cadence(interval="month", interval_count=1)
    # Then the cycle due on the end date itself is included
    produced = list(schedule.upcoming(anchor, cadence, Term(end_at=datetime(2026, 4, 15, tzinfo=timezone.utc)), 1))
    assert [d.month for _, d in produced] == [1, 2, 3, 4]
