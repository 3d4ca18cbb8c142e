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
from tests.support.values import CONSENT
from tests.world import MERCHANT, World


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


def _mandate_with_credit(gateway: str, token: str, amount: int, credit: int, currency: str = "EUR"):
    from billing.domain.model import Consent, Customer, Mandate, PaymentMethod, PlanTerms

    now = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    mandate = Mandate(
        id="mdt_minimum",
        merchant_id=MERCHANT,
        plan_id="pln_small",
        terms=PlanTerms(amount=amount, currency=currency, interval="month"),
        customer=Customer(reference="c"),
        created_at=now,
        updated_at=now,
    )
    mandate.activate(now, PaymentMethod(gateway=gateway, token=token), Consent(accepted_at=now))
    mandate.credit = credit
    return mandate


@given(
    amount=st.integers(1, 5000),
    credit=st.integers(0, 20000),
    currency=st.sampled_from(["EUR", "GBP", "JPY", "SEK", "HUF"]),
)
@settings(max_examples=300, deadline=None)
def test_credit_never_leaves_a_stripe_charge_below_stripes_minimum(amount: int, credit: int, currency: str) -> None:
    from billing.domain.engine import charge_lines
    from billing.domain.payment_methods import minimum_charge

    # Given a Stripe mandate carrying credit
    mandate = _mandate_with_credit("stripe", "cus_Test12345678:pm_1Q2w3E4r5T6y7U8i", amount, credit, currency)
    minimum = minimum_charge("stripe", currency)
    # When its next charge is drawn up
    lines = charge_lines(mandate, 1, [])
    total = sum(line.amount for line in lines)
    used = -sum(line.amount for line in lines if line.type == "proration")
    # Then it is nothing, or at least Stripe's minimum (unless the plan itself is below it), and no credit is lost
    assert total == 0 or total >= minimum or amount < minimum
    assert 0 <= used <= credit and total == amount - used
    assert used == min(credit, amount) or total == minimum  # all the credit it can take, short only to leave the minimum
    # And the schedule's preview says the same amount
    assert mandate.upcoming_amounts([(1, mandate.due(1))])[0] == total


def test_a_small_remainder_after_credit_is_charged_at_the_minimum_on_stripe_only() -> None:
    from billing.domain.engine import charge_lines

    # Given €19.99 due and €19.79 of credit: €0.20 left, below Stripe's €0.50
    stripe = _mandate_with_credit("stripe", "cus_Test12345678:pm_1Q2w3E4r5T6y7U8i", 1999, 1979)
    simulated = _mandate_with_credit("simulated", "pm_sim_ok", 1999, 1979)
    # Then with Stripe €0.50 is charged and €0.30 of credit carries on; the simulated gateway takes €0.20
    assert sum(line.amount for line in charge_lines(stripe, 1, [])) == 50
    assert sum(line.amount for line in charge_lines(simulated, 1, [])) == 20
