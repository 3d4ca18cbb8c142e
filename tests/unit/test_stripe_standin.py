"""The Stripe stand-in (devtools/stripe_standin.py), driven through the official `stripe` library and
our adapter: it keeps state, honours idempotency keys, and sends events that verify as Stripe's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
import stripe
from pytest_httpserver import HTTPServer

from billing.adapters.stripe import StripeGateway
from billing.adapters.stripe_events import StripeObjects
from billing.domain.money import Money
from billing.service.ports import AttemptRequest, RefundRequest
from devtools.stripe_standin import StripeStandIn, parse_form, sign

SECRET = "whsec_test_secret"
DAY = 86400


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    with StripeStandIn(start_time=1_795_000_000) as server:
        yield server


@pytest.fixture
def client(standin: StripeStandIn) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_standin", base_addresses={"api": standin.url}, max_network_retries=0)


@pytest.fixture
def webhooks(standin: StripeStandIn, httpserver: HTTPServer) -> HTTPServer:
    httpserver.expect_request("/gateway/stripe/events", method="POST").respond_with_data("ok")
    standin.forward_to(httpserver.url_for("/gateway/stripe/events"), SECRET)
    return httpserver


def received(httpserver: HTTPServer) -> list[stripe.Event]:
    """The events the webhook target got, each verified as our inbound endpoint does."""
    return [
        stripe.Webhook.construct_event(request.get_data(), request.headers["Stripe-Signature"], SECRET)
        for request, _ in httpserver.log
    ]


def customer(client: stripe.StripeClient, **extra: str) -> str:
    params: dict = {"email": "ona@example.lt", "name": "Ona Onaitė", "metadata": {"merchant_id": "mch_a"}, **extra}
    return client.v1.customers.create(params=params).id


def sepa_payment(client: stripe.StripeClient, customer_id: str, method: str, key: str = "chg_1:1", **extra: object) -> object:
    params: dict = {
        "amount": 1999,
        "currency": "eur",
        "customer": customer_id,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
        "allowed_payment_method_types": ["sepa_debit"],
        "metadata": {"merchant_id": "mch_a", "charge_id": "chg_1", "attempt": "1"},
        **extra,
    }
    return client.v1.payment_intents.create(params=params, options={"idempotency_key": key})


def test_bracket_notation_is_parsed_as_stripe_sends_it() -> None:
    pairs = parse_qsl("metadata%5Bcharge_id%5D=chg_1&payment_method_types%5B0%5D=sepa_debit&payment_method_types%5B1%5D=card&x=1")
    assert parse_form(pairs) == {"metadata": {"charge_id": "chg_1"}, "payment_method_types": ["sepa_debit", "card"], "x": "1"}


def test_customers_are_kept_and_unknown_ones_are_resource_missing(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    # Given a customer created through the library
    created = client.v1.customers.create(params={"email": "a@example.com", "name": "A", "metadata": {"merchant_id": "mch_a"}})
    # Then it reads back as Stripe's object
    read = client.v1.customers.retrieve(created.id)
    assert read.id.startswith("cus_") and read.email == "a@example.com" and read.metadata["merchant_id"] == "mch_a"
    # And an unknown one is a 404 resource_missing, a key that is not a test key a 401
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.retrieve("cus_Unknown12345")
    assert unknown.value.http_status == 404 and unknown.value.code == "resource_missing"
    for key in ("sk_live_abc123", "pk_test_abc123"):
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient(key, base_addresses={"api": standin.url}).v1.customers.retrieve(created.id)
    # And curl's `-u sk_test_…:` (Basic) is a key too
    import base64
    import urllib.request

    request = urllib.request.Request(f"{standin.url}/v1/customers/{created.id}")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"sk_test_curl:").decode())
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read())["id"] == created.id


def test_a_sepa_setup_intent_confirmed_in_the_browser_gives_a_method_and_an_active_mandate(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given a SetupIntent for a bank debit (this API version's parameter name)
    cus = customer(client)
    params: dict = {
        "customer": cus,
        "usage": "off_session",
        "allowed_payment_method_types": ["sepa_debit"],
        "metadata": {"mandate_id": "mdt_1"},
    }
    seti = client.v1.setup_intents.create(params=params, options={"idempotency_key": "setup:mdt_1"})
    assert seti.status == "requires_payment_method" and seti.client_secret.startswith(f"{seti.id}_secret_")
    # When the customer confirms it with an IBAN (Stripe.js, here the helper)
    standin.confirm_setup_intent(seti.id, type="sepa_debit", behaviour="sepa_ok", last4="3000")
    # Then it succeeded with a payment method of the customer and a multi-use mandate with Stripe's reference
    seti = client.v1.setup_intents.retrieve(seti.id)
    assert seti.status == "succeeded" and seti.metadata["mandate_id"] == "mdt_1"
    method = client.v1.payment_methods.retrieve(str(seti.payment_method))
    assert method.type == "sepa_debit" and method.customer == cus and method.sepa_debit.last4 == "3000"
    assert method.billing_details.name == "Ona Onaitė" and method.billing_details.email == "ona@example.lt"
    mandate = client.v1.mandates.retrieve(str(seti.mandate))
    assert mandate.status == "active" and mandate.type == "multi_use" and mandate.payment_method == method.id
    assert mandate.payment_method_details.sepa_debit.reference.startswith("STRIPE-")
    assert [e["type"] for e in standin.events] == ["setup_intent.succeeded"]


def test_a_card_payment_is_replayed_for_the_same_key_and_refused_for_other_parameters(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given a card that pays
    cus = customer(client)
    method = standin.add_payment_method(cus, type="card", behaviour="ok", last4="4242")
    params: dict = {
        "amount": 1999,
        "currency": "eur",
        "customer": cus,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
    }
    # When the same attempt is sent twice with its key
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "chg_1:1"})
    second = client.v1.payment_intents.create(params=params, options={"idempotency_key": "chg_1:1"})
    # Then one PaymentIntent exists, succeeded with a charge, and the second answer is the stored one
    assert first.status == "succeeded" and first.latest_charge.startswith("ch_") and first.amount_received == 1999
    assert second.id == first.id and second.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(standin.events_of("payment_intent.succeeded")) == 1
    assert client.v1.charges.retrieve(str(first.latest_charge)).payment_method_details.card.last4 == "4242"
    # When the key is reused with another amount, Then Stripe's idempotency_error (400)
    with pytest.raises(stripe.IdempotencyError) as reused:
        client.v1.payment_intents.create(params={**params, "amount": 2999}, options={"idempotency_key": "chg_1:1"})
    assert reused.value.http_status == 400
    # And after 24 hours the key is forgotten: the same request makes a new payment
    standin.advance(hours=24)
    assert client.v1.payment_intents.create(params=params, options={"idempotency_key": "chg_1:1"}).id != first.id


def test_a_declined_card_is_a_402_and_the_payment_intent_keeps_the_error(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given a card without funds
    cus = customer(client)
    method = standin.add_payment_method(cus, behaviour="insufficient_funds")
    params: dict = {
        "amount": 1999,
        "currency": "eur",
        "customer": cus,
        "payment_method": method,
        "off_session": True,
        "confirm": True,
    }
    # When it is charged (twice with one key)
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as declined:
            client.v1.payment_intents.create(params=params, options={"idempotency_key": "chg_2:1"})
        errors.append(declined.value)
    # Then a card_error with the decline code and the PaymentIntent, the same both times
    error = errors[0].json_body["error"]
    assert errors[0].http_status == 402 and error["code"] == "card_declined" and error["decline_code"] == "insufficient_funds"
    assert error == errors[1].json_body["error"]
    intent = client.v1.payment_intents.retrieve(error["payment_intent"]["id"])
    assert intent.status == "requires_payment_method" and intent.last_payment_error.decline_code == "insufficient_funds"
    assert [e["type"] for e in standin.events] == ["payment_intent.payment_failed", "charge.failed"]
    # And an expired card has its own code
    expired = standin.add_payment_method(cus, behaviour="expired_card")
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(params={**params, "payment_method": expired})
    assert declined.value.code == "expired_card"


def test_a_sepa_debit_is_processing_until_settled_and_needs_eur_and_a_mandate(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given a SEPA method with its mandate, and one without
    cus = customer(client)
    method = standin.add_payment_method(cus, type="sepa_debit", behaviour="sepa_ok")
    bare = standin.add_payment_method(cus, type="sepa_debit", mandate=False)
    # When it is charged in EUR with its mandate
    intent = sepa_payment(client, cus, method, mandate=standin.mandate_of(method))
    # Then it is processing (the charge pending) and can be found by its metadata
    assert intent.status == "processing" and client.v1.charges.retrieve(intent.latest_charge).status == "pending"
    query = "metadata['charge_id']:'chg_1' AND metadata['attempt']:'1'"
    assert [i.id for i in client.v1.payment_intents.search(params={"query": query}).data] == [intent.id]
    # When it settles, Then it succeeded
    standin.settle(intent.id)
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert [e["type"] for e in standin.events] == ["payment_intent.processing", "payment_intent.succeeded", "charge.succeeded"]
    # And other currencies and methods without a mandate are refused as Stripe does (400)
    with pytest.raises(stripe.InvalidRequestError) as usd:
        sepa_payment(client, cus, method, key="k2", currency="usd")
    assert (
        usd.value.http_status == 400
        and usd.value.param == "currency"
        and "only supports the following currencies: eur" in str(usd.value)
    )
    with pytest.raises(stripe.InvalidRequestError) as no_mandate:
        sepa_payment(client, cus, bare, key="k3")
    assert no_mandate.value.code == "payment_intent_mandate_invalid"


def test_the_clock_settles_fails_and_reverses_sepa_debits_by_their_behaviour(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given three debits: one that pays, one without funds, one returned after paying
    cus = customer(client)
    intents = {
        behaviour: sepa_payment(client, cus, standin.add_payment_method(cus, "sepa_debit", behaviour), key=behaviour).id
        for behaviour in ("sepa_ok", "sepa_fail", "sepa_late_failure")
    }
    # When three days pass, Then they settled as chosen
    standin.advance(days=3)
    status = {b: client.v1.payment_intents.retrieve(i).status for b, i in intents.items()}
    assert status == {"sepa_ok": "succeeded", "sepa_fail": "requires_payment_method", "sepa_late_failure": "succeeded"}
    failed = client.v1.payment_intents.retrieve(intents["sepa_fail"])
    # And, as Stripe reports a failed SEPA debit, the PaymentIntent's error is generic and the
    # bank's reason is its Charge's failure_code (a `py_…`)
    error = failed.last_payment_error
    assert error is not None and (error.code, error.decline_code) == ("", "generic_decline")
    assert str(failed.latest_charge).startswith("py_")
    assert client.v1.charges.retrieve(str(failed.latest_charge)).failure_code == "insufficient_funds"
    # When two more days pass, Then the late failure is reported as a failed payment and charge
    standin.advance(days=2)
    late = client.v1.payment_intents.retrieve(intents["sepa_late_failure"])
    assert late.status == "requires_payment_method" and client.v1.charges.retrieve(late.latest_charge).status == "failed"
    last = standin.events[-2:]
    assert [e["type"] for e in last] == ["payment_intent.payment_failed", "charge.failed"]
    assert last[0]["data"]["object"]["id"] == late.id and last[0]["created"] == standin.now


def test_refunds_succeed_list_by_payment_and_can_fail_later(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    # Given a paid card payment
    cus = customer(client)
    method = standin.add_payment_method(cus)
    intent = client.v1.payment_intents.create(
        params={
            "amount": 1999,
            "currency": "eur",
            "customer": cus,
            "payment_method": method,
            "off_session": True,
            "confirm": True,
        }
    )
    # When part of it is refunded (twice with one key), Then one refund succeeded
    params: dict = {
        "payment_intent": intent.id,
        "amount": 500,
        "reason": "requested_by_customer",
        "metadata": {"refund_id": "rfd_1"},
    }
    refund = client.v1.refunds.create(params=params, options={"idempotency_key": "refund:rfd_1"})
    again = client.v1.refunds.create(params=params, options={"idempotency_key": "refund:rfd_1"})
    assert refund.status == "succeeded" and again.id == refund.id
    listed = client.v1.refunds.list(params={"payment_intent": intent.id, "limit": 100})
    assert [r.id for r in listed.data] == [refund.id] and listed.data[0].metadata["refund_id"] == "rfd_1"
    # And more than what is left is refused
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1500})
    assert too_much.value.code == "amount_too_large"
    # When the refund fails afterwards, Then it is failed with its reason, and said so
    standin.fail_refund(refund.id, "expired_or_canceled_card")
    failed = client.v1.refunds.retrieve(refund.id)
    assert failed.status == "failed" and failed.failure_reason == "expired_or_canceled_card"
    [event] = standin.events_of("charge.refund.updated")
    assert event["data"]["previous_attributes"] == {"status": "succeeded", "failure_reason": None}


def test_disputes_card_needs_response_then_closes_sepa_is_lost_at_once(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    cus = customer(client)
    card = client.v1.payment_intents.create(
        params={
            "amount": 1999,
            "currency": "eur",
            "customer": cus,
            "payment_method": standin.add_payment_method(cus),
            "confirm": True,
        }
    )
    sepa = sepa_payment(client, cus, standin.add_payment_method(cus, "sepa_debit"))
    standin.settle(sepa.id)
    # When the card payment is disputed, reviewed and won
    dispute_id = standin.open_dispute(card.id, reason="fraudulent")
    opened = client.v1.disputes.retrieve(dispute_id)
    assert opened.status == "needs_response" and opened.charge == card.latest_charge and opened.payment_intent == card.id
    assert opened.amount == 1999 and opened.evidence_details.due_by == standin.now + 7 * DAY
    standin.update_dispute(dispute_id, "under_review")
    standin.update_dispute(dispute_id, "won")
    # And the bank debit is disputed
    lost = client.v1.disputes.retrieve(standin.open_dispute(sepa.id, reason="debit_not_authorized"))
    # Then the card dispute moved created -> updated -> closed; the SEPA one is lost at once
    assert client.v1.disputes.retrieve(dispute_id).status == "won"
    assert lost.status == "lost" and lost.evidence_details.due_by is None
    kinds = [(e["type"], e["data"]["object"]["status"]) for e in standin.events if e["type"].startswith("charge.dispute")]
    assert kinds == [
        ("charge.dispute.created", "needs_response"),
        ("charge.dispute.updated", "under_review"),
        ("charge.dispute.closed", "won"),
        ("charge.dispute.created", "lost"),
        ("charge.dispute.closed", "lost"),
    ]


def test_a_bank_cancelled_mandate_and_a_network_replaced_card_are_reported(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    cus = customer(client)
    sepa = standin.add_payment_method(cus, "sepa_debit")
    card = standin.add_payment_method(cus, "card", last4="4242")
    # When the bank cancels the mandate and the network replaces the card
    mandate = standin.mandate_of(sepa)
    assert mandate is not None
    standin.deactivate_mandate(mandate)
    standin.automatically_update(card, "1881")
    # Then both read back changed, and the events carry what was before
    assert client.v1.mandates.retrieve(mandate).status == "inactive"
    assert client.v1.payment_methods.retrieve(card).card.last4 == "1881"
    updated, replaced = standin.events
    assert updated["type"] == "mandate.updated" and updated["data"]["previous_attributes"] == {"status": "active"}
    assert replaced["type"] == "payment_method.automatically_updated"
    assert replaced["data"]["previous_attributes"]["card"]["last4"] == "4242"
    # And the inactive mandate cannot be charged any more
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sepa_payment(client, cus, sepa)
    assert refused.value.code == "payment_intent_mandate_invalid"


def test_a_payment_methods_customer_is_expanded_so_the_adapter_finds_the_mandate_it_belongs_to(
    standin: StripeStandIn, client: stripe.StripeClient
) -> None:
    # Given a card of a Customer the customer's page created for a mandate (its metadata names both)
    cus = customer(client, metadata={"merchant_id": "mch_a", "mandate_id": "mdt_1"})  # type: ignore[arg-type]
    card = standin.add_payment_method(cus, "card")
    # When it is read with expand[]=customer (as Stripe answers it), Then the customer comes as an object
    method = client.v1.payment_methods.retrieve(card, params={"expand": ["customer"]})
    assert method.customer.id == cus and method.customer.metadata["mandate_id"] == "mdt_1"  # type: ignore[union-attr]
    assert client.v1.payment_methods.retrieve(card).customer == cus  # not expanded unless asked, nor stored expanded
    # And the inbound events' owner lookup finds the merchant and mandate from it
    owner = StripeObjects(StripeGateway(lambda: "sk_test_standin", standin.url)).owner_of(card)
    assert owner is not None and (owner.merchant_id, owner.mandate_id) == ("mch_a", "mdt_1")


def test_events_reach_the_webhook_signed_as_stripe_signs_them(
    standin: StripeStandIn, client: stripe.StripeClient, webhooks: HTTPServer
) -> None:
    # Given a webhook target, and a SEPA debit charged and settled
    cus = customer(client)
    intent = sepa_payment(client, cus, standin.add_payment_method(cus, "sepa_debit"))
    standin.settle(intent.id)
    assert standin.flush()
    # Then every event arrived in order and verifies with the official library
    events = received(webhooks)
    assert [e.type for e in events] == ["payment_intent.processing", "payment_intent.succeeded", "charge.succeeded"]
    first = events[0]
    assert first.id.startswith("evt_") and first.livemode is False and first.api_version.startswith("2026-10-28")
    assert first.data.object.id == intent.id and first.request.idempotency_key == "chg_1:1"
    # And the signature is sign(payload, secret, t), which a wrong secret does not verify
    request = webhooks.log[0][0]
    header = request.headers["Stripe-Signature"]
    timestamp = int(header.split(",")[0][2:])
    assert header == sign(request.get_data(), SECRET, timestamp)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(request.get_data(), header, "whsec_wrong")
    # And a stale signature (older than the library's 5 minutes) is refused too
    standin.deliver(first.id, timestamp=timestamp - 600)
    stale = webhooks.log[-1][0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(stale.get_data(), stale.headers["Stripe-Signature"], SECRET)


def test_events_can_be_sent_again_out_of_order_or_lost(
    standin: StripeStandIn, client: stripe.StripeClient, webhooks: HTTPServer
) -> None:
    # Given delivery paused and succeeded events withheld (lost)
    cus = customer(client)
    standin.pause_delivery()
    standin.withhold("charge.succeeded")
    intent = sepa_payment(client, cus, standin.add_payment_method(cus, "sepa_debit"))
    standin.settle(intent.id)
    # When the pending ones are delivered backwards, and the first one again
    assert standin.deliver_pending(reverse=True) == [200, 200]
    standin.deliver(standin.events[0]["id"])
    # Then the target saw succeeded before processing, processing twice, and never the lost one
    assert [e.type for e in received(webhooks)] == [
        "payment_intent.succeeded",
        "payment_intent.processing",
        "payment_intent.processing",
    ]
    assert standin.withheld_events == [standin.events_of("charge.succeeded")[0]["id"]]
    assert [d.status for d in standin.deliveries] == [200, 200, 200]


# ------------------------------------------------------------------ our adapter against the stand-in
REQUEST = AttemptRequest(
    idempotency_key="chg_abc:1",
    money=Money(1999, "EUR"),
    token="",
    merchant_id="mch_a",
    mandate_id="mdt_1",
    charge_id="chg_abc",
    attempt=1,
)


def test_the_adapter_prepares_a_setup_intent_reads_the_confirmed_card_and_charges_it(standin: StripeStandIn) -> None:
    gateway = StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)
    # Given the customer's page prepared a SetupIntent and the customer confirmed a card
    prepared = gateway.create_setup_intent("mch_a", "mdt_1", "ona@example.lt", "Ona", purpose="")
    assert gateway.confirmed_payment_method(prepared["id"], "mdt_1") is None
    standin.confirm_setup_intent(prepared["id"], type="card", behaviour="ok", last4="4242")
    token = gateway.confirmed_payment_method(prepared["id"], "mdt_1")
    assert token is not None and token.startswith(prepared["customer"] + ":pm_")
    # Then the token is the merchant's and nobody else's
    assert gateway.belongs_to("mch_a", token) and not gateway.belongs_to("mch_b", token)
    # When it is charged, looked up and partly refunded
    attempt = AttemptRequest(**{**REQUEST.__dict__, "token": token})
    charged = gateway.charge(attempt)
    assert charged.outcome == "succeeded" and charged.gateway_reference
    found = gateway.lookup(attempt)
    assert found is not None and found.gateway_reference == charged.gateway_reference
    refund = RefundRequest(
        idempotency_key="refund:rfd_1",
        money=Money(500, "EUR"),
        token=token,
        charge_reference=charged.gateway_reference,
        reason="other",
        merchant_id="mch_a",
        mandate_id="mdt_1",
        charge_id="chg_abc",
        refund_id="rfd_1",
    )
    assert gateway.refund(refund).outcome == "succeeded"
    assert gateway.lookup_refund(refund) is not None


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [("insufficient_funds", "insufficient_funds"), ("stolen_card", "fraudulent"), ("requires_action", "authentication_required")],
)
def test_the_adapter_maps_the_stand_ins_declines(standin: StripeStandIn, behaviour: str, code: str) -> None:
    gateway = StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)
    cus = standin.add_customer(metadata={"merchant_id": "mch_a"})
    token = f"{cus}:{standin.add_payment_method(cus, behaviour=behaviour)}"
    result = gateway.charge(AttemptRequest(**{**REQUEST.__dict__, "token": token}))
    assert result.outcome == "declined" and result.decline_code == code
    if behaviour == "requires_action":  # cancelled before the decline is recorded
        assert standin.get(str(result.gateway_reference))["status"] == "canceled"


def test_an_answer_lost_after_the_payment_is_replayed_by_the_librarys_retry(standin: StripeStandIn) -> None:
    # Given Stripe takes the payment but answers 500 (the library retries once with the same key)
    gateway = StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)
    cus = standin.add_customer(metadata={"merchant_id": "mch_a"})
    token = f"{cus}:{standin.add_payment_method(cus)}"
    standin.fail_next(500, path="/v1/payment_intents", after_processing=True)
    # When charging, Then the retry is answered with the payment made once
    assert gateway.charge(AttemptRequest(**{**REQUEST.__dict__, "token": token})).outcome == "succeeded"
    assert len(standin.events_of("payment_intent.succeeded")) == 1


def test_the_adapter_sees_a_processing_sepa_debit_as_not_settled_yet(standin: StripeStandIn) -> None:
    # (settlement by lookup and events: tests/unit/test_stripe_sepa.py)
    gateway = StripeGateway(lambda: "sk_test_standin", base_url=standin.url, timeout=2)
    cus = standin.add_customer(email="o@example.lt", name="Ona", metadata={"merchant_id": "mch_a"})
    token = f"{cus}:{standin.add_payment_method(cus, 'sepa_debit')}"
    result = gateway.charge(AttemptRequest(**{**REQUEST.__dict__, "token": token, "method_type": "sepa_debit"}))
    assert result.outcome == "processing" and standin.get(str(result.gateway_reference))["status"] == "processing"


def test_the_control_api_drives_the_helpers_for_a_developer(standin: StripeStandIn, client: stripe.StripeClient) -> None:
    import urllib.request

    cus = customer(client)
    seti = client.v1.setup_intents.create(params={"customer": cus, "allowed_payment_method_types": ["sepa_debit"]})

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(standin.url + path, data=json.dumps(body).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    confirmed = post(f"/_standin/setup_intents/{seti.id}/confirm", {"type": "sepa_debit", "last4": "1234"})
    assert confirmed["status"] == "succeeded" and confirmed["mandate"].startswith("mandate_")
    assert post("/_standin/clock/advance", {"seconds": 60})["now"] == standin.now
