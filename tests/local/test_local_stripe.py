"""`make local` with STRIPE_SECRET_KEY and STRIPE_API_BASE pointing at the Stripe stand-in
(devtools/stripe_standin.py): a SEPA mandate confirmed at "Stripe" is charged through it, the debit
is processing, and its settlement reaches the charge (here by the engine's lookup an hour later,
with no inbound event)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stripe

from billing.customer_page.formatting import day
from devtools.stripe_standin import StripeStandIn
from tests.local.conftest import Http, merchant, running_local


@pytest.fixture(scope="module")
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(settlement_delay=None) as server:  # settles only when the test says so
        yield server


@pytest.fixture(scope="module")
def local_with_stripe(standin: StripeStandIn) -> Iterator[str]:
    yield from running_local(
        {"STRIPE_SECRET_KEY": "sk_test_local", "STRIPE_API_BASE": standin.url, "STRIPE_WEBHOOK_SECRET": "whsec_local"}
    )


def sepa_mandate_at_stripe(standin: StripeStandIn, merchant_id: str) -> tuple[str, str]:
    """What the customer's page does with Stripe.js: a Customer of the merchant, a SEPA SetupIntent
    confirmed with an IBAN. Returns the token and Stripe's mandate reference."""
    client = stripe.StripeClient("sk_test_local", base_addresses={"api": standin.url}, max_network_retries=0)
    customer = client.v1.customers.create(
        params={"email": "ona@example.lt", "name": "Ona Onaitė", "metadata": {"merchant_id": merchant_id}}
    )
    setup = client.v1.setup_intents.create(
        params={"customer": customer.id, "usage": "off_session", "allowed_payment_method_types": ["sepa_debit"]}
    )
    confirmed = standin.confirm_setup_intent(setup.id, type="sepa_debit", behaviour="sepa_ok", last4="3000")
    mandate = standin.get(confirmed["mandate"])
    return f"{customer.id}:{confirmed['payment_method']}", mandate["payment_method_details"]["sepa_debit"]["reference"]


def test_a_sepa_mandate_is_charged_through_stripe_and_settles_by_lookup(local_with_stripe: str, standin: StripeStandIn) -> None:
    local = Http(local_with_stripe)
    call = merchant(local_with_stripe)
    status, clock = local("POST", "/_local/clock", {"now": "2027-03-01T09:00:00Z"})
    assert status == 200
    merchant_id = call("GET", "/v1/account")[1]["id"]
    token, reference = sepa_mandate_at_stripe(standin, merchant_id)
    status, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    assert status == 201
    # Given a mandate on that Stripe SEPA payment method, with the customer's consent
    status, mandate = call(
        "POST",
        "/v1/mandates",
        {
            "plan_id": plan["id"],
            "customer": {"reference": "ona", "email": "ona@example.lt", "name": "Ona Onaitė"},
            "payment_method": {"gateway": "stripe", "token": token},
            "consent": {"accepted_at": "2027-03-01T09:00:00Z", "ip": "203.0.113.9", "user_agent": "test"},
        },
    )
    assert status == 201 and mandate["status"] == "active", mandate
    # Then its type, IBAN digits and mandate reference were read from Stripe
    method = mandate["payment_method"]
    assert (method["type"], method["last4"], method["mandate_reference"]) == ("sepa_debit", "3000", reference)
    # When the first cycle falls due (at activation), Then it is not debited at once: the customer
    # is first told the amount, the debit's date (3 days later, the account's notice days) and the
    # mandate reference
    assert local("POST", "/_local/tick")[0] == 200
    assert call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"] == []
    [notice] = [
        e
        for e in local("GET", "/_local/emails")[1]["emails"]
        if e["mandate_id"] == mandate["id"] and e["kind"] == "upcoming_charge"
    ]
    debit_date = day(datetime(2027, 3, 4, 9, tzinfo=UTC), "en", "long")
    assert reference in notice["text"] and "19.99" in notice["text"] and debit_date in notice["text"], notice["text"]
    # When its date comes, Then the first cycle is debited
    assert local("POST", "/_local/clock", {"advance_seconds": 3 * 86400})[0] == 200
    assert local("POST", "/_local/tick")[0] == 200
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    # Then it is a SEPA PaymentIntent at Stripe, naming the mandate, and the charge is processing
    assert charge["status"] == "processing", charge
    [intent] = [o for o in standin.store.objects.values() if o.get("object") == "payment_intent"]
    assert intent["status"] == "processing" and intent["payment_method_types"] == ["sepa_debit"]
    assert intent["metadata"]["charge_id"] == charge["id"] and intent["amount"] == 1999 and intent["currency"] == "eur"
    assert standin.store.private[intent["id"]]["mandate"] == standin.mandate_of(token.split(":")[1])
    # When the bank settles it, and an hour passes (no event reaches the runtime)
    standin.settle(intent["id"])
    assert local("POST", "/_local/clock", {"advance_seconds": 3601})[0] == 200
    assert local("POST", "/_local/tick")[0] == 200
    # Then the engine looked it up (a search by its metadata, never a new PaymentIntent) and the charge succeeded
    assert [r for r in standin.requests if r[1] == "/v1/payment_intents/search"]
    settled = call("GET", f"/v1/charges/{charge['id']}")[1]
    assert settled["status"] == "succeeded", settled
    assert settled["attempts"][-1]["outcome"] == "succeeded" and settled["attempts"][-1]["settled_at"]
    assert len([o for o in standin.store.objects.values() if o.get("object") == "payment_intent"]) == 1
    # When part of it is refunded (a SEPA refund is pending at Stripe for days)
    status, refund = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}, {"Idempotency-Key": "sepa-r1"})
    assert status in (200, 201, 202), refund
    assert local("POST", "/_local/tick")[0] == 200
    [at_stripe] = [o for o in standin.store.objects.values() if o.get("object") == "refund"]
    assert at_stripe["status"] == "pending" and at_stripe["metadata"]["refund_id"] == refund["id"]
    assert call("GET", f"/v1/charges/{charge['id']}")[1]["amount_refunded"] == 0
    # Then once the bank returned it, a day later the refund is looked up and recorded
    standin.settle_refund(at_stripe["id"])
    assert local("POST", "/_local/clock", {"advance_seconds": 86400 + 60})[0] == 200
    assert local("POST", "/_local/tick")[0] == 200
    assert call("GET", f"/v1/charges/{charge['id']}")[1]["amount_refunded"] == 500
    assert len([o for o in standin.store.objects.values() if o.get("object") == "refund"]) == 1


