"""Defects an adversarial review of bank debits, reversals and disputes found, each pinned by a test
that failed before its fix (in-memory world; gateway reports applied as the applier does)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

from billing.adapters.stripe_events import normalise
from billing.api.requests import PaymentMethodIn
from billing.domain.charge import Charge
from billing.domain.model import Mandate
from billing.domain.refunds import Refund
from billing.service.gateway_events import Applied, GatewayEvent, GatewayEvents
from tests.world import MERCHANT, World, change_plan, refund

_ids = count(1)


def report(world: World, **fields: Any) -> Applied:
    data = {"id": f"evt_review{next(_ids)}", "gateway": "simulated", "event_type": "x", "created": world.clock.now()}
    event = GatewayEvent.model_validate(data | {"merchant_id": MERCHANT} | fields)
    return GatewayEvents(world.repo, world.clock, world.ids).apply(event)


def payment(world: World, charge_id: str, outcome: str, code: str | None = None) -> Applied:
    return report(world, payment={"charge_id": charge_id, "attempt": 1, "outcome": outcome, "decline_code": code})


def lost_dispute(world: World, charge_id: str, amount: int) -> Applied:
    facts = {"reference": "dp_1", "charge_id": charge_id, "amount": amount, "currency": "EUR", "status": "lost"}
    return report(world, dispute=facts | {"reason": "product_not_received"})


def bank_debit(world: World, plan: str, token: str = "pm_sim_sepa_ok") -> str:
    return world.mandate(plan, token, customer={"reference": "c", "email": "ona@example.lt", "name": "Ona"})


def charge(world: World, charge_id: str) -> Charge:
    found = world.repo.get(Charge, MERCHANT, charge_id)
    assert found is not None
    return found


def mandate(world: World, mandate_id: str) -> Mandate:
    found = world.repo.get(Mandate, MERCHANT, mandate_id)
    assert found is not None
    return found


def test_a_refund_asked_for_before_the_debit_was_returned_is_never_sent() -> None:
    # Given a settled debit with a refund of 400 pending
    world = World()
    m = bank_debit(world, world.plan(amount=1000))
    world.first_debit(m)
    [c1] = world.charges(m)
    payment(world, c1.id, "succeeded")
    refund(world, c1.id, amount=400)
    # When the bank returns the debit before the engine sends the refund
    payment(world, c1.id, "reversed", "insufficient_funds")
    world.tick()
    # Then the refund fails without reaching the gateway, and nothing stays reserved
    refunds = [r for r in world.repo.items.values() if isinstance(r, Refund)]
    assert [(r.status, r.failure_code) for r in refunds] == [("failed", "charge_reversed")]
    assert world.gateway.refunds == []
    assert charge(world, c1.id).refund_reserved == 0


def test_a_refund_pending_when_a_dispute_is_lost_is_not_sent_beyond_what_is_left() -> None:
    # Given a paid card charge with a full refund pending
    world = World()
    m = world.mandate(world.plan(amount=1000), "pm_sim_ok")
    world.tick()
    [c1] = world.charges(m)
    refund(world, c1.id)
    # When the customer's bank wins back the whole amount first
    lost_dispute(world, c1.id, 1000)
    world.tick()
    # Then the refund is not paid out on top of the lost dispute
    assert world.gateway.refunds == []
    assert charge(world, c1.id).amount_refunded == 0


def test_no_credit_is_carried_from_money_a_lost_dispute_took_back() -> None:
    # Given a paid cycle, a prorated upgrade two days in (credit for the unused time)
    world = World()
    small, big = world.plan(amount=1000), world.plan(amount=3000, name="Big")
    m = world.mandate(small, "pm_sim_ok")
    world.tick()
    [c1] = world.charges(m)
    world.clock.current += timedelta(days=2)
    change_plan(world, m, big, at="now", prorate=True)
    assert mandate(world, m).credit > 0
    # When the bank wins back the first payment before the next charge is made
    lost_dispute(world, c1.id, 1000)
    # Then the credit it backed is gone, and the next charge is the full price
    assert mandate(world, m).credit == 0 and charge(world, c1.id).credited == 0
    world.tick()
    [c2] = [c for c in world.charges(m) if c.id != c1.id]
    assert c2.amount == 3000


def test_a_returned_debit_that_revokes_gives_back_the_credit_it_used() -> None:
    # Given a debit that used carried credit after an upgrade
    world = World()
    small, big = world.plan(amount=1000), world.plan(amount=3000, name="Big")
    m = bank_debit(world, small)
    world.first_debit(m)
    [c1] = world.charges(m)
    payment(world, c1.id, "succeeded")
    world.clock.current += timedelta(days=2)
    change_plan(world, m, big, at="now", prorate=True)
    world.first_debit(m)  # the new plan's charge is pre-notified first
    [c2] = [c for c in world.charges(m) if c.id != c1.id]
    used = c2.credit_used
    assert used > 0
    payment(world, c2.id, "succeeded")
    # When the bank returns it because the customer revoked the mandate
    payment(world, c2.id, "reversed", "mandate_revoked")
    # Then the mandate is revoked and the credit the charge used is the customer's again (wound up later)
    after = mandate(world, m)
    assert after.status == "revoked" and after.credit == used and after.winding_up


def test_a_repeated_processing_report_keeps_the_first_lookup_an_hour_after_acceptance() -> None:
    # Given a debit the gateway accepted
    world = World()
    m = bank_debit(world, world.plan(amount=1000))
    world.first_debit(m)
    [c1] = world.charges(m)
    accepted = world.clock.now()
    # When Stripe's payment_intent.processing arrives a minute later
    world.clock.current += timedelta(minutes=1)
    assert payment(world, c1.id, "processing").status == "unchanged"
    # Then it is still looked up an hour after acceptance
    assert mandate(world, m).claimed_until == accepted + timedelta(hours=1)


def test_a_report_about_a_replaced_payment_method_changes_nothing() -> None:
    # Given a bank-debit mandate whose account was replaced by another one
    world = World()
    m = bank_debit(world, world.plan(amount=1000), "pm_sim_sepa_revoked")
    world.api.mandates.replace_payment_method(MERCHANT, m, PaymentMethodIn(gateway="simulated", token="pm_sim_sepa_ok"))
    # When the old account's bank mandate is reported cancelled, or the old card's new digits
    old = {"mandate_id": m, "payment_method": "pm_sim_sepa_revoked"}
    assert report(world, method=old | {"mandate_inactive": True}).status == "unchanged"
    assert report(world, method=old | {"last4": "4444"}).status == "unchanged"
    # Then the mandate keeps collecting with the new account
    assert mandate(world, m).status == "active" and mandate(world, m).payment_method.last4 == "3000"
    # And a report about the current one is applied
    current = {"mandate_id": m, "payment_method": "pm_sim_sepa_ok", "mandate_inactive": True}
    assert report(world, method=current).events == ["mandate.revoked"]


def test_a_dispute_on_a_charge_that_took_no_money_is_ignored() -> None:
    # Given a charge whose only attempt was declined
    world = World()
    m = world.mandate(world.plan(amount=1000), "pm_sim_insufficient_funds")
    world.tick()
    [c1] = world.charges(m)
    # When a dispute is reported on it
    # Then nothing is recorded
    assert lost_dispute(world, c1.id, 1000).status == "ignored"
    assert charge(world, c1.id).amount_disputed == 0


def test_verified_stripe_events_of_odd_shapes_are_not_ours_never_a_crash() -> None:
    # Given signed events whose nested objects have unexpected types
    meta = {"merchant_id": "mch_a", "charge_id": "chg_a", "attempt": "1"}
    odd = [
        ("payment_intent.payment_failed", {"id": "pi_1", "metadata": meta, "last_payment_error": "boom"}),
        ("charge.dispute.created", {"id": "dp_1", "payment_intent": "pi_1", "evidence_details": "x", "amount": 1}),
        ("payment_method.automatically_updated", {"id": "pm_1", "card": ["4444"]}),
    ]
    for kind, obj in odd:
        event = {"id": "evt_odd", "type": kind, "created": 1_700_000_000, "data": {"object": obj}}
        # Then each is acknowledged and ignored
        assert normalise(event) is None
    huge = {"id": "evt_odd", "type": "payment_intent.succeeded", "created": 10**20, "data": {"object": {"id": "pi"}}}
    assert normalise(huge) is None


def test_credit_from_a_returned_debit_stays_while_it_is_retried_and_goes_if_it_fails_for_good() -> None:
    # Given a debit that settled, then a prorated upgrade that granted credit for its unused time
    world = World()
    small, big = world.plan(amount=1000, retry_schedule_days=[1]), world.plan(amount=3000, name="Big")
    m = bank_debit(world, small)
    world.first_debit(m)
    [c1] = world.charges(m)
    payment(world, c1.id, "succeeded")
    world.clock.current += timedelta(days=2)
    change_plan(world, m, big, at="now", prorate=True)
    credit = mandate(world, m).credit
    assert credit > 0
    # When the bank returns that debit with a soft code, the charge is retried and the credit kept
    payment(world, c1.id, "reversed", "insufficient_funds")
    assert charge(world, c1.id).status == "retrying" and mandate(world, m).credit == credit
    # And when its retry is declined, the mandate is past_due and still holds the charge (a new
    # payment method may pay it: the credit stays), until the merchant lets it go: then the credit
    # it backed is taken back
    retry_at = charge(world, c1.id).next_attempt_at
    assert retry_at == world.clock.now() + timedelta(days=2)  # a bank debit's retry: never sooner
    world.clock.current = retry_at
    world.tick()
    payment_2 = {"charge_id": c1.id, "attempt": 2, "outcome": "declined", "decline_code": "insufficient_funds"}
    report(world, payment=payment_2)
    assert charge(world, c1.id).status == "failed"
    assert mandate(world, m).credit == credit and mandate(world, m).status == "past_due"
    world.api.mandates.cancel(MERCHANT, m)
    assert mandate(world, m).credit == 0


def test_a_bank_claim_reported_before_the_debits_success_records_both() -> None:
    # Given a debit still processing (its success report late, the lookup not run yet)
    world = World()
    m = bank_debit(world, world.plan(amount=1000))
    world.first_debit(m)
    [c1] = world.charges(m)
    assert c1.status == "processing"
    # When the customer's bank claim (SEPA: lost at once) is reported first
    applied = lost_dispute(world, c1.id, 1000)
    # Then the success it proves is recorded, and the dispute holds the money
    assert applied.events[:1] == ["charge.succeeded"] and "dispute.created" in applied.events
    after = charge(world, c1.id)
    assert after.status == "succeeded" and after.amount_disputed == 1000 and after.refundable == 0
    # And the success reported late changes nothing more
    assert payment(world, c1.id, "succeeded").status == "unchanged"


def test_a_returned_debit_that_revokes_cancels_the_next_cycle_waiting_for_a_retry() -> None:
    # Given a debit paid for cycle 1, and cycle 2's debit declined and waiting for its retry
    world = World()
    m = bank_debit(world, world.plan(amount=1000, interval="day", retry_schedule_days=[3]))
    world.first_debit(m)
    [c1] = world.charges(m)
    payment(world, c1.id, "succeeded")
    world.first_debit(m)  # cycle 2, due meanwhile: pre-notified, then debited
    [c2] = [c for c in world.charges(m) if c.id != c1.id]
    payment(world, c2.id, "declined", "insufficient_funds")
    assert charge(world, c2.id).status == "retrying"
    # When the bank returns cycle 1's debit because the customer revoked the mandate
    applied = payment(world, c1.id, "reversed", "mandate_revoked")
    # Then the mandate is revoked and cycle 2's charge is cancelled, not left waiting for ever
    assert "mandate.revoked" in applied.events and "charge.cancelled" in applied.events
    assert mandate(world, m).status == "revoked" and charge(world, c2.id).status == "cancelled"


def test_a_debit_processing_for_weeks_is_looked_up_daily_and_its_age_in_business_days_reaches_the_alarm() -> None:
    # Given a debit the bank never settles (no report, every lookup answers processing)
    world = World()
    m = bank_debit(world, world.plan(amount=1000, interval="year"))
    world.first_debit(m)
    [c1] = world.charges(m)
    accepted = world.clock.now()
    # When the dispatcher runs every hour for 32 days (two TARGET holidays fall in them)
    ages, lookups = [], 0
    while world.clock.now() < accepted + timedelta(days=32):
        world.clock.current += timedelta(hours=1)
        report_ = world.dispatch()
        world.deliver_all()
        lookups += report_.settlement_lookups
        ages.append(report_.oldest_processing_business_days)
    # Then it was looked up an hour after acceptance, then once a day (never asked again)
    assert 32 <= lookups <= 33
    assert charge(world, c1.id).status == "processing" and charge(world, c1.id).attempts == []
    # And the oldest processing debit's age crossed the alarm's 20 TARGET business days
    assert max(ages) >= 20 and ages[-24 * 5 :] != [0] * (24 * 5)


def test_a_returned_payment_of_a_plan_left_and_paid_again_does_not_shrink_the_next_changes_credit() -> None:
    # Given a monthly mandate changed with proration to a weekly plan (its first week paid by the credit)
    from billing.api.requests import PlanChangeIn

    world = World()
    monthly = world.plan(amount=1999, interval="month", retry_schedule_days=[1])
    weekly = world.plan(amount=700, interval="week")
    mandate_id = world.mandate(monthly, "pm_sim_ok")
    world.tick()
    [first] = world.charges(mandate_id)
    world.clock.advance(days=3, minutes=2)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=weekly, at="now", prorate=True))
    world.tick()
    # When the month's payment is returned by the bank and collected again
    paying = next(a for a in reversed(first.attempts) if a.outcome == "succeeded")
    world.apply(world.gateway.reverse(first.id, paying.number, "insufficient_funds"))
    world.tick()
    assert [c.status for c in world.charges(mandate_id)] == ["succeeded", "succeeded"]
    # And the merchant moves back to the monthly plan with proration two minutes into the week
    world.clock.advance(minutes=2)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=monthly, at="now", prorate=True))
    world.tick()
    # Then the week's unused time is credited back (not the old month's, already credited): 1099 + 699
    third = world.charges(mandate_id)[-1]
    assert [(line.type, line.amount) for line in third.lines] == [("plan", 1999), ("proration", -1798)]
