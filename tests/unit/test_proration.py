"""Proration against an independent computation: random plans, anchors on month ends and leap
days, random change times inside a paid period. The expected dates come from a hand-written
calendar (not dateutil, which the engine uses) and the credit from exact fractions of seconds."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from math import floor

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.api.requests import MandateCreate, PlanChangeIn
from tests.world import CONSENT, MERCHANT, World


def add_months(moment: datetime, months: int) -> datetime:
    """The contract's rule: the anchor's day of month, or the month's last day; time kept."""
    year, month = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def expected_due(anchor: datetime, interval: str, count: int, cycle: int) -> datetime:
    periods = (cycle - 1) * count
    if interval == "day":
        return anchor + timedelta(days=periods)
    if interval == "week":
        return anchor + timedelta(days=7 * periods)
    return add_months(anchor, periods * (12 if interval == "year" else 1))


ANCHORS = st.one_of(
    st.sampled_from(
        [
            datetime(2027, 1, 31, 9, 0, tzinfo=timezone.utc),
            datetime(2028, 2, 29, 23, 59, 59, tzinfo=timezone.utc),  # a leap day
            datetime(2027, 3, 30, 0, 0, 1, tzinfo=timezone.utc),
            datetime(2027, 12, 31, 12, 0, tzinfo=timezone.utc),
        ]
    ),
    st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2030, 12, 31)).map(
        lambda d: d.replace(microsecond=0, tzinfo=timezone.utc)
    ),
)
PLANS = st.one_of(
    st.tuples(st.just("day"), st.integers(1, 45)),
    st.tuples(st.just("week"), st.integers(1, 8)),
    st.tuples(st.just("month"), st.integers(1, 13)),
    st.tuples(st.just("year"), st.integers(1, 2)),
)


@settings(max_examples=150, deadline=None)
@given(
    anchor=ANCHORS,
    plan=PLANS,
    amount=st.integers(1, 99_999_999),
    paid=st.integers(1, 3),
    into=st.fractions(min_value=0, max_value=1).filter(lambda f: f < 1),
)
def test_the_credit_is_the_unused_share_of_the_last_paid_period(anchor, plan, amount, paid, into) -> None:
    interval, count = plan
    world = World()
    world.clock.current = anchor
    old = world.plan(amount=amount, interval=interval, interval_count=count)
    new = world.plan(amount=1, interval="month", name="Cheap")
    body = {
        "plan_id": old,
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate_id = world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id
    # Given `paid` cycles charged, each at its independently computed due date
    for cycle in range(1, paid + 1):
        world.clock.current = max(world.clock.now(), expected_due(anchor, interval, count, cycle))
        world.tick()
    charges = world.charges(mandate_id)
    assert [c.due_at for c in charges] == [expected_due(anchor, interval, count, k) for k in range(1, paid + 1)]
    # When the plan changes now, somewhere inside the last paid period (whole seconds)
    start = expected_due(anchor, interval, count, paid)
    end = expected_due(anchor, interval, count, paid + 1)
    length = int((end - start).total_seconds())
    now = start + timedelta(seconds=floor(into * length))
    world.clock.current = now
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    # Then the credit is floor(amount * (end - now) / (end - start)), in seconds
    remaining = int((end - now).total_seconds())
    assert world.get(mandate_id).credit == floor(Fraction(amount * remaining, length))
    # And it is taken off the next charge (due now) as far as it goes, the rest carried
    world.tick()
    first_new = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert first_new.cycle == paid + 1 and first_new.due_at == now
    credit = floor(Fraction(amount * remaining, length))
    assert first_new.amount == max(0, 1 - credit) and sum(line.amount for line in first_new.lines) == first_new.amount
    assert world.get(mandate_id).credit == credit - min(credit, 1)


@settings(max_examples=60, deadline=None)
@given(anchor=ANCHORS, plan=PLANS, cycles=st.integers(1, 40))
def test_the_engine_due_dates_follow_the_contracts_calendar(anchor, plan, cycles) -> None:
    interval, count = plan
    world = World()
    world.clock.current = anchor
    mandate_id = world.mandate(world.plan(interval=interval, interval_count=count))
    mandate = world.get(mandate_id)
    for cycle in range(1, cycles + 1):
        assert mandate.due(cycle) == expected_due(anchor, interval, count, cycle)
