"""Asynchronous settlement through the whole engine on fakes: a bank debit the gateway accepts as
processing is left alone by stops, looked up an hour later then daily until it settles, and a
payment returned afterwards follows the decline rules without leaving money counted anywhere."""

from __future__ import annotations

from datetime import timedelta

from billing.api.requests import PaymentMethodIn
from billing.domain.charge import Charge
from tests.world import MERCHANT, World, change_plan


def sepa(token: str = "pm_sim_sepa_ok", **terms: object) -> tuple[World, str, str]:
    world = World()
    mandate_id = world.mandate(world.plan(**terms), token=token)
    world.first_debit(mandate_id)
    return world, mandate_id, world.charges(mandate_id)[0].id


def stored(world: World, charge_id: str) -> Charge:
    found = world.repo.get(Charge, MERCHANT, charge_id)
    assert found is not None
    return found


def test_a_processing_debit_is_looked_up_daily_and_nothing_else_is_dispatched_meanwhile() -> None:
    # Given a daily plan's bank debit processing, never reported by an event
    world, mandate_id, charge_id = sepa(interval="day")

    # When four days pass with a tick every hour
    for _ in range(4 * 24):
        world.clock.advance(hours=1)
        world.tick()
        world.gateway.take_events()  # every report is lost

    # Then it was looked up an hour after acceptance, then once a day; no new attempt, no next cycle
    looked = len(world.gateway.lookups)
    assert 4 <= looked <= 5, looked
    assert len(world.gateway.calls) == 1 and len(world.charges(mandate_id)) == 1
    mandate = world.get(mandate_id)
    assert stored(world, charge_id).status == "processing"
    assert mandate.claimed_until is not None and mandate.dispatch_at == mandate.claimed_until > world.clock.now()

    # And once it settles at the gateway, the next lookup records it and the schedule goes on
    world.gateway.settle(charge_id)
    world.clock.current = mandate.claimed_until
    world.tick()
    assert stored(world, charge_id).status == "succeeded"
    world.tick()
    assert len(world.charges(mandate_id)) == 1  # the next cycle, due meanwhile, is pre-notified first
    world.first_debit(mandate_id)
    assert len(world.charges(mandate_id)) == 2  # the cycles that fell due meanwhile are billed one by one


def test_a_stop_while_processing_leaves_the_debit_to_settle() -> None:
    # Given a bank debit processing
    world, mandate_id, charge_id = sepa()

    # When the merchant cancels, and the gateway settles it later (found by lookup)
    world.api.mandates.cancel(MERCHANT, mandate_id)
    world.gateway.settle(charge_id)
    world.gateway.take_events()
    world.clock.advance(hours=1)
    world.tick()

    # Then the success stands and is reported; the mandate let go of it
    assert stored(world, charge_id).status == "succeeded"
    mandate = world.get(mandate_id)
    assert mandate.status == "cancelled" and mandate.attempt_started_at is None and mandate.open_charge_id is None
    assert world.gateway.held() == {(mandate_id, "EUR"): 1999}


def test_a_reversal_on_a_mandate_holding_another_open_charge_fails_for_good() -> None:
    # Given a daily bank debit whose first cycle succeeded and whose second is processing
    world, mandate_id, first = sepa(interval="day", retry_schedule_days=[1])
    world.apply(world.gateway.settle(first))
    world.first_debit(mandate_id)  # the second cycle (due meanwhile): pre-notified, then debited
    second = world.charges(mandate_id)[1].id
    assert stored(world, second).status == "processing"

    # When the first is returned by the bank with a soft code
    world.apply(world.gateway.reverse(first, code="insufficient_funds"))

    # Then it fails for good (the mandate's one open slot is taken); the second goes on
    assert stored(world, first).status == "failed"
    mandate = world.get(mandate_id)
    assert mandate.open_charge_id == second and mandate.status == "active"


def test_credit_granted_from_a_payment_the_bank_returned_is_not_given_back() -> None:
    # Given a bank debit of 100.00 that settled, then a prorated change to a cheap plan, which
    # credits the unused part of that paid cycle
    world, mandate_id, charge_id = sepa(amount=10_000)
    world.apply(world.gateway.settle(charge_id))
    world.clock.advance(days=5)
    credited = change_plan(world, mandate_id, world.plan(amount=100), at="now", prorate=True).credit
    assert credited > 0

    # When the bank returns that payment, and the merchant cancels before it is collected again
    world.apply(world.gateway.reverse(charge_id, code="insufficient_funds"))
    world.api.mandates.cancel(MERCHANT, mandate_id)
    world.run_until(world.clock.now() + timedelta(days=1), step=timedelta(hours=1))

    # Then no credit from the unpaid cycle is handed out or reported as forfeited: the customer
    # never paid for it ("money reversed is no longer counted as collected anywhere")
    forfeited = [e.data["amount"] for e in world.repo.events(MERCHANT) if e.type == "mandate.credit_forfeited"]
    assert world.repo.refunds(MERCHANT) == [] and forfeited == [], (world.repo.refunds(MERCHANT), forfeited)
    assert world.get(mandate_id).credit == 0


