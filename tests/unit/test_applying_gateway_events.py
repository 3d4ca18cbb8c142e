"""The gateway-event applier (service/gateway_events.py) on fakes: what the gateway reports after it
answered (bank debits settling, reversals, refunds failing later, disputes, card and bank-mandate
changes) moves charges, refunds, disputes and mandates forward only, whatever the order and however
many times it arrives; anything not ours is acknowledged and ignored. The events come from the fake
gateway's own course (tests/fakes.py), as the gateway-events queue would hand them over."""

from __future__ import annotations

from datetime import timedelta

from billing.api.requests import PaymentMethodIn
from billing.domain.charge import Charge
from billing.domain.disputes import Dispute
from billing.domain.refunds import Refund
from billing.service.gateway_events import DisputeFacts, GatewayEvent, MethodReport, PaymentReport, RefundReport
from tests.world import MERCHANT, World, refund


def sepa_world(token: str = "pm_sim_sepa_ok", **terms: object) -> tuple[World, str, Charge]:
    """A bank-debit mandate whose first charge the gateway accepted as processing."""
    world = World()
    mandate_id = world.mandate(world.plan(**terms), token=token)
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    assert charge.status == "processing", charge.status
    return world, mandate_id, charge


def card_world(token: str = "pm_sim_ok") -> tuple[World, str, Charge]:
    world = World()
    mandate_id = world.mandate(world.plan(), token=token)
    world.tick()
    (charge,) = world.charges(mandate_id)
    assert charge.status == "succeeded"
    return world, mandate_id, charge


def charge_of(world: World, charge: Charge) -> Charge:
    found = world.repo.get(Charge, MERCHANT, charge.id)
    assert found is not None
    return found


def event_types(world: World) -> list[str]:
    return [e.type for e in world.repo.events(MERCHANT)]


def events_of(world: World, kind: str) -> list:
    return [e for e in world.repo.events(MERCHANT) if e.type == kind]


def held_by_books(world: World) -> dict[tuple[str, str], int]:
    """Succeeded charges less what was refunded and disputed (open or lost), per mandate and currency."""
    books: dict[tuple[str, str], int] = {}
    lost = {d.charge_id: d.amount for d in world.repo.items.values() if isinstance(d, Dispute) and d.status == "lost"}
    for charge in world.charges():
        if charge.status == "succeeded":
            key = (charge.mandate_id, charge.currency)
            books[key] = books.get(key, 0) + charge.amount - charge.amount_refunded - lost.get(charge.id, 0)
    return {k: v for k, v in books.items() if v}


# ---------------------------------------------------------------------------- payments
def test_a_settlement_applied_twice_changes_nothing_the_second_time() -> None:
    # Given a bank debit processing, settled at the gateway
    world, _, charge = sepa_world()
    settled = world.gateway.settle(charge.id)

    # When its event is applied, and applied again (a redelivery)
    first, second = world.apply(settled, settled)

    # Then the charge succeeded once: one charge.succeeded, the second apply unchanged
    assert first.status == "applied" and second.status == "unchanged"
    assert charge_of(world, charge).status == "succeeded"
    assert event_types(world).count("charge.succeeded") == 1
    assert charge_of(world, charge).attempts[0].settled_at == world.clock.now()
    assert world.gateway.held() == held_by_books(world)


def test_a_processing_report_after_the_success_changes_nothing() -> None:
    # Given a bank debit whose call timed out after the gateway accepted it (the service knows nothing)
    world = World()
    mandate_id = world.mandate(world.plan(), token="pm_sim_sepa_ok")
    world.until_debit(mandate_id)
    world.dispatch()
    world.gateway.down_after_next_call = True
    try:
        world.deliver_all()
    except Exception:
        pass
    world.gateway.outage = False
    (charge,) = world.charges(mandate_id)
    assert charge.status == "pending"

    # When the gateway's success arrives first, then its processing report (out of order)
    succeeded = world.gateway.settle(charge.id)
    processing = world.gateway.processing_event(charge.id)
    applied = world.apply(succeeded, processing)

    # Then the success stands: processing after succeeded is unchanged, nothing was reported twice
    assert [a.status for a in applied] == ["applied", "unchanged"]
    stored = charge_of(world, charge)
    assert stored.status == "succeeded" and stored.attempts[-1].outcome == "succeeded"
    assert "charge.processing" not in event_types(world)
    mandate = world.get(mandate_id)
    assert mandate.attempt_started_at is None and mandate.open_charge_id is None


