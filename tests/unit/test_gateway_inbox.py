"""Stripe's events normalised (pure parsing of the payload) and applied once by the applier, which
resolves a report that names only a gateway object (a dispute's PaymentIntent, an updated card's
payment method) from that object's metadata. On the in-memory world (tests/world.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from billing.adapters.stripe_events import normalise, signing_secrets
from billing.domain.model import PaymentMethod
from billing.service.gateway_events import GatewayEvent, GatewayEvents, parse_gateway_event
from billing.service.gateway_inbox import GatewayEventApplier
from billing.service.ports import Changes, GatewayOwner, RejectedGatewayEvent
from tests.world import MERCHANT, World


def stripe_event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": 1_790_000_000, "data": {"object": obj}}


def dispute(status: str = "needs_response", amount: int = 1999, currency: str = "eur", **extra: Any) -> dict[str, Any]:
    return {
        "id": "dp_1",
        "object": "dispute",
        "amount": amount,
        "currency": currency,
        "reason": "fraudulent",
        "status": status,
        "payment_intent": "pi_1",
        "evidence_details": {"due_by": 1_790_900_000},
        **extra,
    }


class InMemoryLog:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], GatewayEvent] = {}
        self.done: set[tuple[str, str]] = set()

    def record(self, event: GatewayEvent, now: datetime) -> bool:
        self.items.setdefault((event.gateway, event.id), event)
        return (event.gateway, event.id) in self.done

    def applied(self, gateway: str, event_id: str) -> bool:
        return (gateway, event_id) in self.done

    def mark_applied(self, gateway: str, event_id: str, now: datetime) -> None:
        self.done.add((gateway, event_id))


class StripeObjectsFake:
    def __init__(self, owners: dict[str, GatewayOwner], failures: dict[str, str] | None = None) -> None:
        self.owners, self.failures, self.reads = owners, failures or {}, 0

    def owner_of(self, reference: str) -> GatewayOwner | None:
        self.reads += 1
        return self.owners.get(reference)

    def failure_code(self, reference: str) -> str | None:
        self.reads += 1
        return self.failures.get(reference)


# ------------------------------------------------------------------ normalising


def test_a_dispute_is_normalised_in_our_minor_units_and_left_to_be_resolved_from_its_payment_intent() -> None:
    event = normalise(stripe_event("charge.dispute.created", dispute(amount=50000, currency="isk")))
    assert event is not None and event.unresolved and event.resolve == "pi_1" and event.merchant_id is None
    assert event.dispute is not None
    # Stripe counts ISK in hundredths; ISO 4217 (and this service) in whole krónur
    assert (event.dispute.amount, event.dispute.currency, event.dispute.status) == (500, "ISK", "needs_response")
    assert event.dispute.evidence_due_by is not None and event.dispute.charge_id is None


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("payment_intent.processing", {"id": "pi_1", "status": "processing"}, "processing"),
        ("payment_intent.succeeded", {"id": "pi_1", "status": "succeeded"}, "succeeded"),
        (
            "payment_intent.payment_failed",
            {"id": "pi_1", "last_payment_error": {"code": "card_declined", "decline_code": "stolen_card"}},
            "declined:fraudulent",
        ),
        (
            "payment_intent.payment_failed",
            {"id": "pi_1", "last_payment_error": {"code": "debit_not_authorized"}},
            "declined:mandate_revoked",
        ),
    ],
)
def test_payment_intents_become_payment_reports_from_their_metadata(kind: str, obj: dict[str, Any], expected: str) -> None:
    metadata = {"merchant_id": "mch_a", "mandate_id": "mdt_1", "charge_id": "chg_1", "attempt": "2"}
    event = normalise(stripe_event(kind, {**obj, "metadata": metadata}))
    assert event is not None and event.payment is not None and event.merchant_id == "mch_a"
    report = event.payment
    assert (report.charge_id, report.attempt, report.gateway_reference) == ("chg_1", 2, "pi_1")
    assert ":".join(filter(None, [report.outcome, report.decline_code])) == expected


def test_refunds_mandates_and_card_updates_are_normalised() -> None:
    refund = {
        "id": "re_1",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "metadata": {"merchant_id": "mch_a", "refund_id": "rfd_1"},
    }
    failed = normalise(stripe_event("charge.refund.updated", refund))
    assert failed is not None and failed.refund is not None
    assert (failed.refund.refund_id, failed.refund.outcome, failed.refund.failure_code) == (
        "rfd_1",
        "declined",
        "expired_or_canceled_card",
    )
    inactive = normalise(stripe_event("mandate.updated", {"id": "mandate_1", "status": "inactive", "payment_method": "pm_1"}))
    assert (
        inactive is not None and inactive.method is not None and inactive.method.mandate_inactive and inactive.resolve == "pm_1"
    )
    assert normalise(stripe_event("mandate.updated", {"id": "mandate_1", "status": "active", "payment_method": "pm_1"})) is None
    card = normalise(stripe_event("payment_method.automatically_updated", {"id": "pm_1", "card": {"last4": "1881"}}))
    assert card is not None and card.method is not None and card.method.last4 == "1881" and card.resolve == "pm_1"


@pytest.mark.parametrize(
    "obj_kind",
    [
        ("customer.created", {"id": "cus_1"}),
        ("payment_intent.succeeded", {"id": "pi_1", "metadata": {}}),  # not created by this service
        (
            "payment_intent.succeeded",
            {"id": "pi_1", "metadata": {"merchant_id": "x' OR 1", "charge_id": "chg_1", "attempt": "1"}},
        ),
        ("charge.dispute.created", dispute(currency="xyz")),
        ("charge.dispute.created", dispute(payment_intent=None)),
    ],
)
def test_what_this_service_did_not_write_or_does_not_handle_is_ignored(obj_kind: tuple[str, dict[str, Any]]) -> None:
    assert normalise(stripe_event(*obj_kind)) is None


def test_an_event_without_type_object_or_time_is_malformed() -> None:
    with pytest.raises(RejectedGatewayEvent):
        normalise({"id": "evt_1", "object": "event", "data": {}})


def test_signing_secrets_during_a_rotation() -> None:
    assert signing_secrets("whsec_a") == ["whsec_a"]
    assert signing_secrets(" whsec_a, whsec_b\n") == ["whsec_a", "whsec_b"]
    assert signing_secrets("") == []


# ------------------------------------------------------------------ applying, resolved at apply time


def succeeded_charge(world: World) -> str:
    mandate_id = world.mandate(world.plan())
    world.tick()
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded"
    return charge.id


def test_a_dispute_is_resolved_from_its_payment_intent_when_applied_and_applied_once() -> None:
    # Given a succeeded charge and a dispute Stripe reports about its PaymentIntent
    world = World()
    charge_id = succeeded_charge(world)
    objects = StripeObjectsFake({"pi_1": GatewayOwner(merchant_id=MERCHANT, charge_id=charge_id)})
    log = InMemoryLog()
    applier = GatewayEventApplier(GatewayEvents(world.repo, world.clock, world.ids), log, {"stripe": objects}, world.clock)
    event = normalise(stripe_event("charge.dispute.created", dispute(), "evt_dispute"))
    assert event is not None
    # When the queue delivers it twice (it went through the queue as JSON)
    first = applier.handle(parse_gateway_event(event.model_dump_json()))
    again = applier.handle(event)
    # Then the dispute is opened once, on the charge its PaymentIntent names
    assert first.status == "applied" and first.disputes_opened == 1
    assert again.status == "duplicate" and objects.reads == 1
    assert world.event_types().count("dispute.created") == 1


def test_a_dispute_on_a_payment_intent_of_no_merchant_here_is_ignored() -> None:
    world = World()
    succeeded_charge(world)
    objects = StripeObjectsFake({"pi_1": GatewayOwner(merchant_id="mch_other", charge_id="chg_x")})
    applier = GatewayEventApplier(
        GatewayEvents(world.repo, world.clock, world.ids), InMemoryLog(), {"stripe": objects}, world.clock
    )
    event = normalise(stripe_event("charge.dispute.created", dispute()))
    assert event is not None
    assert applier.handle(event).status == "ignored"
    no_stripe = GatewayEventApplier(GatewayEvents(world.repo, world.clock, world.ids), InMemoryLog(), {}, world.clock)
    assert no_stripe.handle(event).status == "ignored"
    assert "dispute.created" not in world.event_types()


def test_a_card_replaced_by_the_network_is_resolved_from_its_customer_and_shows_the_new_last4() -> None:
    world = World()
    mandate_id = world.mandate(world.plan())
    # Given the mandate pays with the Stripe card pm_1Q2w3E4r (its customer created for this merchant)
    stored = world.get(mandate_id)
    assert stored.payment_method is not None
    stored.payment_method = PaymentMethod(gateway="stripe", token="cus_Q1w2E3r4T5:pm_1Q2w3E4r", last4="4242")
    world.repo.commit(Changes(put=[stored]))
    objects = StripeObjectsFake({"pm_1Q2w3E4r": GatewayOwner(merchant_id=MERCHANT, mandate_id=mandate_id)})
    applier = GatewayEventApplier(
        GatewayEvents(world.repo, world.clock, world.ids), InMemoryLog(), {"stripe": objects}, world.clock
    )
    updated = {"id": "pm_1Q2w3E4r", "card": {"last4": "1881"}}
    event = normalise(stripe_event("payment_method.automatically_updated", updated))
    assert event is not None
    assert applier.handle(event).status == "applied"
    method = world.get(mandate_id).payment_method
    assert method is not None and method.last4 == "1881"
