"""The Stripe adapter against a local HTTP server standing in for api.stripe.com (never the internet)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from billing.adapters.stripe import StripeGateway
from billing.api.requests import MandateCreate
from billing.domain.money import Money
from billing.service.charger import OutcomeUnknown
from billing.service.ports import AttemptRequest, GatewayTimeout, GatewayUnavailable, RefundRequest
from tests.world import World

REQUEST = AttemptRequest(
    idempotency_key="chg_abc:1",
    money=Money(1999, "EUR"),
    token="cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i",
    merchant_id="mch_a",
    mandate_id="mdt_1",
    charge_id="chg_abc",
    attempt=1,
)


@pytest.fixture
def stripe(httpserver: HTTPServer) -> StripeGateway:
    return StripeGateway(lambda: "sk_test_secret", base_url=httpserver.url_for(""), timeout=2)


def decline(code: str, decline_code: str | None = None) -> dict:
    error = {
        "type": "card_error",
        "code": code,
        "message": "Your card was declined.",
        "payment_intent": {"id": "pi_declined", "status": "requires_payment_method"},
    }
    if decline_code:
        error["decline_code"] = decline_code
    return {"error": error}


def test_a_charge_is_one_confirmed_off_session_payment_intent_with_the_idempotency_key(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # Given a Stripe stand-in that accepts the PaymentIntent
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(
            json.dumps({"id": "pi_123", "object": "payment_intent", "status": "succeeded"}), content_type="application/json"
        )

    httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_handler(handler)
    # When an attempt is charged
    result = stripe.charge(REQUEST)
    # Then it is one confirmed off-session PaymentIntent, keyed by the attempt, tagged with its ids
    assert result.outcome == "succeeded" and result.gateway_reference == "pi_123"
    [request] = seen
    assert request.headers["Authorization"] == "Bearer sk_test_secret"
    assert request.headers["Idempotency-Key"] == "chg_abc:1"
    form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
    assert form["amount"] == "1999" and form["currency"] == "eur"
    assert form["payment_method"] == "pm_1Q2w3E4r5T6y7U8i" and form["customer"] == "cus_Q1w2E3r4T5"
    assert form["off_session"] == "true" and form["confirm"] == "true"
    assert form["metadata[charge_id]"] == "chg_abc" and form["metadata[attempt]"] == "1"


@pytest.mark.parametrize(
    ("code", "decline_code", "expected", "hard"),
    [
        ("card_declined", "insufficient_funds", "insufficient_funds", False),
        ("card_declined", "generic_decline", "generic_decline", False),
        ("expired_card", None, "expired_card", True),
        ("card_declined", "stolen_card", "fraudulent", True),
        ("card_declined", "revocation_of_authorization", "mandate_revoked", True),
        ("incorrect_number", None, "invalid_account", True),
    ],
)
def test_declines_map_to_the_contract_codes(
    httpserver: HTTPServer, stripe: StripeGateway, code: str, decline_code: str | None, expected: str, hard: bool
) -> None:
    # Given Stripe declines the card with a code
    httpserver.expect_request("/v1/payment_intents").respond_with_json(decline(code, decline_code), status=402)
    # When charging, Then the decline is the contract's code, hard or soft as the contract says
    result = stripe.charge(REQUEST)
    assert result.outcome == "declined" and result.decline_code == expected and result.hard is hard
    assert result.gateway_reference == "pi_declined"


def test_a_5xx_leaves_the_outcome_unknown(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given Stripe answers 500
    httpserver.expect_request("/v1/payment_intents").respond_with_json({"error": {"type": "api_error"}}, status=500)
    # When charging, Then the outcome is unknown (asked again with the same key), never a decline
    with pytest.raises(GatewayTimeout):
        stripe.charge(REQUEST)


@pytest.mark.parametrize("status", [429, 409])
def test_rate_limits_and_key_in_use_mean_try_later(httpserver: HTTPServer, stripe: StripeGateway, status: int) -> None:
    # Given Stripe rate-limits, or the key is in use by a request in flight
    httpserver.expect_request("/v1/payment_intents").respond_with_json(
        {"error": {"type": "invalid_request_error", "code": "rate_limit"}}, status=status
    )
    # When charging, Then it is 'try later', not an outcome
    with pytest.raises(GatewayUnavailable):
        stripe.charge(REQUEST)


def test_a_slow_stripe_is_a_timeout_not_a_decline(httpserver: HTTPServer) -> None:
    # Given Stripe answers after the call's timeout
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/v1/payment_intents").respond_with_handler(slow)
    # When charging, Then it is a timeout (outcome unknown)
    with pytest.raises(GatewayTimeout):
        StripeGateway(lambda: "sk_test_secret", base_url=httpserver.url_for(""), timeout=0.5).charge(REQUEST)


def test_processing_is_an_answer_with_the_payment_intent_to_look_up_later(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given a PaymentIntent Stripe accepted and has not settled (a bank debit takes days)
    httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_json({"id": "pi_9", "status": "processing"})
    # When charging, Then the attempt is processing at that PaymentIntent (no timeout, nothing read again)
    result = stripe.charge(REQUEST)
    assert (result.outcome, result.gateway_reference) == ("processing", "pi_9")
    assert not [r for r, _ in httpserver.log if r.method == "GET"]


def test_requires_action_off_session_is_an_authentication_decline_once_cancelled(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # Given a card that needs the customer (3-D Secure) while they are away
    httpserver.expect_request("/v1/payment_intents").respond_with_json({"id": "pi_5", "status": "requires_action"})
    cancelled = httpserver.expect_request("/v1/payment_intents/pi_5/cancel", method="POST")
    cancelled.respond_with_json({"id": "pi_5", "status": "canceled", "cancellation_reason": "abandoned"})
    # When charging, Then the intent is cancelled and the attempt is an authentication_required
    # decline (soft: retried on the plan's schedule, with a new PaymentIntent)
    result = stripe.charge(REQUEST)
    assert result.outcome == "declined" and result.decline_code == "authentication_required" and not result.hard
    assert result.gateway_reference == "pi_5"


def test_the_charger_asks_stripe_again_with_the_same_key_after_a_timeout(httpserver: HTTPServer) -> None:
    # Given Stripe takes the money but the first answer never arrives
    keys: list[str] = []

    def flaky(request: Request) -> Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) == 1:
            time.sleep(0.5)  # longer than the adapter's timeout (this test server answers one request at a time)
        return Response(json.dumps({"id": "pi_once", "status": "succeeded"}), content_type="application/json")

    httpserver.expect_request("/v1/payment_intents").respond_with_handler(flaky)
    world = World()
    world.charger.resolve_attempts = 5
    world.charger.gateways["stripe"] = StripeGateway(lambda: "sk_test_secret", base_url=httpserver.url_for(""), timeout=0.3)
    plan_id = world.plan()
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "stripe", "token": "pm_1Q2w3E4r5T6y7U8i"},
        "consent": {"accepted_at": "2026-11-25T08:59:00Z"},
    }
    mandate_id = world.api.mandates.create("mch_a", MandateCreate.model_validate(body)).id
    # When the charge is dispatched and delivered
    world.tick()
    # Then it is recorded once, after asking again with the same key
    [charge] = world.charges(mandate_id)
    assert charge.status == "succeeded" and charge.attempts[0].gateway_reference == "pi_once"
    assert len(keys) == 2 and len(set(keys)) == 1 and keys[0] == f"{charge.id}:1"


# ---------------------------------------------------------------- issue 9: money safety
@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "amount_too_small"), (400, "resource_missing"), (400, "payment_method_unexpected_state"), (404, "resource_missing")],
)
def test_a_request_stripe_can_never_accept_is_a_hard_gateway_rejection(
    httpserver: HTTPServer, stripe: StripeGateway, status: int, code: str
) -> None:
    # Given Stripe refuses the request itself (not the card): it used to be "try later", for ever
    error = {"error": {"type": "invalid_request_error", "code": code, "message": "No.", "param": "amount"}}
    httpserver.expect_request("/v1/payment_intents").respond_with_json(error, status=status)
    # When charging, Then the answer is a hard failure that fails the charge at once
    result = stripe.charge(REQUEST)
    assert result.outcome == "error" and result.decline_code == "gateway_rejected" and result.hard


@pytest.mark.parametrize("status", [401, 403])
def test_our_own_key_refused_is_not_the_customers_fault(httpserver: HTTPServer, stripe: StripeGateway, status: int) -> None:
    # Given Stripe refuses our secret key
    httpserver.expect_request("/v1/payment_intents").respond_with_json(
        {"error": {"type": "invalid_request_error"}}, status=status
    )
    # When charging, Then it is 'try later' (an operator's problem, alarmed), never the customer's decline
    with pytest.raises(GatewayUnavailable, match="secret key"):
        stripe.charge(REQUEST)


@pytest.mark.parametrize(
    ("currency", "amount", "sent"),
    [("ISK", 1500, "150000"), ("JPY", 1500, "1500"), ("EUR", 1999, "1999"), ("HUF", 150000, "150000")],
)
def test_amounts_reach_stripe_in_stripes_units(
    httpserver: HTTPServer, stripe: StripeGateway, currency: str, amount: int, sent: str
) -> None:
    # ISK is zero-decimal in ISO 4217 but Stripe counts it in hundredths (it used to get 100x too little)
    # Given a Stripe stand-in recording what it receives
    forms: list[dict] = []

    def handler(request: Request) -> Response:
        forms.append({k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()})
        return Response(json.dumps({"id": "pi_1", "status": "succeeded"}), content_type="application/json")

    httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_handler(handler)
    # When an amount is charged in each currency, Then Stripe gets it in its own units
    request = AttemptRequest(**{**REQUEST.__dict__, "money": Money(amount, currency)})
    assert stripe.charge(request).outcome == "succeeded"
    assert forms[0]["amount"] == sent and forms[0]["currency"] == currency.lower()


def test_an_attempt_is_looked_up_by_its_metadata_never_by_sending_it_again(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given Stripe holds a PaymentIntent of ours for the attempt
    queries: list[str] = []

    def search(request: Request) -> Response:
        queries.append(request.args["query"])
        intent = {
            "id": "pi_found",
            "status": "succeeded",
            "metadata": {"merchant_id": "mch_a", "charge_id": "chg_abc", "attempt": "1"},
        }
        return Response(json.dumps({"object": "search_result", "data": [intent]}), content_type="application/json")

    httpserver.expect_request("/v1/payment_intents/search", method="GET").respond_with_handler(search)
    # When the attempt is looked up
    result = stripe.lookup(REQUEST)
    # Then it is found by its metadata (a search, never a new charge), and Stripe's key memory is 24 h
    assert result is not None and result.outcome == "succeeded" and result.gateway_reference == "pi_found"
    assert queries == ["metadata['charge_id']:'chg_abc' AND metadata['attempt']:'1'"]
    assert stripe.key_memory is not None and stripe.key_memory.total_seconds() == 24 * 3600


def test_a_lookup_that_finds_nothing_says_so_and_a_failing_search_cannot_tell(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # When the search finds nothing, Then the lookup says so
    httpserver.expect_oneshot_request("/v1/payment_intents/search").respond_with_json({"object": "search_result", "data": []})
    assert stripe.lookup(REQUEST) is None
    httpserver.expect_oneshot_request("/v1/payment_intents/search").respond_with_json(
        {"error": {"type": "api_error"}}, status=500
    )
    # When the search itself fails, Then the lookup cannot tell (try later)
    with pytest.raises(GatewayUnavailable):
        stripe.lookup(REQUEST)


def test_past_the_key_memory_the_charger_only_searches_stripe_and_records_what_it_finds(httpserver: HTTPServer) -> None:
    # Given Stripe took the money but the answer never arrived, and Stripe stays down for two days
    posts: list[str] = []

    def down(request: Request) -> Response:
        posts.append(request.headers["Idempotency-Key"])
        return Response(json.dumps({"error": {"type": "api_error"}}), status=500, content_type="application/json")

    httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_handler(down)
    world = World()
    world.charger.gateways["stripe"] = StripeGateway(lambda: "sk_test_secret", base_url=httpserver.url_for(""), timeout=2)
    body = {
        "plan_id": world.plan(),
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "stripe", "token": "pm_1Q2w3E4r5T6y7U8i"},
        "consent": {"accepted_at": "2026-11-25T08:59:00Z"},
    }
    mandate_id = world.api.mandates.create("mch_a", MandateCreate.model_validate(body)).id
    world.dispatch()
    [message] = world.queue.take()
    with pytest.raises(OutcomeUnknown):
        world.deliver(message)
    sent = len(posts)
    # When the message comes back after Stripe forgot the key, and its search shows the payment
    world.clock.advance(days=2)
    [charge] = world.charges(mandate_id)
    found = {
        "id": "pi_taken",
        "status": "succeeded",
        "metadata": {"merchant_id": "mch_a", "charge_id": charge.id, "attempt": "1"},
    }
    httpserver.expect_request("/v1/payment_intents/search", method="GET").respond_with_json(
        {"object": "search_result", "data": [found]}
    )
    world.deliver(message)
    # Then nothing was POSTed again, and the payment Stripe holds is recorded
    [charge] = world.charges(mandate_id)
    assert len(posts) == sent and charge.status == "succeeded" and charge.attempts[0].gateway_reference == "pi_taken"


def test_a_lookup_ignores_a_payment_intent_of_another_merchant(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given Stripe's search returns an intent with the same charge metadata but another merchant's id
    other = {
        "id": "pi_other",
        "status": "succeeded",
        "metadata": {"merchant_id": "mch_other", "charge_id": "chg_abc", "attempt": "1"},
    }
    httpserver.expect_request("/v1/payment_intents/search").respond_with_json({"object": "search_result", "data": [other]})
    # When this merchant's attempt is looked up, Then it is not taken for ours
    assert stripe.lookup(REQUEST) is None


def customer_and_method(httpserver: HTTPServer, merchant: str, owner: str = "cus_Q1w2E3r4T5") -> None:
    httpserver.expect_request("/v1/customers/cus_Q1w2E3r4T5").respond_with_json(
        {"id": "cus_Q1w2E3r4T5", "object": "customer", "metadata": {"merchant_id": merchant}}
    )
    httpserver.expect_request("/v1/payment_methods/pm_1Q2w3E4r5T6y7U8i").respond_with_json(
        {"id": "pm_1Q2w3E4r5T6y7U8i", "object": "payment_method", "customer": owner}
    )


def test_a_token_belongs_to_the_merchant_whose_stripe_customer_holds_it(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given a Stripe Customer created for merchant A, holding the payment method
    customer_and_method(httpserver, "mch_a")
    # When the token is checked, Then it is A's and nobody else's
    assert stripe.belongs_to("mch_a", "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i")
    assert not stripe.belongs_to("mch_b", "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i")


def test_a_method_attached_to_another_customer_or_without_one_is_not_the_merchants(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # Given merchant A's Customer, but the payment method attached to someone else's
    customer_and_method(httpserver, "mch_a", owner="cus_Other12345")
    # Then the pair is refused, and so is a bare payment method (no Customer to tie it to a merchant)
    assert not stripe.belongs_to("mch_a", "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i")
    assert not stripe.belongs_to("mch_a", "pm_1Q2w3E4r5T6y7U8i")


def test_an_unknown_customer_is_not_the_merchants_and_an_outage_is_not_an_answer(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # When Stripe does not know the Customer, Then the token is not the merchant's
    httpserver.expect_oneshot_request("/v1/customers/cus_Q1w2E3r4T5").respond_with_json({"error": {}}, status=404)
    assert not stripe.belongs_to("mch_a", "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i")
    # When Stripe fails, Then it is an outage (try later), never "not yours"
    httpserver.expect_oneshot_request("/v1/customers/cus_Q1w2E3r4T5").respond_with_json({"error": {}}, status=503)
    with pytest.raises(GatewayUnavailable):
        stripe.belongs_to("mch_a", "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i")


# ---------------------------------------------------------------------------- refunds
REFUND = RefundRequest(
    idempotency_key="refund:rfd_1",
    money=Money(500, "EUR"),
    token="cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i",
    charge_reference="pi_123",
    reason="other",
    merchant_id="mch_a",
    mandate_id="mdt_1",
    charge_id="chg_abc",
    refund_id="rfd_1",
)


def test_a_refund_is_one_stripe_refund_of_the_payment_intent_keyed_by_the_refund(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # Given a Stripe stand-in that refunds
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(json.dumps({"id": "re_1", "object": "refund", "status": "succeeded"}), content_type="application/json")

    httpserver.expect_request("/v1/refunds", method="POST").respond_with_handler(handler)
    # When the refund is sent twice (a redelivery)
    first, second = stripe.refund(REFUND), stripe.refund(REFUND)
    # Then both carry the refund's key, the payment, the amount and who it is for; "other" is not Stripe's
    assert first == second and first.outcome == "succeeded" and first.gateway_reference == "re_1"
    assert {r.headers["Idempotency-Key"] for r in seen} == {"refund:rfd_1"}
    form = parse_qs(seen[0].get_data(as_text=True))
    assert form["payment_intent"] == ["pi_123"] and form["amount"] == ["500"] and form["metadata[refund_id]"] == ["rfd_1"]
    assert "reason" not in form


def test_a_failed_refund_is_declined_and_a_pending_one_is_processing(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given Stripe first fails a refund, then leaves one pending (a SEPA refund takes days)
    failed = {"id": "re_2", "object": "refund", "status": "failed", "failure_reason": "expired_or_canceled_card"}
    httpserver.expect_oneshot_request("/v1/refunds", method="POST").respond_with_json(failed)
    httpserver.expect_oneshot_request("/v1/refunds", method="POST").respond_with_json({"id": "re_3", "status": "pending"})
    # Then the failure carries Stripe's reason, and pending is processing at that refund (looked up later)
    assert stripe.refund(REFUND).decline_code == "expired_or_canceled_card"
    pending = stripe.refund(REFUND)
    assert (pending.outcome, pending.gateway_reference) == ("processing", "re_3")


def test_a_refund_stripe_refuses_outright_is_rejected(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given Stripe answers that the charge was already refunded (a 400)
    error = {"error": {"type": "invalid_request_error", "code": "charge_already_refunded"}}
    httpserver.expect_request("/v1/refunds", method="POST").respond_with_json(error, status=400)
    # Then the refund fails for good, with no retry
    assert stripe.refund(REFUND).decline_code == "gateway_rejected"


def test_a_refund_is_looked_up_among_its_payments_refunds_by_its_metadata(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given the payment has refunds, one of them ours and one of another merchant with the same refund id
    ours = {"id": "re_1", "status": "succeeded", "metadata": {"refund_id": "rfd_1", "merchant_id": "mch_a"}}
    theirs = {"id": "re_9", "status": "succeeded", "metadata": {"refund_id": "rfd_1", "merchant_id": "mch_b"}}
    other = {"id": "re_8", "status": "succeeded", "metadata": {"refund_id": "rfd_2", "merchant_id": "mch_a"}}
    listing = {"object": "list", "data": [theirs, other, ours], "has_more": False}
    httpserver.expect_request("/v1/refunds", method="GET", query_string="payment_intent=pi_123&limit=100").respond_with_json(
        listing
    )
    # Then only ours is found, without sending anything
    found = stripe.lookup_refund(REFUND)
    assert found is not None and found.gateway_reference == "re_1"
    assert stripe.lookup_refund(RefundRequest(**{**REFUND.__dict__, "refund_id": "rfd_3"})) is None
    assert all(r.method == "GET" for r, _ in httpserver.log)


# ---------------------------------------------------------------- a payment the customer could still complete
class StripePaymentIntents:
    """A stateful stand-in for Stripe's PaymentIntents: created (a repeated idempotency key answers
    the first result), read, cancelled while not final. Every confirmation needs the customer
    (3-D Secure while they are away). Records how many of the same charge's intents were
    still open (completable by the customer) whenever a new one was created."""

    OPEN = frozenset({"requires_action", "requires_confirmation", "requires_payment_method", "processing"})

    def __init__(self, httpserver: HTTPServer) -> None:
        self.intents: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.open_when_created: list[int] = []
        self.before_cancel: Callable[[dict], None] = lambda intent: None  # what the customer does meanwhile
        httpserver.expect_request(re.compile(r"^/v1/payment_intents.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # v1, payment_intents[, id[, cancel]]
        if request.method == "POST" and len(parts) == 2:
            return self._create(request)
        intent = self.intents.get(parts[2]) if len(parts) > 2 else None
        if intent is None:
            return self._error(404, "resource_missing")
        if request.method == "POST" and parts[3:] == ["cancel"]:
            self.before_cancel(intent)
            if intent["status"] in ("succeeded", "canceled"):
                return self._error(400, "payment_intent_unexpected_state")
            intent["status"] = "canceled"
            intent["cancellation_reason"] = parse_qs(request.get_data(as_text=True)).get("cancellation_reason", [None])[0]
        return self._json(intent)

    def _create(self, request: Request) -> Response:
        key = request.headers["Idempotency-Key"]
        if key in self.by_key:
            return self._json(self.intents[self.by_key[key]])
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
        self.open_when_created.append(len(self.open_intents(metadata["charge_id"])))
        intent_id = f"pi_{len(self.intents) + 1}"
        self.intents[intent_id] = {"id": intent_id, "object": "payment_intent", "status": "requires_action", "metadata": metadata}
        self.by_key[key] = intent_id
        return self._json(self.intents[intent_id])

    def open_intents(self, charge_id: str) -> list[dict]:
        return [i for i in self.intents.values() if i["metadata"]["charge_id"] == charge_id and i["status"] in self.OPEN]

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, status: int, code: str) -> Response:
        return self._json({"error": {"type": "invalid_request_error", "code": code, "message": code}}, status)


def test_a_payment_needing_the_customer_is_cancelled_before_a_retry_makes_another(httpserver: HTTPServer) -> None:
    # Given a card whose bank wants the customer (3-D Secure) at every off-session attempt, on a
    # plan that retries after 1 and 3 days
    stripe_api = StripePaymentIntents(httpserver)
    world = World()
    world.charger.gateways["stripe"] = StripeGateway(lambda: "sk_test_secret", base_url=httpserver.url_for(""), timeout=2)
    body = {
        "plan_id": world.plan(retry_schedule_days=[1, 3]),
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "stripe", "token": "cus_Q1w2E3r4T5:pm_1Q2w3E4r5T6y7U8i"},
        "consent": {"accepted_at": "2026-11-25T08:59:00Z"},
    }
    mandate_id = world.api.mandates.create("mch_a", MandateCreate.model_validate(body)).id
    # When the charge is attempted, then retried twice
    world.tick()
    for days in (1, 3):
        world.clock.advance(days=days, minutes=1)
        world.tick()
    # Then each attempt is its own PaymentIntent, an authentication decline, and no new one was
    # ever created while an earlier one could still be completed by the customer
    [charge] = world.charges(mandate_id)
    assert [(a.outcome, a.decline_code) for a in charge.attempts] == [("declined", "authentication_required")] * 3
    assert [a.gateway_reference for a in charge.attempts] == ["pi_1", "pi_2", "pi_3"]
    assert stripe_api.open_when_created == [0, 0, 0]
    # And none is left open once the charge has failed
    assert charge.status == "failed" and stripe_api.open_intents(charge.id) == []
    assert {i["cancellation_reason"] for i in stripe_api.intents.values()} == {"abandoned"}


def test_a_payment_the_customer_completed_before_the_cancel_is_recorded_as_succeeded(
    httpserver: HTTPServer, stripe: StripeGateway
) -> None:
    # Given Stripe answers requires_action, and the customer completes it before the cancel arrives
    stripe_api = StripePaymentIntents(httpserver)
    stripe_api.before_cancel = lambda intent: intent.update(status="succeeded")
    # When charging, Then the payment is recorded as it ended: succeeded, not declined
    result = stripe.charge(REQUEST)
    assert result.outcome == "succeeded" and result.gateway_reference == "pi_1"


def test_a_cancel_that_gets_no_answer_leaves_the_outcome_unknown(httpserver: HTTPServer, stripe: StripeGateway) -> None:
    # Given a PaymentIntent needing the customer, and Stripe failing the cancel (500)
    httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_json({"id": "pi_7", "status": "requires_action"})
    httpserver.expect_request("/v1/payment_intents/pi_7/cancel").respond_with_json({"error": {"type": "api_error"}}, status=500)
    # When charging, Then it is not recorded as a decline while the customer could still complete it:
    # the attempt is asked again with the same key (and cancelled then)
    with pytest.raises(GatewayTimeout):
        stripe.charge(REQUEST)