def test_a_decline_settles_into_the_retry_schedule_and_a_late_processing_report_is_ignored() -> None:
    # Given a bank debit processing whose money is not there
    world, mandate_id, charge = sepa_world("pm_sim_sepa_insufficient_funds", retry_schedule_days=[3])

    # When it is declined at the gateway, and the processing report arrives after that
    world.apply(world.gateway.settle(charge.id))
    late = world.apply(world.gateway.processing_event(charge.id))

    # Then the charge is retrying on the plan's schedule (a bank debit: never sooner than 2 days
    # after the decline; debited the notice's 3 days after its due time, so that is later), and
    # the late report changed nothing
    stored = charge_of(world, charge)
    assert stored.status == "retrying" and stored.attempts[0].decline_code == "insufficient_funds"
    assert late[0].status == "unchanged"
    assert world.clock.now() == stored.due_at + timedelta(days=3)
    assert world.get(mandate_id).attempt_at == stored.next_attempt_at == world.clock.now() + timedelta(days=2)


def test_another_merchants_charge_and_unknown_ids_are_ignored() -> None:
    # Given a processing bank debit of merchant a
    world, _, charge = sepa_world()
    settled = world.gateway.settle(charge.id)
    report = settled.payment
    assert report is not None

    # When the same charge id comes under merchant b, and reports name objects nobody created
    others = [
        settled.model_copy(update={"id": "evt_b", "merchant_id": "mch_b"}),
        settled.model_copy(update={"id": "evt_x", "payment": report.model_copy(update={"charge_id": "chg_nobody"})}),
        _event("evt_r", refund=RefundReport(refund_id="ref_nobody", outcome="declined", failure_code="refund_declined")),
        _event("evt_d", dispute=_facts("chg_nobody")),
        _event("evt_m", method=MethodReport(mandate_id="mdt_nobody", last4="4444")),
        _event("evt_n"),  # about nothing of ours (no merchant metadata)
    ]
    applied = world.apply(*others)

    # Then each is acknowledged and ignored, and merchant a's charge is still processing
    assert [a.status for a in applied] == ["ignored"] * len(others)
    assert charge_of(world, charge).status == "processing"
    assert not [e for e in world.repo.items.values() if isinstance(e, Dispute)]


def test_a_reversal_follows_the_decline_rules_and_its_money_is_no_longer_counted() -> None:
    # Given a bank debit that succeeded
    world, mandate_id, charge = sepa_world("pm_sim_sepa_late_failure", retry_schedule_days=[2])
    world.apply(world.gateway.settle(charge.id))
    assert world.get(mandate_id).cycles_charged == 1

    # When the bank returns it (soft code), reported twice
    reversal = world.gateway.reverse(charge.id, code="insufficient_funds")
    first, again = world.apply(reversal, reversal.model_copy(update={"id": "evt_again"}))

    # Then it is retried on the plan's schedule as the mandate's open charge; nothing is refundable
    assert first.status == "applied" and again.status == "unchanged"
    stored = charge_of(world, charge)
    assert stored.status == "retrying" and stored.attempts[0].reversed_at == world.clock.now()
    assert stored.refundable == 0
    mandate = world.get(mandate_id)
    assert mandate.open_charge_id == charge.id and mandate.cycles_charged == 0
    assert event_types(world).count("charge.reversed") == 1
    assert world.gateway.held() == held_by_books(world) == {}