def test_credit_from_a_returned_debit_collected_again_after_a_new_payment_method_is_kept() -> None:
    # Given a bank debit of 100.00 that settled, a prorated change to a cheap plan crediting the
    # unused part of that cycle, and the new plan's first charge paid with part of that credit
    world, mandate_id, charge_id = sepa(amount=10_000)
    world.apply(world.gateway.settle(charge_id))
    world.clock.advance(days=5)
    change_plan(world, mandate_id, world.plan(amount=100), at="now", prorate=True)
    world.tick()
    credit = world.get(mandate_id).credit
    assert credit > 0 and world.charges(mandate_id)[-1].status == "succeeded"

    # When the bank returns the 100.00 with a hard code (the mandate is past due, the charge is its
    # open charge again), and the merchant's new bank account for the customer pays it
    world.apply(world.gateway.reverse(charge_id, code="invalid_account"))
    assert world.get(mandate_id).status == "past_due" and world.get(mandate_id).open_charge_id == charge_id
    world.api.mandates.replace_payment_method(
        MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_sepa_ok"), source="merchant"
    )
    world.tick()
    world.apply(world.gateway.settle(charge_id, 2))

    # Then the cycle is paid after all, and the credit it granted is the customer's again: it was
    # never "failed for good" (credit comes from the last succeeded cycle; it never vanishes)
    assert stored(world, charge_id).status == "succeeded"
    assert world.get(mandate_id).credit == credit, (world.get(mandate_id).credit, credit)


def credited_card_mandate() -> tuple[World, str, str]:
    """A card mandate whose 100.00 cycle was paid, then changed now with proration to a 1.00 plan
    whose first charge used 1.00 of the credit: the rest of the credit is unused."""
    world = World()
    mandate_id = world.mandate(world.plan(amount=10_000), token="pm_sim_ok")
    world.tick()
    charge_id = world.charges(mandate_id)[0].id
    world.clock.advance(days=5)
    change_plan(world, mandate_id, world.plan(amount=100), at="now", prorate=True)
    world.tick()
    assert world.get(mandate_id).credit > 0 and world.charges(mandate_id)[-1].status == "succeeded"
    return world, mandate_id, charge_id


def test_credit_withheld_while_a_dispute_held_the_money_comes_back_when_the_dispute_is_won() -> None:
    # Given a paid cycle that granted credit, still unused
    world, mandate_id, charge_id = credited_card_mandate()
    credit = world.get(mandate_id).credit

    # When the customer's bank disputes the whole payment (the credit is withheld meanwhile), and
    # the merchant wins the dispute
    opened = world.gateway.open_dispute(charge_id, reason="general", status="needs_response")
    world.apply(opened)
    assert world.get(mandate_id).credit == 0
    assert opened.dispute is not None
    world.apply(world.gateway.dispute_moves(opened.dispute.reference, "won"))

    # Then the cycle is paid after all and the credit it granted is the customer's again ("a won
    # dispute releases its amount"; credit never vanishes silently)
    assert world.get(mandate_id).credit == credit, (world.get(mandate_id).credit, credit)


def test_an_old_dispute_report_delivered_again_takes_no_credit_granted_later() -> None:
    # Given a paid cycle whose credit was all used, then disputed and lost (nothing unused to take back)
    world, mandate_id, charge_id = credited_card_mandate()
    world.clock.advance(days=1)
    change_plan(world, mandate_id, world.plan(amount=100_000), at="now", prorate=False)
    world.tick()  # a 1000.00 charge uses all the credit
    assert world.get(mandate_id).credit == 0
    lost = world.gateway.open_dispute(charge_id, reason="general", status="lost")
    world.apply(lost)
    # and a prorated change crediting the unused part of the 1000.00 cycle
    world.clock.advance(days=1)
    change_plan(world, mandate_id, world.plan(amount=200), at="now", prorate=True)
    credit = world.get(mandate_id).credit
    assert credit > 0

    # When the gateway delivers the old dispute report again
    (again,) = world.apply(lost)

    # Then it changes nothing: the credit granted from another cycle stays
    assert again.status != "applied" and world.get(mandate_id).credit == credit, (again, world.get(mandate_id).credit)


def test_a_settlement_check_reads_nothing_before_asking_the_gateway() -> None:
    # Given a bank debit processing, its first settlement check sent when its lease ended
    world, mandate_id, charge_id = sepa()
    world.clock.current = world.get(mandate_id).claimed_until
    world.dispatch()
    (message,) = world.queue.take()
    reads: list[object] = []
    load_many = world.repo.load_many
    world.repo.load_many = lambda wanted: reads.append(wanted) or load_many(wanted)  # type: ignore[method-assign]

    # When the charger handles it
    outcome = world.deliver(message)

    # Then it looked the debit up from the claim in the message, read nothing, and checks again in a day
    assert outcome.looked_up and reads == []
    assert stored(world, charge_id).status == "processing"
    assert world.get(mandate_id).claimed_until == world.clock.now() + timedelta(days=1)


def test_a_settlement_check_overtaken_by_the_gateways_report_records_nothing_twice() -> None:
    # Given a bank debit's settlement check sent, then its settlement reported and applied first
    world, mandate_id, charge_id = sepa()
    world.gateway.take_events()
    world.clock.current = world.get(mandate_id).claimed_until
    world.dispatch()
    (message,) = world.queue.take()
    world.gateway.settle(charge_id)
    world.apply_reported()
    assert stored(world, charge_id).status == "succeeded"
    succeeded = world.event_types().count("charge.succeeded")

    # When the check (its claim now stale) is handled
    world.deliver(message)

    # Then the success stands, recorded once
    assert stored(world, charge_id).status == "succeeded"
    assert world.event_types().count("charge.succeeded") == succeeded == 1
