"""The dashboard's figures kept from the event stream equal a recomputation from the raw objects.

The history is made through the service on fakes (tests/world.py), so the events are the real
ones; they reach the keeper late, shuffled and twice. The recomputation below reads the stored
mandates, charges, refunds and disputes and applies docs/metrics.md's definitions directly: it
calls nothing of `domain/figures` or the keeper.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.api.requests import PauseIn, PaymentMethodIn
from billing.domain.charge import Charge
from billing.domain.disputes import Dispute
from billing.domain.errors import BillingError
from billing.domain.figures import DEFINITION, CurrencyOverview, overview
from billing.domain.model import Event, Mandate
from billing.domain.refunds import Refund
from billing.service.figures import FigureKeeper
from billing.service.messages import PublishedEvent
from tests.figure_fakes import InMemoryFigureStore
from tests.world import MERCHANT, World, change_plan, refund

MONTHS_PER_INTERVAL = {"month": Fraction(1), "year": Fraction(1, 12), "week": Fraction(52, 12), "day": Fraction(365, 12)}
FINAL = ("cancelled", "revoked", "completed")


# ------------------------------------------------------------------- the recomputation
def _objects(world: World, kind: type) -> list[Any]:
    return [o for (m, _), o in world.repo.items.items() if m == MERCHANT and isinstance(o, kind)]


def _stopped_at(m: Mandate) -> datetime | None:
    if m.status in FINAL:
        return m.ended_at
    if m.status == "paused":
        return m.paused_at
    return None


def _counts_in_mrr(m: Mandate, day: date) -> bool:
    if m.activated_at is None:
        return False
    first = max(t for t in (m.activated_at, m.start_at, m.trial_ends_at) if t is not None)
    stopped = _stopped_at(m)
    return first.date() <= day and (stopped is None or day < stopped.date())


def _mrr(mandates: list[Mandate], currency: str, day: date) -> Fraction:
    return sum(
        (
            m.terms.amount * MONTHS_PER_INTERVAL[m.terms.interval] / m.terms.interval_count
            for m in mandates
            if m.terms.currency == currency and _counts_in_mrr(m, day)
        ),
        Fraction(0),
    )


def _money_day(c: Charge) -> date:
    paid = [a for a in c.attempts if a.outcome == "succeeded"]
    return (paid[-1].settled_at or paid[-1].at).date() if paid else c.due_at.date()


def recompute(world: World, currency: str, now: datetime) -> dict[str, Any]:
    today = now.date()
    window = [today - timedelta(days=n) for n in range(30)]
    before = today - timedelta(days=30)
    mandates = [m for m in _objects(world, Mandate) if m.terms.currency == currency]
    charges = {c.id: c for c in _objects(world, Charge) if c.currency == currency}
    refunds = [r for r in _objects(world, Refund) if r.currency == currency]
    disputes = [d for d in _objects(world, Dispute) if d.currency == currency]
    paid = [c for c in charges.values() if c.status == "succeeded"]
    new = sum(1 for m in mandates if m.activated_at and m.activated_at.date() in window)
    ended = sum(1 for m in mandates if m.activated_at and m.status in FINAL and m.ended_at and m.ended_at.date() in window)
    live_before = sum(
        1
        for m in mandates
        if m.activated_at
        and m.activated_at.date() <= before
        and not (m.status in FINAL and m.ended_at and m.ended_at.date() <= before)
    )
    upcoming = [
        m
        for m in mandates
        if m.status == "active" and m.next_charge_at and today <= m.next_charge_at.date() < today + timedelta(days=7)
    ]
    past_due = [m for m in mandates if m.status == "past_due"]
    open_disputes = [d for d in disputes if d.status in ("needs_response", "under_review")]
    month_ends, first = [today], today.replace(day=1)
    for _ in range(11):
        month_ends.append(first - timedelta(days=1))
        first = month_ends[-1].replace(day=1)
    return {
        "mrr": _mrr(mandates, currency, today),
        "active": sum(1 for m in mandates if m.status == "active"),
        "new": new,
        "ended": ended,
        "churn_rate": Fraction(ended, live_before + new) if live_before + new else None,
        "collected": sum(c.amount for c in paid if _money_day(c) in window),
        "refunded": sum(r.amount for r in refunds if r.status == "succeeded" and r.updated_at.date() in window),
        "recovered": sum(c.amount for c in paid if _money_day(c) in window and any(a.outcome == "declined" for a in c.attempts)),
        "past_due": (len(past_due), sum(charges[m.open_charge_id].amount for m in past_due if m.open_charge_id)),
        "upcoming": (len(upcoming), sum(m.terms.amount for m in upcoming)),
        "disputes_open": (len(open_disputes), sum(d.amount for d in open_disputes)),
        "collected_by_day": [
            (d, sum(c.amount for c in paid if _money_day(c) == d)) for d in (today - timedelta(days=89 - n) for n in range(90))
        ],
        "mrr_by_month": [(end.strftime("%Y-%m"), _mrr(mandates, currency, end)) for end in reversed(month_ends)],
    }


def shown(o: CurrencyOverview) -> dict[str, Any]:
    return {
        "mrr": o.mrr_exact,
        "active": o.active,
        "new": o.new,
        "ended": o.ended,
        "churn_rate": o.churn_rate,
        "collected": o.collected,
        "refunded": o.refunded,
        "recovered": o.recovered,
        "past_due": (o.past_due_count, o.past_due_amount),
        "upcoming": (o.upcoming_count, o.upcoming_amount),
        "disputes_open": (o.disputes_open, o.disputes_open_amount),
        "collected_by_day": list(o.collected_by_day),
        "mrr_by_month": list(o.mrr_by_month),
    }


def figures_of(keeper: FigureKeeper, currency: str, now: datetime) -> dict[str, Any]:
    found = {o.currency: o for o in keeper.overview(MERCHANT, now)}
    return shown(found.get(currency) or overview({(currency, "T"): {}}, now)[0])


# ------------------------------------------------------------------- the history
PLANS = [
    {"amount": 1999, "currency": "EUR", "interval": "month"},
    {"amount": 12000, "currency": "EUR", "interval": "year"},
    {"amount": 700, "currency": "EUR", "interval": "week", "interval_count": 2},
    {"amount": 999, "currency": "EUR", "interval": "month", "interval_count": 3, "trial_days": 10},
    {"amount": 101, "currency": "EUR", "interval": "day", "interval_count": 7},
    {"amount": 500, "currency": "JPY", "interval": "month", "trial_days": 3},
]
STARTS = [0, 0, 0, 5, 800]  # days ahead of its creation a mandate's billing starts (start_at)
TOKENS = ["pm_sim_ok", "pm_sim_ok", "pm_sim_insufficient_funds", "pm_sim_fail_once", "pm_sim_expired_card"]

action = st.one_of(
    st.tuples(st.just("mandate"), st.integers(0, len(PLANS) - 1), st.sampled_from(TOKENS), st.sampled_from(STARTS)),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("revoke"), st.integers(0, 9)),
    st.tuples(st.just("pause_until"), st.integers(0, 9), st.sampled_from([2, 20])),
    st.tuples(st.just("pause"), st.integers(0, 9)),
    st.tuples(st.just("resume"), st.integers(0, 9)),
    st.tuples(st.just("change_plan"), st.integers(0, 9), st.integers(0, len(PLANS) - 1)),
    st.tuples(st.just("new_card"), st.integers(0, 9)),
    st.tuples(st.just("refund"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("dispute"), st.integers(0, 20)),
    st.tuples(st.just("reverse"), st.integers(0, 20)),
    st.tuples(st.just("close_dispute"), st.integers(0, 5), st.sampled_from(["won", "lost", "under_review"])),
    st.tuples(st.just("deliver"), st.integers(0, 2**16)),
)
# Each step: an action, then the clock moves on (hours) and the engine runs.
step = st.tuples(action, st.sampled_from([0, 6, 30, 80, 24 * 9, 24 * 35]))


class History:
    def __init__(self, world: World, seed: int) -> None:
        self.world, self.random = world, random.Random(seed)
        self.plans = [world.plan(**terms) for terms in PLANS]
        self.mandates: list[str] = []
        self.store = InMemoryFigureStore()
        self.keeper = FigureKeeper(world.repo, self.store)
        self.delivered = 0  # events of the commits so far handed out (some held back)
        self.held: list[Event] = []

    def events(self) -> list[Event]:
        return [e for c in self.world.repo.commits for e in c.events if e.merchant_id == MERCHANT]

    def deliver(self, share: float) -> None:
        """Some of the new and held events, shuffled, some twice; the rest held back."""
        everything = self.events()
        self.held += everything[self.delivered :]
        self.delivered = len(everything)
        self.random.shuffle(self.held)
        cut = int(len(self.held) * share)
        now, self.held = self.held[:cut], self.held[cut:]
        now += self.random.sample(now, len(now) // 3)
        self.random.shuffle(now)
        for start in range(0, len(now), 10):  # batches as the queue hands them
            batch = self.keeper.keep_events([PublishedEvent.of(e) for e in now[start : start + 10]])
            assert not batch.failed

    def run(self, kind: str, *args: Any) -> None:
        world, api = self.world, self.world.api
        pick = self.mandates[args[0] % len(self.mandates)] if self.mandates and kind != "mandate" else None
        try:
            if kind == "mandate":
                days = args[2] if len(args) > 2 else 0
                start = {"start_at": (world.clock.now() + timedelta(days=days)).isoformat()} if days else {}
                self.mandates.append(world.mandate(self.plans[args[0]], token=args[1], **start))
            elif kind == "advance":
                world.run_until(world.clock.now() + timedelta(hours=args[0]), step=timedelta(hours=12))
                world.apply_reported()
            elif pick is None:
                return
            elif kind == "cancel":
                api.mandates.cancel(MERCHANT, pick)
            elif kind == "revoke":
                api.mandates.revoke(MERCHANT, pick)
            elif kind == "pause":
                api.mandates.pause(MERCHANT, pick, PauseIn())
            elif kind == "pause_until":
                api.mandates.pause(MERCHANT, pick, PauseIn(resume_at=world.clock.now() + timedelta(days=args[1])))
            elif kind == "resume":
                api.mandates.resume(MERCHANT, pick)
            elif kind == "change_plan":
                change_plan(world, pick, self.plans[args[1]])
            elif kind == "new_card":
                api.mandates.replace_payment_method(MERCHANT, pick, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))
                world.deliver_all()
            elif kind == "refund":
                self._refund(args[0], args[1])
            elif kind == "dispute":
                self._dispute(args[0])
            elif kind == "reverse":
                self._reverse(args[0])
            elif kind == "close_dispute":
                references = sorted(world.gateway.disputes)
                if references:
                    world.apply(world.gateway.dispute_moves(references[args[0] % len(references)], args[1]))
        except BillingError:
            pass

    def _paid(self, index: int) -> Charge | None:
        paid = sorted((c for c in self.world.charges() if c.status == "succeeded" and c.amount > 0), key=lambda c: c.id)
        return paid[index % len(paid)] if paid else None

    def _refund(self, index: int, whole: bool) -> None:
        if (charge := self._paid(index)) is not None:
            refund(self.world, charge.id, **({} if whole else {"amount": max(1, charge.amount // 3)}))
            self.world.tick()

    def _reverse(self, index: int) -> None:
        """The bank sends a collected payment back (then it is retried: recovered if it succeeds)."""
        charge = self._paid(index)
        if charge is not None and not charge.disputed and charge.amount_refunded == 0 and charge.paid_with is not None:
            self.world.apply(self.world.gateway.reverse(charge.id))

    def _dispute(self, index: int) -> None:
        charge = self._paid(index)
        if charge is not None and not charge.disputed and charge.amount_refunded == 0:
            self.world.apply(self.world.gateway.open_dispute(charge.id, amount=charge.amount))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    first=st.lists(
        st.tuples(st.integers(0, len(PLANS) - 1), st.sampled_from(TOKENS), st.sampled_from(STARTS)), min_size=1, max_size=4
    ),
    steps=st.lists(step, min_size=3, max_size=15),
    seed=st.integers(0, 2**32),
)
def test_every_figure_equals_a_recomputation_from_the_raw_objects(
    first: list[tuple[int, str, int]], steps: list[tuple[tuple[Any, ...], int]], seed: int
) -> None:
    # Given a random history through the service, its events delivered late, shuffled and twice
    history = History(World(), seed)
    for plan, token, days in first:
        history.run("mandate", plan, token, days)
    for (kind, *args), hours in steps:
        if kind == "deliver":
            history.deliver(share=(args[0] % 100) / 100)
        else:
            history.run(kind, *args)
        if hours:
            history.run("advance", hours)
    history.deliver(share=1.0)
    # When the overview is read, now, a while later (the windows move, the objects do not) and as
    # if earlier (a stale contribution dated in the past shows there)
    for later in (timedelta(0), timedelta(days=3), timedelta(days=40), -timedelta(days=1), -timedelta(days=20)):
        now = history.world.clock.now() + later
        # Then every figure is what the stored objects say
        for currency in ("EUR", "JPY"):
            assert figures_of(history.keeper, currency, now) == recompute(history.world, currency, now), (currency, later)


def test_the_overview_of_a_busy_merchant_reads_a_bounded_number_of_items() -> None:
    # Given a merchant with many mandates, charges and refunds over a year
    world = World()
    store = InMemoryFigureStore()
    keeper = FigureKeeper(world.repo, store)
    plan = world.plan(amount=1000, currency="EUR", interval="week")
    for _ in range(60):
        world.mandate(plan)
    world.run_until(world.clock.now() + timedelta(days=400), step=timedelta(days=1))
    keeper.keep_events([PublishedEvent.of(e) for c in world.repo.commits for e in c.events])
    # When the overview is read
    (eur,) = keeper.overview(MERCHANT, world.clock.now())
    # Then it read one item per day in its range at most (not per mandate or charge)
    assert eur.active == 60 and eur.mrr == round(60 * 1000 * 52 / 12)
    # (kept in writes of at most 100 items: one DynamoDB transaction each)
    assert len(store.writes) > 1 and max(store.writes) <= 100
    assert store.reads == [pytest.approx(store.reads[0])] and store.reads[0] <= 1 + 367 + 7


def test_a_copy_or_an_older_version_changes_nothing() -> None:
    # Given a mandate whose figures are kept
    world = World()
    store = InMemoryFigureStore()
    keeper = FigureKeeper(world.repo, store)
    mandate_id = world.mandate(world.plan())
    world.tick()
    events = [PublishedEvent.of(e) for c in world.repo.commits for e in c.events]
    keeper.keep_events(events)
    kept = dict(store.counters)
    # When every event comes again, and then the mandate's first version is offered
    again = keeper.keep_events(events[::-1])
    first = world.get(mandate_id).model_copy(update={"version": 1, "status": "cancelled"})
    # Then nothing moved
    assert again.changed == 0 and keeper.keep_objects(MERCHANT, [first]) == (0, 1)
    assert store.counters == kept


def test_a_keeper_racing_another_reads_again_and_counts_once() -> None:
    # Given a mandate whose first contribution another keeper writes just before this one
    world = World()
    store = InMemoryFigureStore()
    keeper, other = FigureKeeper(world.repo, store), FigureKeeper(world.repo, store)
    mandate_id = world.mandate(world.plan())
    store.before_keep = lambda: other.keep_objects(MERCHANT, [world.get(mandate_id)])
    # When this keeper keeps it
    changed, unchanged = keeper.keep_objects(MERCHANT, [world.get(mandate_id)])
    # Then its write was refused, it read again and found the version kept: counted once
    assert (changed, unchanged) == (0, 1)
    (eur,) = keeper.overview(MERCHANT, world.clock.now())
    assert eur.active == 1 and eur.new == 1


class BrokenStore(InMemoryFigureStore):
    def kept(self, merchant_id: str, object_ids: Any) -> Any:
        if merchant_id == "mch_b":
            raise ConnectionError("the table did not answer")
        return super().kept(merchant_id, object_ids)


def test_a_merchant_whose_figures_cannot_be_kept_sends_its_events_back_and_only_those() -> None:
    # Given events of two merchants, the store failing for the second
    world = World()
    world.mandate(world.plan())
    events = [PublishedEvent.of(e) for c in world.repo.commits for e in c.events]
    theirs = [e.model_copy(update={"merchant_id": "mch_b"}) for e in events]
    keeper = FigureKeeper(world.repo, BrokenStore())
    # When a batch holds both
    batch = keeper.keep_events([events[0], theirs[0], *events[1:], *theirs[1:]])
    # Then the second merchant's events come back; the first's are kept
    assert batch.failed == [1, *range(len(events) + 1, 2 * len(events))]
    assert batch.changed == 1


def test_mrr_is_exact_and_rounded_once_half_up() -> None:
    # Given mandates whose monthly amounts have fractions: 1000 a week (4333.33..), 100 every 3
    # months (33.33..) and 22 a year (1.833..): 52422 / 12 = 4368.5 in all
    world = World()
    keeper = FigureKeeper(world.repo, InMemoryFigureStore())
    plans = [{"amount": 1000, "interval": "week"}, {"amount": 100, "interval_count": 3}, {"amount": 22, "interval": "year"}]
    for terms in plans:
        world.mandate(world.plan(**terms))
    keeper.keep_events([PublishedEvent.of(e) for c in world.repo.commits for e in c.events])
    # When the overview is read
    (eur,) = keeper.overview(MERCHANT, world.clock.now())
    # Then MRR is kept exactly, and shown rounded once, half up (not to the even 4368)
    assert eur.mrr_exact == Fraction(1000 * 52, 12) + Fraction(100, 3) + Fraction(22, 12) == Fraction(8737, 2)
    assert eur.mrr == 4369 and eur.as_dict()["mrr"] == 4369


def test_a_contribution_kept_under_an_older_definition_is_replaced_at_the_same_version() -> None:
    # Given a mandate's figures kept, then its contribution rewritten as an older definition would
    # have made it (it counted twice as active)
    world = World()
    store = InMemoryFigureStore()
    keeper = FigureKeeper(world.repo, store)
    mandate = world.get(world.mandate(world.plan()))
    keeper.keep_objects(MERCHANT, [mandate])
    version, contribution, _ = store.objects[(MERCHANT, mandate.id)]
    old = {**contribution, ("EUR", "T", "active"): 2}
    store.objects[(MERCHANT, mandate.id)] = (version, old, 0)
    store.counters[(MERCHANT, "EUR", "T")]["active"] = 2
    # When it is kept again at the same version (a backfill after the definitions changed)
    assert keeper.keep_objects(MERCHANT, [mandate]) == (1, 0)
    # Then the old contribution was replaced by the current one, exactly
    (eur,) = keeper.overview(MERCHANT, world.clock.now())
    assert eur.active == 1 and store.objects[(MERCHANT, mandate.id)] == (version, contribution, DEFINITION)
    # And once more changes nothing
    assert keeper.keep_objects(MERCHANT, [mandate]) == (0, 1)
