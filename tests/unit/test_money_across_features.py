"""Where money features meet: plan changes after plan changes, refunds and credit on one cycle,
items on a mandate's last cycle, credit at the end of a mandate, and a card replaced between the
dispatcher's claim and the charger's start (the review's defects 1-5, each reproduced first)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.api.requests import ItemCreate, PaymentMethodIn
from billing.api.responses import MandateOut
from billing.domain.charge import Charge
from billing.domain.errors import InvalidState
from billing.domain.items import Item
from billing.domain.money import Money
from billing.domain.wind_up import wind_up
from tests.world import MERCHANT, World, refund
from tests.world import change_plan as change


@pytest.fixture
def world() -> World:
    return World()


def lines(world: World, mandate_id: str, cycle: int) -> list[tuple[str, int]]:
    [charge] = [c for c in world.charges(mandate_id) if c.cycle == cycle]
    return [(line.type, line.amount) for line in charge.bill_lines]


def events(world: World, type_: str) -> list:
    return [e for e in world.repo.events(MERCHANT) if e.type == type_]


# -------------------------------------------------------- 1: credit only from the plan being left
def test_a_plan_left_without_proration_forfeits_its_paid_time(world: World) -> None:
    # Given plan A (100.00 a month, 30 days) paid, ten days in
    a = world.plan(amount=10_000, interval="day", interval_count=30)
    b, c = world.plan(amount=5000, name="B"), world.plan(amount=7000, name="C")
    mandate_id = world.mandate(a)
    world.tick()
    world.clock.advance(days=10)
    # When it moves to B now without proration, then to C now with proration, before the next tick
    change(world, mandate_id, b, at="now")
    change(world, mandate_id, c, at="now", prorate=True)
    # Then B was never paid for: C's first charge is C's full price, no credit from A's time
    assert world.get(mandate_id).credit == 0
    world.tick()
    assert lines(world, mandate_id, 2) == [("plan", 7000)]


def test_a_plan_changed_at_the_next_charge_then_prorated_credits_nothing(world: World) -> None:
    # Given A paid, then a move to B at the next charge (A's paid time is used up to then)
    a = world.plan(amount=10_000, interval="day", interval_count=30)
    b, c = world.plan(amount=5000, name="B"), world.plan(amount=7000, name="C")
    mandate_id = world.mandate(a)
    world.tick()
    world.clock.advance(days=10)
    change(world, mandate_id, b)
    # When B (never paid) is left for C now with proration
    change(world, mandate_id, c, at="now", prorate=True)
    # Then nothing is credited
    assert world.get(mandate_id).credit == 0


# ---------------------------------------------------------------- 2: refunded and credited twice
def test_a_fully_refunded_cycle_credits_nothing(world: World) -> None:
    # Given A paid 100.00 and fully refunded
    a = world.plan(amount=10_000, interval="day", interval_count=30)
    mandate_id = world.mandate(a)
    world.tick()
    [paid] = world.charges(mandate_id)
    refund(world, paid.id)
    world.tick()
    world.clock.advance(days=10)
    # When it moves to another plan now with proration
    change(world, mandate_id, world.plan(amount=5000, name="B"), at="now", prorate=True)
    # Then the refunded period is not credited again
    assert world.get(mandate_id).credit == 0


def test_a_partial_refund_is_taken_off_the_credit(world: World) -> None:
    a = world.plan(amount=9000, interval="day", interval_count=30)
    mandate_id = world.mandate(a)
    world.tick()
    [paid] = world.charges(mandate_id)
    refund(world, paid.id, amount=1000)
    world.clock.advance(days=10)
    b = world.plan(amount=5000, name="B")
    # While the refund is pending (it may yet fail) the prorated change waits
    with pytest.raises(InvalidState):
        change(world, mandate_id, b, at="now", prorate=True)
    world.tick()  # the refund succeeds
    # 20 of 30 days unused: 60.00, less the 10.00 refunded
    change(world, mandate_id, b, at="now", prorate=True)
    assert world.get(mandate_id).credit == 5000


def test_a_credited_cycle_can_be_refunded_only_what_was_not_credited(world: World) -> None:
    # Given A paid 90.00, two thirds of it credited by a prorated change
    a = world.plan(amount=9000, interval="day", interval_count=30)
    mandate_id = world.mandate(a)
    world.tick()
    [paid] = world.charges(mandate_id)
    world.clock.advance(days=10)
    change(world, mandate_id, world.plan(amount=5000, name="B"), at="now", prorate=True)
    # Then that charge can be refunded 30.00 at most (refunds plus credit never exceed what was paid)
    charge = world.api.charges.get(MERCHANT, paid.id)
    assert charge.credited == 6000 and charge.refundable == 3000
    with pytest.raises(Exception) as refused:
        refund(world, paid.id, amount=3001)
    assert getattr(refused.value, "param", None) == "amount"
    assert refund(world, paid.id).amount == 3000


# ------------------------------------------------------------------------- 3: items stranded
def test_an_item_on_a_mandate_whose_last_cycle_is_being_collected_is_refused(world: World) -> None:
    # Given a one-cycle plan whose only charge is claimed and not yet settled
    mandate_id = world.mandate(world.plan(total_cycles=1))
    world.dispatch()
    assert world.get(mandate_id).next_charge_at is None
    # When the merchant adds an item
    with pytest.raises(InvalidState):
        world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=250, description="towel"))
    # Then nothing was created, and the mandate completes with nothing pending
    world.deliver_all()
    assert world.get(mandate_id).status == "completed"
    assert world.repo.page(Item, MERCHANT, __import__("billing.service.ports", fromlist=["PageRequest"]).PageRequest()).data == []


def test_an_item_left_on_a_mandate_that_ended_is_voided(world: World) -> None:
    # Given an item waiting for the next charge
    mandate_id = world.mandate(world.plan())
    world.tick()
    item = world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=250, description="towel"))
    # When the mandate is cancelled and the engine runs
    world.api.mandates.cancel(MERCHANT, mandate_id)
    report = world.dispatch()
    # Then the item is void, with its event, and the mandate holds nothing pending
    assert world.api.items.get(MERCHANT, item.id).status == "void" and report.wound_up == 1
    [voided] = events(world, "item.voided")
    assert voided.data["object"]["id"] == item.id and voided.data["object"]["status"] == "void"
    assert world.get(mandate_id).pending_items == {}
    assert world.dispatch().found == 0  # wound up once


def test_an_item_left_when_the_term_runs_out_during_a_pause_is_voided(world: World) -> None:
    # Given a mandate with an end date, paused with an item pending
    mandate_id = world.mandate(
        world.plan(interval="week"), end_at=(world.clock.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    world.tick()
    item = world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=250, description="towel"))
    world.api.mandates.pause(MERCHANT, mandate_id, None)
    world.clock.advance(days=20)
    # When it resumes past its end (no cycle left: it completes), and the engine runs
    assert world.api.mandates.resume(MERCHANT, mandate_id).status == "completed"
    world.dispatch()
    # Then the item is void
    assert world.api.items.get(MERCHANT, item.id).status == "void"


# ---------------------------------------------------------- 4: credit visible, never lost
def yearly_to_monthly(world: World) -> str:
    """A 1200.00 yearly plan paid, moved a month in to 100.00 a month with proration."""
    yearly, monthly = world.plan(amount=120_000, interval="year"), world.plan(amount=10_000, name="Monthly")
    mandate_id = world.mandate(yearly)
    world.tick()
    world.clock.advance(days=31)
    change(world, mandate_id, monthly, at="now", prorate=True)
    return mandate_id


def test_credit_shows_on_the_mandate_and_its_schedule(world: World) -> None:
    mandate_id = yearly_to_monthly(world)
    mandate = world.get(mandate_id)
    credit = mandate.credit
    assert credit > 100_000
    shown = MandateOut.of(mandate).model_dump(mode="json")
    assert shown["credit"] == {"amount": credit, "currency": "EUR"}
    upcoming = mandate.upcoming_charges(world.clock.now(), 12)
    used = mandate.upcoming_credit_use(upcoming)
    assert [amount for amount, _ in used][:3] == [0, 0, 0] and sum(u for _, u in used) == min(credit, 12 * 10_000)


def test_credit_left_when_a_mandate_is_cancelled_is_refunded_to_the_customer(world: World) -> None:
    # Given a yearly plan moved to monthly, three monthly charges covered by the credit
    mandate_id = yearly_to_monthly(world)
    for _ in range(3):
        world.tick()
        world.clock.advance(days=31)
    left = world.get(mandate_id).credit
    assert left > 0
    # When the merchant cancels
    world.api.mandates.cancel(MERCHANT, mandate_id)
    assert MandateOut.of(world.get(mandate_id)).credit.amount == left  # shown until it is given back
    world.tick()  # wound up: a refund of the credit is created
    world.tick()  # and sent
    # Then the credit went back to the customer's card as a refund of the yearly charge
    [given] = world.repo.refunds(MERCHANT)
    assert given.amount == left and given.reason == "other" and given.metadata == {"credit": "true"}
    assert given.status == "succeeded"
    [yearly] = [c for c in world.charges(mandate_id) if c.cycle == 1]
    assert given.charge_id == yearly.id and sum(r.money.amount for r in world.gateway.refund_ledger()) == left
    assert world.get(mandate_id).credit == 0 and not events(world, "mandate.credit_forfeited")
    # And the money is conserved: the customer paid 1200.00 and got back exactly what was not used
    assert yearly.amount - world.api.charges.get(MERCHANT, yearly.id).amount_refunded == 120_000 - left


def test_credit_after_the_merchant_refunded_the_rest_of_its_cycle_still_goes_back(world: World) -> None:
    # Given credit from the yearly cycle, whose other part the merchant refunded too
    mandate_id = yearly_to_monthly(world)
    [yearly] = world.charges(mandate_id)
    assert refund(world, yearly.id).amount == 120_000 - world.get(mandate_id).credit  # all it allows
    world.tick()
    left = world.get(mandate_id).credit
    # When the mandate is revoked
    world.api.mandates.revoke(MERCHANT, mandate_id)
    world.tick()
    world.tick()
    # Then the credit goes back from the money the cycle has left, and never more than was paid
    [given] = [r for r in world.repo.refunds(MERCHANT) if r.metadata.get("credit") == "true"]
    assert given.amount == left and given.status == "succeeded"
    used = -sum(line.amount for c in world.charges(mandate_id) for line in c.bill_lines if line.type == "proration")
    assert used == 10_000  # the first monthly charge, covered by the credit
    assert world.api.charges.get(MERCHANT, yearly.id).amount_refunded == 120_000 - used
    assert not events(world, "mandate.credit_forfeited") and world.get(mandate_id).credit == 0


def test_credit_no_charge_can_take_back_is_reported_forfeited(world: World) -> None:
    # Given an ended mandate holding credit, none of whose charges read has money left
    mandate_id = yearly_to_monthly(world)
    world.api.mandates.cancel(MERCHANT, mandate_id)
    mandate = world.get(mandate_id)
    left = mandate.credit
    # When it is wound up with no charge to refund from
    result = wind_up(mandate, {}, [], lambda: "rfd_x", world.clock.now())
    # Then the whole credit is reported, and none is kept
    assert (
        result.forfeited == Money(left, mandate.terms.currency)
        and result.mandate_events == ["mandate.credit_forfeited"]
        and not result.refunds
    )
    assert mandate.credit == 0 and not mandate.winding_up


def test_the_forfeited_credit_event_carries_the_amount(world: World) -> None:
    mandate_id = yearly_to_monthly(world)
    [yearly] = world.charges(mandate_id)
    yearly_stored = world.repo.get(Charge, MERCHANT, yearly.id)
    yearly_stored.paid_with = None  # as if its money could not be given back through the gateway
    world.repo.items[(MERCHANT, yearly.id)] = yearly_stored
    left = world.get(mandate_id).credit
    world.api.mandates.cancel(MERCHANT, mandate_id)
    world.dispatch()
    [forfeited] = events(world, "mandate.credit_forfeited")
    assert forfeited.data["amount"] == left and forfeited.data["currency"] == "EUR"
    assert forfeited.data["object"]["credit"] == {"amount": 0, "currency": "EUR"}


def test_credit_left_when_a_mandate_completes_is_refunded(world: World) -> None:
    # Given a yearly plan moved to a two-cycle monthly plan, both covered by the credit
    yearly, short = world.plan(amount=120_000, interval="year"), world.plan(amount=10_000, total_cycles=2, name="Short")
    mandate_id = world.mandate(yearly)
    world.tick()
    world.clock.advance(days=31)
    change(world, mandate_id, short, at="now", prorate=True)
    world.run_until(world.clock.now() + timedelta(days=70), step=timedelta(days=1))
    # Then it completed and what was left of the credit went back
    mandate = world.get(mandate_id)
    assert mandate.status == "completed" and mandate.credit == 0
    [given] = world.repo.refunds(MERCHANT)
    assert given.status == "succeeded" and given.metadata == {"credit": "true"}


# ----------------------------------------------------------- 5: the replaced card is charged
def test_a_card_replaced_between_claim_and_start_is_the_card_charged(world: World) -> None:
    # Given a charge claimed by the dispatcher with the old card, not yet started by the charger
    mandate_id = world.mandate(world.plan(), token="pm_sim_insufficient_funds")
    world.dispatch()
    [message] = world.queue.take()
    # When the merchant replaces the card before the charger starts
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))
    world.deliver(message)
    # Then the attempt went to the new card
    [call] = world.gateway.calls
    assert call.token == "pm_sim_ok"
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and charge.paid_with.token == "pm_sim_ok"


def test_a_card_replaced_after_the_attempt_started_does_not_change_that_attempt(world: World) -> None:
    # Given an attempt at the gateway that times out after taking the money
    mandate_id = world.mandate(world.plan(), token="pm_sim_timeout")
    world.dispatch()
    [message] = world.queue.take()
    world.gateway.during_call = lambda request: world.api.mandates.replace_payment_method(
        MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok")
    )
    # When the charger asks again with the same key after the timeout
    world.deliver(message)
    # Then every call for that attempt carried the card it started with
    assert len(world.gateway.calls) > 1 and {c.token for c in world.gateway.calls} == {"pm_sim_timeout"}
    assert world.get(mandate_id).payment_method.token == "pm_sim_ok"