# ---------------------------------------------------------------------------- refunds
def test_a_refund_failing_later_gives_the_amount_back_to_the_charge() -> None:
    # Given a paid card charge refunded in part, the refund succeeded
    world, _, charge = card_world()
    made = refund(world, charge.id, amount=500)
    world.tick()
    assert charge_of(world, charge).amount_refunded == 500

    # When the gateway reports the refund failed afterwards (twice)
    failed = world.gateway.fail_refund_later(made.id)
    first, again = world.apply(failed, failed)

    # Then the refund is failed, the charge's refunded amount is lowered once, and it may be refunded again
    assert first.status == "applied" and again.status == "unchanged"
    stored_refund = world.repo.get(Refund, MERCHANT, made.id)
    assert stored_refund is not None and stored_refund.status == "failed"
    assert charge_of(world, charge).amount_refunded == 0
    assert charge_of(world, charge).refundable == charge.amount
    assert world.gateway.held() == held_by_books(world)


# ---------------------------------------------------------------------------- disputes
def test_a_dispute_closed_before_its_creation_is_reported_stays_closed() -> None:
    # Given a paid card charge, disputed and lost at the gateway
    world, _, charge = card_world()
    created = world.gateway.open_dispute(charge.id, reason="product_not_received")
    closed = world.gateway.dispute_moves(created.dispute.reference, "lost")  # type: ignore[union-attr]

    # When the close arrives before the creation
    applied = world.apply(closed, created)

    # Then the dispute is lost (created in the state first reported), the later creation changes nothing
    assert [a.status for a in applied] == ["applied", "unchanged"]
    (dispute,) = [d for d in world.repo.items.values() if isinstance(d, Dispute)]
    assert dispute.status == "lost" and dispute.closed_at is not None
    assert event_types(world).count("dispute.created") == 1 and event_types(world).count("dispute.closed") == 1
    assert charge_of(world, charge).amount_disputed == charge.amount
    assert world.gateway.held() == held_by_books(world)


def test_refunds_are_limited_while_a_dispute_is_open_and_a_won_dispute_releases_them() -> None:
    # Given a paid card charge refunded 500, then disputed for 1000 (not fraud)
    world, mandate_id, charge = card_world()
    refund(world, charge.id, amount=500)
    world.tick()
    opened = world.gateway.open_dispute(charge.id, reason="product_not_received", amount=1000)
    world.apply(opened)

    # Then only amount - refunded - disputed may be refunded, the mandate is untouched
    assert charge_of(world, charge).refundable == charge.amount - 500 - 1000
    assert world.get(mandate_id).status == "active"

    # When it goes under review, then is won
    reference = opened.dispute.reference  # type: ignore[union-attr]
    world.apply(world.gateway.dispute_moves(reference, "under_review"), world.gateway.dispute_moves(reference, "won"))

    # Then its amount is released
    assert charge_of(world, charge).refundable == charge.amount - 500
    assert [e.type for e in world.repo.events(MERCHANT) if e.type.startswith("dispute.")] == [
        "dispute.created",
        "dispute.updated",
        "dispute.closed",
    ]


def test_a_fraud_dispute_revokes_the_mandate_as_the_gateway_and_no_attempt_follows() -> None:
    # Given a paid card charge of a monthly mandate
    world, mandate_id, charge = card_world()
    calls = len(world.gateway.calls)

    # When the customer's bank disputes it as fraudulent
    world.apply(world.gateway.open_dispute(charge.id, reason="fraudulent"))

    # Then the mandate is revoked by the gateway, and no attempt is made when the next cycle falls due
    assert world.get(mandate_id).status == "revoked"
    (revoked,) = events_of(world, "mandate.revoked")
    assert revoked.data["source"] == "gateway"
    world.run_until(world.clock.now() + timedelta(days=70), step=timedelta(days=1))
    assert len(world.gateway.calls) == calls
    assert len(world.charges(mandate_id)) == 1


