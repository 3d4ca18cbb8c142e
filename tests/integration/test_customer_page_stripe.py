"""The customer's page with Stripe: a SetupIntent per mandate, the card collected by Stripe.js in
the browser (never by this service), and approval only once Stripe says the SetupIntent
succeeded for this mandate. A local HTTP server stands in for api.stripe.com."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import parse_qs

import boto3
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from billing.domain.model import Mandate
from devtools.lambda_runtime import invoke, load_function
from tests.support.system import Client, System, approval_form, page, path_of, pending, post


@pytest.fixture
def stripe_page(system: System, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> dict:
    boto3.client("secretsmanager").create_secret(Name="rp/stripe", SecretString="sk_test_local")
    monkeypatch.setenv("STRIPE_SECRET_NAME", "rp/stripe")
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_123")
    monkeypatch.setenv("STRIPE_API_BASE", httpserver.url_for("").rstrip("/"))
    from billing import bootstrap

    overrides = bootstrap.Overrides(clock=system.clock)  # the system's test clock, as the other functions
    module = load_function("customer_page", overrides)
    system.gateway._routes[1] = ("/customer/", lambda event: invoke(module, event, "CustomerPageFunction"), False)
    state: dict = {"requests": [], "mandate_id": None, "status": "succeeded", "payment_method": "pm_1Q2w3E4r5T6y7U8i"}

    def customers(request: Request) -> Response:
        state["requests"].append(("customer", request.headers.get("Idempotency-Key"), request.headers.get("Authorization")))
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        state["customer_merchant"] = form.get("metadata[merchant_id]")
        return Response(json.dumps({"id": "cus_Test12345678"}), content_type="application/json")

    def customer(request: Request) -> Response:  # read back to check a payment method belongs to the merchant
        state["owner_checks"] = state.get("owner_checks", 0) + 1
        if state.get("down"):
            return Response(json.dumps({"error": {"type": "api_error"}}), status=500, content_type="application/json")
        body = {"id": "cus_Test12345678", "object": "customer", "metadata": {"merchant_id": state.get("customer_merchant")}}
        return Response(json.dumps(body), content_type="application/json")

    def payment_method(request: Request) -> Response:
        method_id = request.path.rsplit("/", 1)[-1]
        body = {"id": method_id, "object": "payment_method", "customer": "cus_Test12345678"}
        return Response(json.dumps(body), content_type="application/json")

    def record_use(request: Request) -> Response:  # the mandates using the method, in its metadata
        if state.get("down"):
            return Response(json.dumps({"error": {"type": "api_error"}}), status=500, content_type="application/json")
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        state.setdefault("method_metadata", {}).update({k: v for k, v in form.items() if k.startswith("metadata[")})
        method_id = request.path.rsplit("/", 1)[-1]
        body = {"id": method_id, "object": "payment_method", "customer": "cus_Test12345678"}
        return Response(json.dumps(body), content_type="application/json")

    def setup_intents(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        state["mandate_id"] = form["metadata[mandate_id]"]
        state["requests"].append(("setup", request.headers.get("Idempotency-Key"), form))
        return Response(json.dumps({"id": "seti_123", "client_secret": "seti_123_secret_abc"}), content_type="application/json")

    def setup_intent(request: Request) -> Response:
        if state.get("down"):
            return Response(json.dumps({"error": {"type": "api_error"}}), status=500, content_type="application/json")
        body = {
            "id": "seti_123",
            "status": state["status"],
            "customer": "cus_Test12345678",
            "payment_method": state["payment_method"],
            "metadata": {"mandate_id": state["mandate_id"]},
        }
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/v1/customers", method="POST").respond_with_handler(customers)
    httpserver.expect_request("/v1/customers/cus_Test12345678", method="GET").respond_with_handler(customer)
    httpserver.expect_request(re.compile(r"^/v1/payment_methods/pm_\w+$"), method="GET").respond_with_handler(payment_method)
    httpserver.expect_request(re.compile(r"^/v1/payment_methods/pm_\w+$"), method="POST").respond_with_handler(record_use)
    httpserver.expect_request("/v1/setup_intents", method="POST").respond_with_handler(setup_intents)
    httpserver.expect_request("/v1/setup_intents/seti_123", method="GET").respond_with_handler(setup_intent)
    return state


def test_the_card_step_is_stripe_js_with_a_setup_intent(system: System, call: Client, stripe_page: dict) -> None:
    # Given a deployment with Stripe, and a mandate awaiting approval
    mandate = pending(call)
    # When the customer opens the link
    response = page(system, path_of(mandate))
    # Then the card step is Stripe.js on a SetupIntent for this mandate (no card field of ours), allowed by the CSP
    body, csp = response.body, response.headers["Content-Security-Policy"]
    assert (
        'src="https://js.stripe.com/v3/"' in body
        and 'data-pk="pk_test_123"' in body
        and 'data-secret="seti_123_secret_abc"' in body
    )
    assert "payment_token" not in body and "card-number" not in body  # no card field of ours
    assert "script-src 'nonce-" in csp and "https://js.stripe.com" in csp and "connect-src https://api.stripe.com" in csp
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert body.count(f'<script nonce="{nonce}"') == 2
    kind, key, form = stripe_page["requests"][1]
    assert key == f"setup:{mandate['id']}" and form["usage"] == "off_session" and form["customer"] == "cus_Test12345678"
    assert stripe_page["requests"][0][2] == "Bearer sk_test_local"


def test_approval_takes_the_payment_method_from_stripe_not_from_the_form(system: System, call: Client, stripe_page: dict) -> None:
    # Given the Stripe approval form of a mandate
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    fields = approval_form(body, setup_intent="seti_123")
    # When it is posted before Stripe confirmed the card, Then it is refused
    stripe_page["status"] = "requires_payment_method"  # not confirmed in the browser
    assert post(system, path + "/approve", fields).status == 400
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"
    # When Stripe confirmed it, Then the mandate is active with the card Stripe holds (read from Stripe, not the form)
    stripe_page["status"] = "succeeded"
    assert post(system, path + "/approve", fields).status == 303
    active = call("GET", f"/v1/mandates/{mandate['id']}").json()
    assert (
        active["status"] == "active"
        and active["payment_method"].items() >= {"gateway": "stripe", "token_last4": "7U8i", "type": "card"}.items()
    )
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    assert stored.payment_method.token == "cus_Test12345678:pm_1Q2w3E4r5T6y7U8i"
    # And the card at Stripe names the mandate using it (what resolves the network's card updates)
    assert stripe_page["method_metadata"]["metadata[mandate_id]"] == mandate["id"]
    assert stripe_page["method_metadata"][f"metadata[mandate:{mandate['id']}]"]


def test_a_setup_intent_of_another_mandate_is_refused(system: System, call: Client, stripe_page: dict) -> None:
    # Given two mandates, and the SetupIntent of the first
    first, second = pending(call), pending(call)
    page(system, path_of(first))  # Stripe's SetupIntent now belongs to the first mandate
    body = page(system, path_of(second)).body
    stripe_page["mandate_id"] = first["id"]
    # When the second's form is posted with the first's SetupIntent, Then it is refused
    fields = approval_form(body, setup_intent="seti_123")
    assert post(system, path_of(second) + "/approve", fields).status == 400
    assert call("GET", f"/v1/mandates/{second['id']}").json()["status"] == "pending_approval"


def test_the_customer_replaces_the_card_with_a_fresh_setup_intent_confirmed_by_stripe(
    system: System, call: Client, stripe_page: dict
) -> None:
    # Given a mandate approved with a Stripe card
    mandate = pending(call)
    path = path_of(mandate)
    assert post(system, path + "/approve", approval_form(page(system, path).body, setup_intent="seti_123")).status == 303
    # When the customer opens the page again
    body = page(system, path).body
    # Then a fresh SetupIntent is made for a new card, keyed by the mandate's state (not approval's)
    version = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"]).version
    kind, key, form = stripe_page["requests"][-1]
    assert kind == "setup" and key == f"setup:{mandate['id']}:update-{version}" and form["usage"] == "off_session"
    update = body.split('id="payment-method"')[1]
    assert 'data-secret="seti_123_secret_abc"' in body and "payment_token" not in update
    csrf = re.search(r'name="csrf" value="([^"]+)"', update).group(1)
    # When the form is posted before Stripe confirmed the new card, it is refused and nothing changes
    stripe_page["status"], stripe_page["payment_method"] = "requires_payment_method", "pm_9Z8y7X6w5V4u3T2s"
    assert post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"}).status == 400
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]["token_last4"] == "7U8i"
    # When Stripe confirmed it, the mandate takes the card Stripe holds, and the event says the customer did it
    stripe_page["status"] = "succeeded"
    assert post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"}).status == 303
    method = call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]
    assert method.items() >= {"gateway": "stripe", "token_last4": "3T2s"}.items()
    # (read from the SetupIntent made for this mandate: no second look-up of whose card it is)
    assert stripe_page.get("owner_checks", 0) == 0
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    assert stored.payment_method.token == "cus_Test12345678:pm_9Z8y7X6w5V4u3T2s"
    [event] = call("GET", "/v1/events?type=mandate.payment_method_updated").json()["data"]
    assert event["data"]["source"] == "customer"


def test_a_stripe_outage_is_a_503_to_try_again_and_changes_nothing(system: System, call: Client, stripe_page: dict) -> None:
    # Given an approved Stripe mandate, and the merchant API running with Stripe too
    mandate = pending(call)
    path = path_of(mandate)
    assert post(system, path + "/approve", approval_form(page(system, path).body, setup_intent="seti_123")).status == 303
    api = load_function("api")
    system.gateway._routes[0] = ("/v1/", lambda event: invoke(api, event, "ApiFunction"), True)
    update = page(system, path).body.split('id="payment-method"')[1]
    csrf = re.search(r'name="csrf" value="([^"]+)"', update).group(1)
    stripe_page["payment_method"] = "pm_9Z8y7X6w5V4u3T2s"
    # When Stripe fails while the new card is read back (the page) or its owner checked (the merchant's API)
    stripe_page["down"] = True
    answer = post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"})
    merchant = call(
        "POST",
        f"/v1/mandates/{mandate['id']}/payment_method",
        {"gateway": "stripe", "token": "cus_Test12345678:pm_9Z8y7X6w5V4u3T2s"},
    )
    # Then the customer is asked to try again later, the merchant gets 503 gateway_unavailable, and nothing changed
    assert answer.status == 503 and answer.headers["Retry-After"] == "30" and "try again" in answer.body
    assert merchant.status == 503 and merchant.json()["error"]["type"] == "gateway_unavailable"
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]["token_last4"] == "7U8i"
    # And once Stripe answers again, the same request works
    stripe_page["down"] = False
    assert post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"}).status == 303


def test_repeated_views_of_one_mandate_state_reuse_one_setup_intent(system: System, call: Client, stripe_page: dict) -> None:
    # Given a mandate approved with a Stripe card
    mandate = pending(call)
    path = path_of(mandate)
    assert post(system, path + "/approve", approval_form(page(system, path).body, setup_intent="seti_123")).status == 303
    # When the customer opens the page again and again
    for _ in range(5):
        assert page(system, path).status == 200
    # Then every view asks Stripe with the same idempotency key (Stripe answers its first SetupIntent
    # again for a key it has seen): one SetupIntent per state of the mandate, not one per view
    keys = {key for kind, key, _ in stripe_page["requests"] if kind == "setup"} - {f"setup:{mandate['id']}"}
    version = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"]).version
    assert keys == {f"setup:{mandate['id']}:update-{version}"}


def test_card_replacements_by_the_customer_are_limited_per_day(system: System, call: Client, stripe_page: dict) -> None:
    # Given a mandate of a Lithuanian customer approved with a Stripe card
    plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"}).json()
    body = {"plan_id": plan["id"], "customer": {"reference": "c-1", "locale": "lt"}}
    mandate = call("POST", "/v1/mandates", body).json()
    path = path_of(mandate)
    assert post(system, path + "/approve", approval_form(page(system, path).body, setup_intent="seti_123")).status == 303

    def replace(card: str):
        update = page(system, path).body.split('id="payment-method"')[1]
        csrf = re.search(r'name="csrf" value="([^"]+)"', update).group(1)
        stripe_page["payment_method"] = card
        return post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"}), csrf

    # When the customer replaces the card five times in a day, Then each replacement works
    for n in range(5):
        answer, csrf = replace(f"pm_{n}Z8y7X6w5V4u3T2s")
        assert answer.status == 303, answer.body
    # When they try a sixth time that day
    setups = len([r for r in stripe_page["requests"] if r[0] == "setup"])
    shown = page(system, path).body
    sixth = post(system, path + "/payment_method", {"csrf": csrf, "setup_intent": "seti_123"})
    # Then the page offers no new card (no SetupIntent made for it), and a form posted anyway is a
    # 429 in the customer's language, and the card is the fifth one
    assert 'data-secret="' not in shown and len([r for r in stripe_page["requests"] if r[0] == "setup"]) == setups
    assert "Mokėjimo būdą šiandien" in shown
    assert sixth.status == 429 and "Mokėjimo būdą šiandien" in sixth.body and int(sixth.headers["Retry-After"]) > 0
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    assert stored.payment_method.token.endswith("pm_4Z8y7X6w5V4u3T2s")
    assert len(call("GET", "/v1/events?type=mandate.payment_method_updated&limit=100").json()["data"]) == 5
    # When a day has passed since the first one, Then one more replacement is allowed
    system.clock.current = system.clock.now() + timedelta(days=1, seconds=1)
    assert replace("pm_5Z8y7X6w5V4u3T2s")[0].status == 303