def test_a_sepa_debit_settles_by_stripes_signed_event(local_with_stripe: str, standin: StripeStandIn) -> None:
    local = Http(local_with_stripe)
    if local("POST", "/gateway/stripe/events", {"type": "unsigned"})[0] != 400:
        pytest.skip("the inbound receiver (POST /gateway/stripe/events) is not in this build")
    # Given Stripe's events forwarded to the runtime, signed with STRIPE_WEBHOOK_SECRET (as `stripe listen` does)
    standin.forward_to(f"{local_with_stripe}/gateway/stripe/events", "whsec_local")
    call = merchant(local_with_stripe, "Event shop")
    merchant_id = call("GET", "/v1/account")[1]["id"]
    token, _ = sepa_mandate_at_stripe(standin, merchant_id)
    _, clock = local("GET", "/_local/clock")
    status, plan = call("POST", "/v1/plans", {"name": "Silver", "amount": 2500, "currency": "EUR", "interval": "month"})
    status, mandate = call(
        "POST",
        "/v1/mandates",
        {
            "plan_id": plan["id"],
            "customer": {"reference": "jonas", "email": "jonas@example.lt", "name": "Jonas Jonaitis"},
            "payment_method": {"gateway": "stripe", "token": token},
            "consent": {"accepted_at": clock["now"], "ip": "203.0.113.9", "user_agent": "test"},
        },
    )
    assert status == 201 and mandate["status"] == "active", mandate
    assert local("POST", "/_local/tick")[0] == 200  # its pre-notification: the debit 3 days later
    assert local("POST", "/_local/clock", {"advance_seconds": 3 * 86400})[0] == 200
    assert local("POST", "/_local/tick")[0] == 200
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    assert charge["status"] == "processing", charge
    # When the bank settles it and Stripe's events arrive (no time passes: no lookup is due)
    [intent] = [
        o
        for o in standin.store.objects.values()
        if o.get("object") == "payment_intent" and o["metadata"].get("charge_id") == charge["id"]
    ]
    standin.settle(intent["id"])
    assert standin.flush()
    assert all(d.status == 200 for d in standin.deliveries), standin.deliveries
    assert local("POST", "/_local/tick")[0] == 200
    # Then the charge succeeded from the event
    assert call("GET", f"/v1/charges/{charge['id']}")[1]["status"] == "succeeded"