# ---------------------------------------------------------------------------- payment methods
def test_a_card_replaced_by_the_network_shows_its_new_last4_with_the_previous_attributes() -> None:
    # Given an active card mandate
    world, mandate_id, _ = card_world("pm_sim_card_updated")
    before = world.get(mandate_id).payment_method
    assert before is not None and before.last4 == "4242"

    # When the network replaces the card (reported twice)
    updated = world.gateway.card_updated(MERCHANT, mandate_id, "4444")
    first, again = world.apply(updated, updated.model_copy(update={"id": "evt_again"}))

    # Then the mandate shows the new last4; one event, from the gateway, with what it was before
    assert first.status == "applied" and again.status == "unchanged"
    method = world.get(mandate_id).payment_method
    assert method is not None and method.last4 == "4444" and method.token == before.token
    (event,) = events_of(world, "mandate.payment_method_updated")
    assert event.data["source"] == "gateway"
    assert event.data["previous_attributes"]["payment_method"]["last4"] == "4242"


def test_a_bank_mandate_cancelled_at_the_bank_revokes_while_the_processing_charge_still_settles() -> None:
    # Given a bank debit processing
    world, mandate_id, charge = sepa_world("pm_sim_sepa_revoked")

    # When the bank reports the mandate inactive, then the debit settles
    world.apply(world.gateway.bank_mandate_inactive(MERCHANT, mandate_id))
    assert world.get(mandate_id).status == "revoked"
    assert [e.data["source"] for e in events_of(world, "mandate.revoked")] == ["gateway"]
    world.apply(world.gateway.settle(charge.id))

    # Then the success stands and is reported; nothing is attempted after
    assert charge_of(world, charge).status == "succeeded"
    assert "charge.succeeded" in event_types(world)
    calls = len(world.gateway.calls)
    world.run_until(world.clock.now() + timedelta(days=40), step=timedelta(days=1))
    assert len(world.gateway.calls) == calls
    assert world.get(mandate_id).attempt_started_at is None


def test_a_processing_charge_is_looked_up_an_hour_later_when_no_event_arrives() -> None:
    # Given a bank debit processing, settled at the gateway whose event is lost
    world, mandate_id, charge = sepa_world()
    assert world.get(mandate_id).claimed_until == world.clock.now() + timedelta(hours=1)
    world.gateway.settle(charge.id)
    world.gateway.take_events()

    # When an hour passes and the dispatcher runs
    world.clock.advance(hours=1)
    world.tick()

    # Then the charger looked it up (never asked again) and recorded the success
    assert charge_of(world, charge).status == "succeeded"
    assert len(world.gateway.calls) == 1 and world.gateway.lookups
    assert world.get(mandate_id).claimed_until is None


def _event(event_id: str, **about: object) -> GatewayEvent:
    return GatewayEvent.model_validate(
        {
            "id": event_id,
            "gateway": "simulated",
            "event_type": "x.y",
            "created": "2026-11-25T09:00:00Z",
            **({"merchant_id": MERCHANT} if about else {}),
            **about,
        }
    )


def _facts(charge_id: str) -> DisputeFacts:
    return DisputeFacts(reference="dp_x", charge_id=charge_id, amount=100, currency="EUR", reason="general", status="lost")


_ = PaymentReport  # (the payment report's shape is built by the fake gateway)


def test_a_reversal_reported_before_the_success_was_recorded_is_not_lost() -> None:
    # Given a bank debit processing that settled and was then returned by the bank, whose
    # settlement event was lost (the service still holds the attempt as processing)
    world, mandate_id, charge = sepa_world("pm_sim_sepa_late_failure", retry_schedule_days=[2])
    world.gateway.settle(charge.id)
    world.gateway.take_events()
    reversal = world.gateway.reverse(charge.id, code="insufficient_funds")

    # When the reversal arrives, and later the hourly lookup runs
    world.apply(reversal)
    world.clock.advance(hours=1)
    world.dispatch()
    world.deliver_all()

    # Then the charge is not counted as collected: it was paid and returned, and is retried
    stored = charge_of(world, charge)
    assert stored.status != "succeeded", "a returned debit is still counted as collected"
    assert stored.attempts[0].reversed_at is not None
    assert event_types(world).count("charge.reversed") == 1
    assert world.gateway.held() == held_by_books(world) == {}
    assert world.get(mandate_id).cycles_charged == 0


