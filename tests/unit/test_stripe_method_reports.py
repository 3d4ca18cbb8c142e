"""What Stripe reports about a payment method alone (a card replaced by the network, a SEPA mandate
cancelled at the bank) reaches every mandate using it, whoever created its Customer; and a failed or
returned SEPA debit is declined with the bank's reason, which Stripe puts on the Charge, not in the
PaymentIntent's generic `last_payment_error`. Against the Stripe stand-in (devtools/stripe_standin.py,
through the official library) and the in-memory world (tests/world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import count
from typing import Any

import pytest

from billing.adapters.stripe import StripeGateway
from billing.adapters.stripe_events import StripeObjects, normalise
from billing.api.requests import PaymentMethodIn
from billing.domain.charge import Charge
from billing.domain.model import Mandate, PaymentMethod
from billing.domain.money import Money
from billing.service.event_recorder import EventRecorder
from billing.service.gateway_events import GatewayEvents
from billing.service.gateway_inbox import GatewayEventApplier
from billing.service.mandates import Mandates
from billing.service.ports import AttemptRequest, Changes, GatewayOwner
from devtools.stripe_standin import StripeStandIn
from tests.fakes import FakeCards, FakeLinks
from tests.unit.test_gateway_inbox import InMemoryLog, StripeObjectsFake, stripe_event
from tests.unit.test_stripe_methods import body
from tests.world import MERCHANT, World

_events = count(1)


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(start_time=1_795_000_000, settlement_delay=None) as server:
        yield server


@pytest.fixture
def gateway(standin: StripeStandIn) -> StripeGateway:
    return StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)


def merchants_card(standin: StripeStandIn, merchant: str = "mch_a", **customer_metadata: str) -> str:
    """A card of a Customer the merchant created itself (its metadata: merchant_id only)."""
    customer = standin.add_customer(email="ona@example.lt", metadata={"merchant_id": merchant, **customer_metadata})
    return f"{customer}:{standin.add_payment_method(customer, 'card')}"


# ------------------------------------------------------------------ whose payment method it is
def test_a_merchants_own_card_names_every_mandate_that_adopted_it(standin: StripeStandIn, gateway: StripeGateway) -> None:
    # Given a card on a Customer the merchant created (no mandate in its metadata)
    token = merchants_card(standin)
    pm = token.split(":")[1]
    objects = StripeObjects(gateway)
    assert objects.owner_of(pm) is None  # before: no mandate could be found
    # When two mandates of the merchant adopt it (the second's request retried)
    gateway.record_use("mch_a", "mdt_first", token)
    gateway.record_use("mch_a", "mdt_second", token)
    updates = len(standin.events_of("payment_method.updated"))
    gateway.record_use("mch_a", "mdt_second", token)
    # Then the PaymentMethod's metadata names both, and the merchant; recording again changed nothing
    owner = objects.owner_of(pm)
    assert owner is not None and owner.merchant_id == "mch_a"
    assert sorted(owner.mandate_ids) == ["mdt_first", "mdt_second"]
    assert standin.get(pm)["metadata"]["merchant_id"] == "mch_a"
    assert len(standin.events_of("payment_method.updated")) == updates == 2


def test_metadata_naming_another_merchant_than_the_customers_is_not_trusted(
    standin: StripeStandIn, gateway: StripeGateway
) -> None:
    # Given a card of mch_a's Customer whose PaymentMethod metadata was made to name mch_b's mandate
    token = merchants_card(standin, "mch_a")
    pm = token.split(":")[1]
    gateway.record_use("mch_b", "mdt_of_b", token)
    # Then no owner is read from it (the merchant is always the Customer's)
    assert StripeObjects(gateway).owner_of(pm) is None
    # And a Customer of no merchant here names nobody, whatever its PaymentMethod says
    stray = standin.add_customer(email="x@example.lt")
    stray_pm = standin.add_payment_method(stray, "card")
    gateway.record_use("mch_a", "mdt_x", f"{stray}:{stray_pm}")
    assert StripeObjects(gateway).owner_of(stray_pm) is None


def test_the_customer_pages_customer_still_names_its_mandate_and_the_method_adds_the_others(
    standin: StripeStandIn, gateway: StripeGateway
) -> None:
    # Given a card the customer's page saved for mdt_page (its Customer's metadata names it)
    token = merchants_card(standin, "mch_a", mandate_id="mdt_page")
    pm = token.split(":")[1]
    owner = StripeObjects(gateway).owner_of(pm)
    assert owner is not None and owner.mandate_ids == ["mdt_page"]
    # When the merchant also gives it to another mandate
    gateway.record_use("mch_a", "mdt_other", token)
    # Then both are named
    owner = StripeObjects(gateway).owner_of(pm)
    assert owner is not None and sorted(owner.mandate_ids) == ["mdt_other", "mdt_page"]


def test_a_mandate_records_its_stripe_method_when_it_takes_it() -> None:
    world = World()
    cards = FakeCards({(MERCHANT, "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"), (MERCHANT, "cus_Q1w2E3r4T5:pm_1Z9x8C7v6B5n4M3m")})
    mandates = Mandates(world.repo, world.clock, world.ids, EventRecorder(world.ids, FakeLinks()), frozenset({"stripe"}), cards)
    # When the merchant creates a mandate with its own Stripe card, then replaces it
    mandate = mandates.create(MERCHANT, body(world.plan(), "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"))
    assert cards.uses["cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"] == {(MERCHANT, mandate.id)}
    mandates.replace_payment_method(
        MERCHANT, mandate.id, PaymentMethodIn(gateway="stripe", token="cus_Q1w2E3r4T5:pm_1Z9x8C7v6B5n4M3m")
    )
    # Then Stripe was told which mandate uses each
    assert cards.uses["cus_Q1w2E3r4T5:pm_1Z9x8C7v6B5n4M3m"] == {(MERCHANT, mandate.id)}


# ------------------------------------------------------------------ applied to every mandate using it
def stripe_card_mandate(world: World, token: str) -> str:
    mandate_id = world.mandate(world.plan())
    stored = world.get(mandate_id)
    stored.payment_method = PaymentMethod(gateway="stripe", token=token, last4="4242")
    world.repo.commit(Changes(put=[stored]))
    return mandate_id


def test_a_card_update_reaches_every_mandate_of_the_merchant_using_the_card() -> None:
    # Given two mandates paying with the same Stripe card, and a third with another card
    world = World()
    first, second = stripe_card_mandate(world, "cus_1:pm_shared"), stripe_card_mandate(world, "cus_1:pm_shared")
    other = stripe_card_mandate(world, "cus_1:pm_other")
    owner = GatewayOwner(merchant_id=MERCHANT, mandate_id=second, other_mandate_ids=(first, other))
    objects = StripeObjectsFake({"pm_shared": owner})
    applier = GatewayEventApplier(
        GatewayEvents(world.repo, world.clock, world.ids), InMemoryLog(), {"stripe": objects}, world.clock
    )
    # When the network replaces the card
    event = normalise(stripe_event("payment_method.automatically_updated", {"id": "pm_shared", "card": {"last4": "1881"}}))
    assert event is not None
    handled = applier.handle(event)
    # Then both mandates using it show the new digits; the one on another card is unchanged
    assert handled.status == "applied" and handled.events.count("mandate.payment_method_updated") == 2
    last4 = {m: (world.get(m).payment_method or PaymentMethod(gateway="stripe", token="x")).last4 for m in (first, second, other)}
    assert last4 == {first: "1881", second: "1881", other: "4242"}


# ------------------------------------------------------------------ the bank's reason for a failed debit
SEPA_ATTEMPT = AttemptRequest(
    idempotency_key="chg_sepa:1",
    money=Money(1999, "EUR"),
    token="",
    merchant_id="mch_a",
    mandate_id="mdt_1",
    charge_id="chg_sepa",
    attempt=1,
    method_type="sepa_debit",
)


@pytest.mark.parametrize(
    ("bank_code", "contract_code"),
    [
        ("account_closed", "invalid_account"),
        ("no_account", "invalid_account"),
        ("bank_account_restricted", "invalid_account"),
        ("invalid_account_number", "invalid_account"),
        ("debit_not_authorized", "mandate_revoked"),
        ("revocation_of_authorization", "mandate_revoked"),
        ("insufficient_funds", "insufficient_funds"),
        ("generic_could_not_process", "generic_could_not_process"),  # soft, as any code not known to be hard
    ],
)
def test_a_failed_sepa_debit_is_declined_with_the_banks_reason_from_its_charge(
    standin: StripeStandIn, gateway: StripeGateway, bank_code: str, contract_code: str
) -> None:
    # Given a SEPA debit the bank refuses with `bank_code` (Stripe: generic error, the code on the Charge)
    customer = standin.add_customer(email="ona@example.lt", name="Ona", metadata={"merchant_id": "mch_a"})
    token = f"{customer}:{standin.add_payment_method(customer, 'sepa_debit', 'sepa_fail', failure_code=bank_code)}"
    processing = gateway.charge(replace(SEPA_ATTEMPT, token=token))
    assert processing.outcome == "processing"
    standin.settle(str(processing.gateway_reference), succeeded=None)
    [failed] = standin.events_of("payment_intent.payment_failed")
    assert failed["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
    # When the engine looks it up, Then it is declined with the contract's code for the bank's reason
    looked = gateway.lookup(replace(SEPA_ATTEMPT, token=token))
    assert looked is not None and (looked.outcome, looked.decline_code) == ("declined", contract_code)
    # And the event says "generic" but names the Charge, whose reason is read when it is applied
    event = normalise(failed)
    assert event is not None and event.payment is not None and event.payment.decline_code == "generic_decline"
    assert event.resolve == failed["data"]["object"]["latest_charge"] and event.reason_elsewhere
    assert StripeObjects(gateway).failure_code(str(event.resolve)) == contract_code


def failed_debit_event(charge_id: str, event_id: str) -> dict[str, Any]:
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "requires_payment_method",
        "payment_method_types": ["sepa_debit"],
        "metadata": {"merchant_id": MERCHANT, "charge_id": charge_id, "attempt": "1"},
        "last_payment_error": {"type": "card_error", "code": "", "decline_code": "generic_decline", "message": "…"},
        "latest_charge": "py_1",
    }
    return stripe_event("payment_intent.payment_failed", intent, event_id)


@pytest.mark.parametrize(
    ("bank_reason", "mandate_status", "charge_status"), [("mandate_revoked", "revoked", "failed"), (None, "active", "retrying")]
)
def test_a_returned_debit_is_reversed_by_the_banks_reason_read_from_its_charge(
    bank_reason: str | None, mandate_status: str, charge_status: str
) -> None:
    # Given a bank debit that settled
    world = World()
    mandate_id = world.mandate(world.plan(), "pm_sim_sepa_ok", customer={"reference": "c", "email": "o@example.lt", "name": "O"})
    world.first_debit(mandate_id)
    [charge] = world.charges(mandate_id)
    objects = StripeObjectsFake({}, {"py_1": bank_reason} if bank_reason else {})
    applier = GatewayEventApplier(
        GatewayEvents(world.repo, world.clock, world.ids), InMemoryLog(), {"stripe": objects}, world.clock
    )
    succeeded = normalise(
        stripe_event("payment_intent.succeeded", failed_debit_event(charge.id, "x")["data"]["object"], "evt_ok")
    )
    assert succeeded is not None and applier.handle(succeeded).status == "applied"
    # When Stripe reports it failed (returned), generic in the event, the bank's reason on the Charge
    returned = normalise(failed_debit_event(charge.id, f"evt_returned{next(_events)}"))
    assert returned is not None
    assert applier.handle(returned).status == "applied"
    # Then a revocation by the bank revokes (hard); no reason beyond "generic" is a soft return, retried
    after = world.repo.get(Charge, MERCHANT, charge.id)
    mandate = world.repo.get(Mandate, MERCHANT, mandate_id)
    assert after is not None and mandate is not None
    assert (after.status, mandate.status) == (charge_status, mandate_status)


def test_a_method_full_of_metadata_still_names_its_latest_mandate(standin: StripeStandIn, gateway: StripeGateway) -> None:
    # Given a card whose metadata is at Stripe's limit of 50 keys (48 mandates recorded on it)
    token = merchants_card(standin)
    pm = token.split(":")[1]
    for n in range(48):
        gateway.record_use("mch_a", f"mdt_{n:02d}", token)
    assert len(standin.get(pm)["metadata"]) == 50
    # When one more mandate adopts it, Then Stripe's refusal of a 51st key is not the mandate's
    # problem: the method names it as its latest mandate instead
    gateway.record_use("mch_a", "mdt_new", token)
    owner = StripeObjects(gateway).owner_of(pm)
    assert owner is not None and owner.mandate_id == "mdt_new" and len(owner.mandate_ids) == 49
