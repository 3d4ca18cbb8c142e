"""SEPA direct debits through our Stripe adapter, against the stateful Stripe stand-in
(devtools/stripe_standin.py, spoken to through the official `stripe` library): SetupIntents for an
IBAN, what a token is (type, last4, Stripe's mandate reference), processing PaymentIntents settled
by lookup, pending refunds. Never the internet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from billing.adapters.stripe import StripeGateway
from billing.domain.money import Money
from billing.service.ports import AttemptRequest, RefundRequest
from devtools.stripe_standin import StripeStandIn

DAY = 86400


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(start_time=1_795_000_000, settlement_delay=None) as server:
        yield server


@pytest.fixture
def gateway(standin: StripeStandIn) -> StripeGateway:
    return StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)


ATTEMPT = AttemptRequest(
    idempotency_key="chg_abc:1",
    money=Money(1999, "EUR"),
    token="",
    merchant_id="mch_a",
    mandate_id="mdt_1",
    charge_id="chg_abc",
    attempt=1,
    method_type="sepa_debit",
)


def sepa_token(standin: StripeStandIn, gateway: StripeGateway, behaviour: str = "sepa_ok") -> str:
    """The customer's page: a SEPA SetupIntent confirmed in the browser (Stripe.js), as the page's token."""
    prepared = gateway.create_setup_intent("mch_a", "mdt_1", "ona@example.lt", "Ona Onaitė", method_type="sepa_debit")
    standin.confirm_setup_intent(prepared["id"], type="sepa_debit", behaviour=behaviour, last4="3000")
    token = gateway.confirmed_payment_method(prepared["id"], "mdt_1")
    assert token is not None
    return token


def test_a_sepa_setup_intent_is_off_session_for_an_iban_and_its_token_is_described(
    standin: StripeStandIn, gateway: StripeGateway
) -> None:
    # Given the page prepares a SEPA SetupIntent for a mandate
    prepared = gateway.create_setup_intent("mch_a", "mdt_1", "ona@example.lt", "Ona Onaitė", method_type="sepa_debit")
    intent = standin.get(prepared["id"])
    # Then it takes only an IBAN, for later debits without the customer, tagged with the mandate
    assert intent["payment_method_types"] == ["sepa_debit"] and intent["usage"] == "off_session"
    assert intent["metadata"] == {"merchant_id": "mch_a", "mandate_id": "mdt_1"}
    # And the card SetupIntent of the same mandate is another one (its own idempotency key)
    card = gateway.create_setup_intent("mch_a", "mdt_1", "ona@example.lt", "Ona Onaitė")
    assert card["id"] != prepared["id"] and standin.get(card["id"])["payment_method_types"] == ["card"]
    # When the customer confirms it in the browser
    standin.confirm_setup_intent(prepared["id"], type="sepa_debit", last4="3000")
    token = gateway.confirmed_payment_method(prepared["id"], "mdt_1")
    assert token is not None
    # Then the token reads as a SEPA debit with the IBAN's last four and Stripe's mandate reference
    details = gateway.describe(token)
    mandate = standin.get(str(standin.get(prepared["id"])["mandate"]))
    assert details.type == "sepa_debit" and details.last4 == "3000"
    assert details.mandate_reference == mandate["payment_method_details"]["sepa_debit"]["reference"]
    assert gateway.belongs_to("mch_a", token)


def test_a_card_token_is_described_as_a_card_without_a_mandate_reference(standin: StripeStandIn, gateway: StripeGateway) -> None:
    customer = standin.add_customer(metadata={"merchant_id": "mch_a"})
    token = f"{customer}:{standin.add_payment_method(customer, 'card', last4='1881')}"
    details = gateway.describe(token)
    assert (details.type, details.last4, details.mandate_reference) == ("card", "1881", None)


def test_a_sepa_charge_names_the_mandate_is_processing_and_settles_by_lookup(
    standin: StripeStandIn, gateway: StripeGateway
) -> None:
    # Given a confirmed SEPA mandate at Stripe
    token = sepa_token(standin, gateway)
    # When the attempt is charged
    result = gateway.charge(replace(ATTEMPT, token=token))
    # Then it is processing at its PaymentIntent: a SEPA debit, off session, with the SetupIntent's mandate
    assert result.outcome == "processing" and result.gateway_reference
    [(_, _, params, headers)] = [r for r in standin.requests if r[0] == "POST" and r[1] == "/v1/payment_intents"]
    _, pm = token.split(":")
    assert params["allowed_payment_method_types"] == ["sepa_debit"] and params["off_session"] == "true"
    assert params["confirm"] == "true" and params["mandate"] == standin.mandate_of(pm)
    assert headers.get("Idempotency-Key") == "chg_abc:1"
    # And a lookup while the bank has not answered is still processing
    looked = gateway.lookup(replace(ATTEMPT, token=token))
    assert looked is not None and (looked.outcome, looked.gateway_reference) == ("processing", result.gateway_reference)
    # And asking again with the same key (while Stripe remembers it) makes no second debit
    again = gateway.charge(replace(ATTEMPT, token=token))
    assert (again.outcome, again.gateway_reference) == ("processing", result.gateway_reference)
    assert len(standin.events_of("payment_intent.processing")) == 1
    # When the debit settles at the bank (days later), Then the lookup finds it succeeded
    standin.advance(days=3)
    standin.settle(str(result.gateway_reference))
    settled = gateway.lookup(replace(ATTEMPT, token=token))
    assert settled is not None and (settled.outcome, settled.gateway_reference) == ("succeeded", result.gateway_reference)


def test_a_sepa_debit_the_bank_refuses_is_declined_by_lookup(standin: StripeStandIn, gateway: StripeGateway) -> None:
    token = sepa_token(standin, gateway, behaviour="sepa_fail")
    result = gateway.charge(replace(ATTEMPT, token=token))
    assert result.outcome == "processing"
    standin.settle(str(result.gateway_reference), succeeded=None)  # as the method behaves: insufficient funds
    looked = gateway.lookup(replace(ATTEMPT, token=token))
    assert looked is not None and (looked.outcome, looked.decline_code) == ("declined", "insufficient_funds")


def test_a_sepa_debit_in_another_currency_is_refused_for_good(standin: StripeStandIn, gateway: StripeGateway) -> None:
    token = sepa_token(standin, gateway)
    result = gateway.charge(replace(ATTEMPT, token=token, money=Money(1999, "USD")))
    assert result.outcome == "error" and result.decline_code == "gateway_rejected"


def test_a_sepa_refund_is_pending_so_processing_then_looked_up_settled(standin: StripeStandIn, gateway: StripeGateway) -> None:
    # Given a settled SEPA debit
    token = sepa_token(standin, gateway)
    paid = gateway.charge(replace(ATTEMPT, token=token))
    standin.settle(str(paid.gateway_reference))
    refund = RefundRequest(
        idempotency_key="refund:rfd_1",
        money=Money(500, "EUR"),
        token=token,
        charge_reference=paid.gateway_reference,
        reason="requested_by_customer",
        merchant_id="mch_a",
        mandate_id="mdt_1",
        charge_id="chg_abc",
        refund_id="rfd_1",
    )
    # When it is partly refunded, Then Stripe's pending refund is processing at that refund
    answered = gateway.refund(refund)
    assert answered.outcome == "processing" and str(answered.gateway_reference).startswith("re_")
    looked = gateway.lookup_refund(refund)
    assert looked is not None and looked.outcome == "processing"
    # When the bank returns the money, Then the lookup finds it succeeded
    standin.settle_refund(str(answered.gateway_reference))
    settled = gateway.lookup_refund(refund)
    assert settled is not None and (settled.outcome, settled.gateway_reference) == ("succeeded", answered.gateway_reference)


def test_a_sepa_mandate_cancelled_at_the_bank_is_a_hard_mandate_revoked_decline(
    standin: StripeStandIn, gateway: StripeGateway
) -> None:
    # Given the customer's bank cancelled the SEPA mandate Stripe holds
    token = sepa_token(standin, gateway)
    mandate = standin.mandate_of(token.split(":")[1])
    assert mandate is not None
    standin.deactivate_mandate(mandate)
    # When the attempt is charged, Then Stripe refuses the mandate: a hard mandate_revoked decline, no debit
    result = gateway.charge(replace(ATTEMPT, token=token))
    assert (result.outcome, result.decline_code, result.hard) == ("declined", "mandate_revoked", True)
    assert not [o for o in standin.store.objects.values() if o.get("object") == "payment_intent"]