def test_a_dispute_report_delivered_again_changes_nothing_when_the_charge_has_two_disputes() -> None:
    # Given a paid card charge with two disputes recorded (two parts of it)
    world, _, charge = card_world()
    first = world.gateway.open_dispute(charge.id, reason="general", amount=100)
    second = world.gateway.open_dispute(charge.id, reason="duplicate", amount=200)
    world.apply(first, second)
    before = charge_of(world, charge)
    commits = len(world.repo.commits)

    # When the first dispute's report is delivered again
    (again,) = world.apply(first)

    # Then nothing changes: no write, the charge's disputed amount and dispute id as they were
    assert again.status == "unchanged"
    assert len(world.repo.commits) == commits
    after = charge_of(world, charge)
    assert (after.amount_disputed, after.dispute_id) == (before.amount_disputed, before.dispute_id) == (300, before.dispute_id)


def test_a_late_card_update_of_a_replaced_payment_method_leaves_the_new_one_alone() -> None:
    # Given a card updated by the network, then replaced by the merchant with another card
    world, mandate_id, _ = card_world("pm_sim_card_updated")
    updated = world.gateway.card_updated(MERCHANT, mandate_id, "4444")
    world.apply(updated)
    world.api.mandates.replace_payment_method(MERCHANT, mandate_id, PaymentMethodIn(gateway="simulated", token="pm_sim_ok"))

    # When the old card's update is delivered again, and the old bank details are reported cancelled
    applied = world.apply(updated, world.gateway.bank_mandate_inactive(MERCHANT, mandate_id, token="pm_sim_card_updated"))

    # Then the new card is untouched and the mandate still collects
    assert [a.status for a in applied] == ["unchanged", "unchanged"]
    method = world.get(mandate_id).payment_method
    assert method is not None and (method.token, method.last4) == ("pm_sim_ok", "4242")
    assert world.get(mandate_id).status == "active"


def test_a_revocation_by_the_gateway_cancels_the_charge_waiting_for_a_retry() -> None:
    # Given a bank debit declined into the retry schedule, and a card mandate whose second cycle
    # waits for a retry after its first was paid
    world, bank, declined = sepa_world("pm_sim_sepa_insufficient_funds", retry_schedule_days=[3])
    world.apply(world.gateway.settle(declined.id))
    card = world.mandate(world.plan(interval="day", retry_schedule_days=[3]), token="pm_sim_ok")
    world.tick()
    method = PaymentMethodIn(gateway="simulated", token="pm_sim_insufficient_funds")
    world.api.mandates.replace_payment_method(MERCHANT, card, method)
    world.clock.advance(days=1)
    world.tick()
    paid, waiting = world.charges(card)
    assert (paid.status, waiting.status) == ("succeeded", "retrying")

    # When the bank cancels the debit mandate, and the card's paid charge is disputed as fraud
    world.apply(world.gateway.bank_mandate_inactive(MERCHANT, bank))
    world.apply(world.gateway.open_dispute(paid.id, reason="fraudulent"))

    # Then both mandates are revoked and no charge is left waiting for a retry that will never come
    for mandate_id in (bank, card):
        mandate = world.get(mandate_id)
        assert mandate.status == "revoked" and mandate.open_charge_id is None
        assert [c.status for c in world.charges(mandate_id) if c.status in ("pending", "retrying")] == []
    assert charge_of(world, declined).status == "cancelled"
    assert "charge.cancelled" in event_types(world)
