"""What Stripe reports for reconciliation (adapters/stripe_ledger.py), read through the official
library from the stateful stand-in: every page, grouped by the merchant in the metadata."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
import stripe

from billing.adapters.stripe import StripeGateway
from billing.adapters.stripe_ledger import StripeLedger, iso_amount
from devtools.stripe_standin import StripeStandIn

START = 1_795_000_000


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(start_time=START) as server:
        yield server


def pay(
    client: stripe.StripeClient, standin: StripeStandIn, merchant: str, n: int, behaviour: str = "ok", **extra: object
) -> str:
    kind = "sepa_debit" if behaviour.startswith("sepa") else "card"
    customer = standin.add_customer(metadata={"merchant_id": merchant})
    method = standin.add_payment_method(customer, kind, behaviour)
    params: dict = {
        "amount": 1000 + n,
        "currency": "eur",
        "customer": customer,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
        "allowed_payment_method_types": [kind],
        "metadata": {"merchant_id": merchant, "charge_id": f"chg_{n}", "attempt": "1"},
        **extra,
    }
    return str(client.v1.payment_intents.create(params=params, options={"idempotency_key": f"{merchant}:{n}"}).id)


def test_every_page_is_read_and_each_merchant_gets_its_own(standin: StripeStandIn) -> None:
    # Given 105 card payments of one merchant and 3 of another, a refund, a lost SEPA dispute and
    # a SEPA debit returned after it succeeded, all created within the window
    client = stripe.StripeClient("sk_test_standin", base_addresses={"api": standin.url}, max_network_retries=0)
    intents = [pay(client, standin, "mch_a", n) for n in range(105)]
    for n in range(3):
        pay(client, standin, "mch_b", 500 + n)
    client.v1.refunds.create(
        params={"payment_intent": intents[0], "amount": 300, "metadata": {"merchant_id": "mch_a", "refund_id": "rfd_1"}}
    )
    disputed = pay(client, standin, "mch_a", 900, "sepa_ok")
    standin.settle(disputed)
    dispute = standin.open_dispute(disputed)
    returned = pay(client, standin, "mch_a", 901, "sepa_ok")
    standin.settle(returned)
    standin.reverse(returned)
    pay(client, standin, "", 999)  # not this service's: no merchant in its metadata
    since = datetime.fromtimestamp(START, tz=timezone.utc) - timedelta(days=1)
    until = since + timedelta(days=3)
    gateway = StripeGateway(lambda: "sk_test_standin", base_url=standin.url)
    events_before = len(standin.events)

    # When the ledger of each merchant is read for the window
    ledger = StripeLedger(gateway)
    mine = ledger.entries("mch_a", since, since, until)
    theirs = ledger.entries("mch_b", since, since, until)

    # Then every payment of each merchant is there (more than one page of 100), with the refund,
    # the lost dispute and the return; the second merchant's read cost no new listing
    charges = [e for e in mine if e.kind == "charge"]
    assert len(charges) == 107 and all(e.status == "succeeded" and e.gateway == "stripe" for e in charges)
    assert {e.charge_id for e in charges} >= {f"chg_{n}" for n in range(105)}
    assert len(theirs) == 3 and {e.charge_id for e in theirs} == {"chg_500", "chg_501", "chg_502"}
    [refund] = [e for e in mine if e.kind == "refund"]
    assert (refund.status, refund.amount, refund.refund_id, refund.currency) == ("succeeded", 300, "rfd_1", "EUR")
    [lost] = [e for e in mine if e.kind == "dispute"]
    assert (lost.status, lost.gateway_reference, lost.amount, lost.charge_id) == ("succeeded", dispute, 1900, "chg_900")
    [reversal] = [e for e in mine if e.kind == "reversal"]
    assert (reversal.gateway_reference, reversal.amount) == (returned, 1901)
    assert len(standin.events) == events_before  # reads only


def test_outside_the_window_nothing_is_read(standin: StripeStandIn) -> None:
    client = stripe.StripeClient("sk_test_standin", base_addresses={"api": standin.url}, max_network_retries=0)
    pay(client, standin, "mch_a", 1)
    later = datetime.fromtimestamp(START, tz=timezone.utc) + timedelta(days=1)
    ledger = StripeLedger(StripeGateway(lambda: "sk_test_standin", base_url=standin.url))
    assert ledger.entries("mch_a", later, later, later + timedelta(days=1)) == []


def test_amounts_come_back_in_iso_minor_units() -> None:
    assert iso_amount(123400, "isk") == 1234
    assert iso_amount(1999, "eur") == 1999
    assert iso_amount(500, "jpy") == 500


def test_a_refund_that_failed_later_is_out_when_created_and_back_when_it_failed(standin: StripeStandIn) -> None:
    # Given a refund created at START that Stripe failed a day later (the money back to the balance)
    client = stripe.StripeClient("sk_test_standin", base_addresses={"api": standin.url}, max_network_retries=0)
    intent = pay(client, standin, "mch_a", 1)
    refund = client.v1.refunds.create(
        params={"payment_intent": intent, "amount": 300, "metadata": {"merchant_id": "mch_a", "refund_id": "rfd_1"}}
    )
    standin.advance(days=1)
    standin.fail_refund(refund.id)
    since = datetime.fromtimestamp(START, tz=timezone.utc) - timedelta(days=1)

    # When the ledger is read
    mine = StripeLedger(StripeGateway(lambda: "sk_test_standin", base_url=standin.url)).entries(
        "mch_a", since, since, since + timedelta(days=3)
    )

    # Then the refund moved at its creation and came back at its failure's balance transaction
    out, back = [e for e in mine if e.kind in ("refund", "refund_failure")]
    assert (out.kind, out.status, out.amount, out.refund_id) == ("refund", "succeeded", 300, "rfd_1")
    assert (back.kind, back.status, back.gateway_reference) == ("refund_failure", "succeeded", refund.id)
    assert (back.at - out.at) >= timedelta(days=1)
