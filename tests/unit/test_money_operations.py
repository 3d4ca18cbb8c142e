"""Refunds, items and plan changes on the whole engine (in-memory fakes): what the merchant asks,
what reaches the gateway, and what the charges and the schedule show."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from billing.api.requests import ItemCreate, PauseIn, PlanChangeIn, RefundCreate
from billing.domain.charge import Charge
from billing.domain.errors import InvalidState, NotFound, ValidationFailed
from billing.domain.model import MAX_PENDING_ITEMS, Mandate
from billing.domain.money import Money
from billing.service.charger import OutcomeUnknown
from billing.service.messages import RefundMessage
from tests.world import LEASE, MERCHANT, World

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def world() -> World:
    return World()


def paid_charge(world: World, token: str = "pm_sim_ok", **plan: object) -> str:
    mandate_id = world.mandate(world.plan(**plan), token=token)
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded"
    return charge.id


def refund(world: World, charge_id: str, **body: object):
    return world.api.refunds.create(MERCHANT, charge_id, RefundCreate.model_validate(body))


# ----------------------------------------------------------------------------- refunds
def test_a_refund_reaches_the_gateway_once_and_adds_to_amount_refunded(world: World) -> None:
    # Given a succeeded charge of 19.99
    charge_id = paid_charge(world)
    # When the merchant refunds 5.00
    created = refund(world, charge_id, amount=500, metadata={"ticket": "T-1"})
    # Then it is pending and reserved until the engine sends it
    assert created.status == "pending" and created.currency == "EUR"
    assert world.api.charges.get(MERCHANT, charge_id).refundable == 1499
    world.tick()
    # And then it succeeded, once at the gateway, keyed by the refund
    done = world.api.refunds.get(MERCHANT, created.id)
    charge = world.api.charges.get(MERCHANT, charge_id)
    assert done.status == "succeeded" and charge.amount_refunded == 500 and charge.refund_reserved == 0
    [sent] = world.gateway.refund_ledger()
    assert sent.idempotency_key == f"refund:{created.id}" and sent.money == Money(500, "EUR") and sent.charge_reference
    types = world.event_types()
    assert types.index("refund.created") < types.index("refund.succeeded") < types.index("charge.refunded")
    # And the mandate is not affected
    assert world.get(charge.mandate_id).status == "active"


def test_the_default_amount_is_what_is_left_and_nothing_more_can_be_refunded(world: World) -> None:
    charge_id = paid_charge(world)
    refund(world, charge_id, amount=1000)
    rest = refund(world, charge_id)  # pending refunds count as taken
    assert rest.amount == 999
    with pytest.raises(ValidationFailed) as refused:
        refund(world, charge_id, amount=1)
    assert refused.value.param == "amount"
    world.tick()
    assert world.api.charges.get(MERCHANT, charge_id).amount_refunded == 1999


def test_more_than_is_left_is_a_422_and_an_unpaid_charge_is_a_409(world: World) -> None:
    charge_id = paid_charge(world)
    with pytest.raises(ValidationFailed):
        refund(world, charge_id, amount=2000)
    failing = world.mandate(world.plan(), token="pm_sim_insufficient_funds")
    world.tick()
    [retrying] = world.charges(failing)
    with pytest.raises(InvalidState):
        refund(world, retrying.id)
    with pytest.raises(NotFound):
        refund(world, "chg_unknown")


def test_concurrent_refunds_can_never_together_exceed_the_charge(world: World) -> None:
    # Given a charge of 19.99, and a refund of 15.00 that lands while another of 15.00 is being created
    charge_id = paid_charge(world)
    real_get = world.repo.get

    def racing_get(model: type, merchant_id: str, wanted: str):
        found = real_get(model, merchant_id, wanted)
        if model is Charge:
            world.repo.get = real_get
            refund(world, charge_id, amount=1500)  # commits first, on the same version
        return found

    world.repo.get = racing_get
    # When the second one commits on the stale version, it is decided again on the fresh charge
    with pytest.raises(ValidationFailed):
        refund(world, charge_id, amount=1500)
    # Then only one exists
    assert [r.amount for r in world.repo.refunds()] == [1500]


def test_a_declined_refund_fails_and_frees_its_reservation(world: World) -> None:
    charge_id = paid_charge(world, token="pm_sim_refund_fails")
    created = refund(world, charge_id)
    world.tick()
    failed = world.api.refunds.get(MERCHANT, created.id)
    charge = world.api.charges.get(MERCHANT, charge_id)
    assert failed.status == "failed" and failed.failure_code == "refund_declined"
    assert charge.amount_refunded == 0 and charge.refundable == 1999
    assert "refund.failed" in world.event_types() and "charge.refunded" not in world.event_types()


def test_a_redelivered_or_crashed_refund_is_replayed_never_refunded_twice(world: World) -> None:
    charge_id = paid_charge(world)
    created = refund(world, charge_id, amount=700)
    world.dispatch()
    [message] = world.queue.take()
    # When the process dies after the gateway refunded, then the message comes back twice
    world.crash_after_gateway(message)
    assert world.api.refunds.get(MERCHANT, created.id).status == "pending"
    world.deliver(message)
    assert world.deliver(message).status == "duplicate"
    # Then one refund at the gateway, recorded once
    assert len(world.gateway.refunds) == 1
    assert world.api.charges.get(MERCHANT, charge_id).amount_refunded == 700


def test_an_unknown_outcome_is_asked_again_with_the_same_key_then_only_looked_up(world: World) -> None:
    charge_id = paid_charge(world)
    created = refund(world, charge_id)
    world.dispatch()
    [message] = world.queue.take()
    # Given the gateway refunds, then goes down before answering
    world.gateway.down_after_next_call = True
    with pytest.raises(OutcomeUnknown):
        world.deliver(message)
    # When the outage outlasts the gateway's memory of the key
    world.clock.advance(hours=30)
    world.gateway.outage = False
    world.tick()  # the lease ran out: sent again
    # Then it was only looked up (a resend with a forgotten key would refund again)
    assert len(world.gateway.refunds) == 1
    assert world.api.refunds.get(MERCHANT, created.id).status == "succeeded"


def test_a_lost_refund_message_is_sent_again_when_its_lease_ends(world: World) -> None:
    charge_id = paid_charge(world)
    created = refund(world, charge_id)
    world.dispatch()
    world.queue.take()  # lost
    assert world.dispatch().refunds == 0  # leased
    world.clock.advance(seconds=LEASE.total_seconds())
    assert world.dispatch().refunds == 1
    world.deliver_all()
    assert world.api.refunds.get(MERCHANT, created.id).status == "succeeded"


def test_refunds_are_listed_by_charge_mandate_and_status(world: World) -> None:
    first, second = paid_charge(world), paid_charge(world)
    a, b = refund(world, first, amount=100), refund(world, second, amount=100)
    from billing.service.ports import PageRequest

    by_charge = world.api.refunds.page(MERCHANT, PageRequest(), charge_id=first).data
    assert [r.id for r in by_charge] == [a.id]
    by_mandate = world.api.refunds.page(MERCHANT, PageRequest(), mandate_id=b.mandate_id).data
    assert [r.id for r in by_mandate] == [b.id]
    assert len(world.api.refunds.page(MERCHANT, PageRequest(), status="pending").data) == 2


# ------------------------------------------------------------------------------- items
def add_item(world: World, mandate_id: str, amount: int = 250, description: str = "Set-up fee"):
    return world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=amount, description=description))


def test_items_are_lines_of_the_next_cycle_charge_and_billed_once(world: World) -> None:
    # Given a mandate with a trial and two items added during it
    mandate_id = world.mandate(world.plan(trial_days=14))
    fee, towel = add_item(world, mandate_id, 2500, "Set-up fee"), add_item(world, mandate_id, 250, "Extra towel")
    # When the first cycle is charged
    world.clock.advance(days=14)
    world.tick()
    # Then the charge carries the plan and both items, summing to its amount
    [charge] = world.charges(mandate_id)
    assert [(line.type, line.amount, line.item_id) for line in charge.lines] == [
        ("plan", 1999, None),
        ("item", 2500, fee.id),
        ("item", 250, towel.id),
    ]
    assert charge.amount == 4749 and charge.status == "succeeded"
    assert {world.api.items.get(MERCHANT, i.id).charge_id for i in (fee, towel)} == {charge.id}
    # And the next charge is the plan alone
    world.clock.advance(days=31)
    world.tick()
    assert [c.amount for c in world.charges(mandate_id)] == [4749, 1999]


def test_an_item_created_while_the_charge_is_being_claimed_lands_in_exactly_one_charge(world: World) -> None:
    mandate_id = world.mandate(world.plan())
    real_load = world.repo.load_many
    created = []

    def racing_load(wanted):
        found = real_load(wanted)
        if wanted.get(Mandate) and not created:  # the dispatcher read the mandate; the item commits before its claim
            created.append(add_item(world, mandate_id))
        return found

    world.repo.load_many = racing_load
    world.tick()
    world.repo.load_many = real_load
    [charge] = world.charges(mandate_id)
    item = world.api.items.get(MERCHANT, created[0].id)
    # The claim lost the race, read again, and billed the item with this charge
    assert item.status == "billed" and item.charge_id == charge.id and charge.amount == 1999 + 250


def test_a_pending_item_can_be_deleted_a_billed_one_cannot(world: World) -> None:
    mandate_id = world.mandate(world.plan(trial_days=3))
    gone, kept = add_item(world, mandate_id), add_item(world, mandate_id, 100)
    deleted = world.api.items.delete(MERCHANT, gone.id)
    assert deleted.status == "deleted" and "item.deleted" in world.event_types()
    with pytest.raises(InvalidState):
        world.api.items.delete(MERCHANT, gone.id)
    world.clock.advance(days=3)
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.amount == 1999 + 100
    with pytest.raises(InvalidState):
        world.api.items.delete(MERCHANT, kept.id)


def test_items_are_refused_on_a_final_mandate_past_the_amount_limit_and_past_the_pending_limit(world: World) -> None:
    mandate_id = world.mandate(world.plan(amount=99_999_000, trial_days=3))
    with pytest.raises(ValidationFailed) as too_much:
        add_item(world, mandate_id, 1000)
    assert too_much.value.param == "amount"
    add_item(world, mandate_id, 999)  # exactly the limit
    other = world.mandate(world.plan(trial_days=3))
    for _ in range(MAX_PENDING_ITEMS):
        add_item(world, other, 1)
    with pytest.raises(InvalidState):
        add_item(world, other, 1)
    world.api.mandates.cancel(MERCHANT, other)
    with pytest.raises(InvalidState):
        add_item(world, other, 1)


# ------------------------------------------------------------------------- plan changes
def change(world: World, mandate_id: str, plan_id: str, **body: object):
    return world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn.model_validate({"plan_id": plan_id, **body}))


def test_at_next_charge_keeps_the_date_and_bills_the_new_plan_from_there(world: World) -> None:
    # Given a monthly mandate charged once, with its next charge on Dec 25
    gold, yearly = world.plan(), world.plan(amount=19_900, interval="year", total_cycles=2, trial_days=30)
    mandate_id = world.mandate(gold)
    world.tick()
    before = world.get(mandate_id).next_charge_at
    # When it moves to a yearly plan at the next charge
    changed = change(world, mandate_id, yearly)
    # Then the date stands, the preview shows the new amount on the new interval, trial ignored
    assert changed.plan_id == yearly and changed.next_charge_at == before
    upcoming = changed.upcoming_charges(world.clock.now(), 3)
    assert [(c, d.year) for c, d in upcoming] == [(2, 2026), (3, 2027)]  # total_cycles counts from the anchor
    assert changed.upcoming_amounts(upcoming) == [19_900, 19_900]
    [event] = [e for e in world.repo.events(MERCHANT) if e.type == "mandate.plan_changed"]
    assert event.data["previous_attributes"] == {"plan_id": gold} and event.data["object"]["plan_id"] == yearly
    # And the charges follow: cycle numbers keep counting across the change
    world.run_until(NOW + timedelta(days=800), step=timedelta(days=10))
    assert [(c.cycle, c.amount) for c in world.charges(mandate_id)] == [(1, 1999), (2, 19_900), (3, 19_900)]
    assert world.get(mandate_id).status == "completed"


def test_at_now_with_proration_credits_the_unused_time_on_the_first_charge(world: World) -> None:
    # Given a 30-day period paid at 30.00, ten days in
    gold, platinum = world.plan(amount=3000, interval="day", interval_count=30), world.plan(amount=5000)
    mandate_id = world.mandate(gold)
    world.tick()
    world.clock.advance(days=10)
    # When it moves to a 50.00 plan now, with proration
    change(world, mandate_id, platinum, at="now", prorate=True)
    # Then the preview shows it, and the first new charge is due now with the credit
    mandate = world.get(mandate_id)
    assert mandate.next_charge_at == world.clock.now() and mandate.credit == 2000
    assert mandate.upcoming_amounts(mandate.upcoming_charges(world.clock.now(), 2)) == [3000, 5000]
    # And changing again before that charge credits nothing more for the same unused time
    change(world, mandate_id, world.plan(amount=5000, name="Platinum B"), at="now", prorate=True)
    assert world.get(mandate_id).credit == 2000
    world.tick()
    second = world.charges(mandate_id)[-1]
    assert second.cycle == 2 and second.amount == 3000 and second.status == "succeeded"
    assert [(line.type, line.amount) for line in second.lines] == [("plan", 5000), ("proration", -2000)]
    assert world.get(mandate_id).credit == 0


def test_credit_beyond_the_charge_carries_over_and_a_zero_charge_skips_the_gateway(world: World) -> None:
    # Given a yearly plan paid at 1200.00, a day in
    yearly, monthly = world.plan(amount=120_000, interval="year"), world.plan(amount=1000)
    mandate_id = world.mandate(yearly)
    world.tick()
    world.clock.advance(days=1)
    change(world, mandate_id, monthly, at="now", prorate=True)
    credit = world.get(mandate_id).credit
    assert credit == 120_000 * (365 - 1) // 365
    calls = len(world.gateway.calls)
    # When the following monthly charges fall due
    world.run_until(world.clock.now() + timedelta(days=95), step=timedelta(days=1))
    # Then each is covered by the credit: succeeded at 0, no gateway call, with a proration line
    later = world.charges(mandate_id)[1:]
    assert len(later) == 4 and all(c.amount == 0 and c.status == "succeeded" and not c.attempts for c in later)
    assert all(sum(line.amount for line in c.lines) == 0 for c in later)
    assert len(world.gateway.calls) == calls
    assert world.get(mandate_id).credit == credit - 4 * 1000
    # And a zero charge has nothing to refund
    with pytest.raises(ValidationFailed):
        refund(world, later[0].id)
    # And each charge.succeeded, at the gateway or settled at 0 by the dispatcher, tells its receipt
    # whether the customer has an address (the receipts function numbers without reading the mandate),
    succeeded = [e for e in world.repo.events() if e.type == "charge.succeeded"]
    assert len(succeeded) == 5 and all(e.customer_has_email is False for e in succeeded)  # this customer has none


def test_a_plan_change_is_refused_while_collecting_and_for_an_unusable_plan(world: World) -> None:
    gold = world.plan()
    usd, archived = world.plan(currency="USD"), world.plan()
    world.api.plans.archive(MERCHANT, archived)
    mandate_id = world.mandate(gold, token="pm_sim_insufficient_funds")
    for plan_id in (gold, usd, archived, "pln_unknown"):
        with pytest.raises(ValidationFailed) as refused:
            change(world, mandate_id, plan_id)
        assert refused.value.param == "plan_id"
    world.tick()  # a retry is scheduled: the charge is being collected
    with pytest.raises(InvalidState):
        change(world, mandate_id, world.plan(amount=5))
    paused = world.mandate(gold)
    world.api.mandates.pause(MERCHANT, paused, PauseIn())
    with pytest.raises(InvalidState):
        change(world, paused, world.plan(amount=5))


def test_another_merchants_plan_is_unknown_here(world: World) -> None:
    mandate_id = world.mandate(world.plan())
    from billing.api.requests import PlanCreate

    theirs = world.api.plans.create("mch_b", PlanCreate(name="B", amount=5, currency="EUR", interval="month")).id
    with pytest.raises(ValidationFailed):
        change(world, mandate_id, theirs)
    with pytest.raises(NotFound):
        world.api.mandates.change_plan("mch_b", mandate_id, PlanChangeIn(plan_id=theirs))
    with pytest.raises(NotFound):
        world.api.items.create("mch_b", mandate_id, ItemCreate(amount=1, description="x"))


def test_a_refund_message_for_another_merchant_does_nothing(world: World) -> None:
    charge_id = paid_charge(world)
    created = refund(world, charge_id)
    outcome = world.deliver(RefundMessage(merchant_id="mch_b", refund_id=created.id, dispatched_at=NOW))
    assert outcome.status == "skipped" and not world.gateway.refunds


def test_a_conflicting_claim_of_a_refund_is_left_for_the_next_run(world: World) -> None:
    charge_id = paid_charge(world)
    refund(world, charge_id)
    world.repo.conflicts_left = 1
    report = world.dispatch()
    assert report.conflicts == 1 and report.refunds == 0
    assert world.dispatch().refunds == 1
