"""The customer replaces the payment method from their page (test cards here), on moto through
the API Gateway stand-in: a past_due mandate recovers and its failed charge is collected at the
next dispatch; the event says the customer did it; forms need the page's CSRF token; an ended
mandate offers nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

from tests.support.system import HOST, Client, EngineHarness, System
from tests.support.values import CONSENT, GOLD


def page_path(system: System, engine: EngineHarness, mandate_id: str) -> str:
    links = system.api_module.deps.approval_links(f"https://{HOST}")
    return f"/customer/mandates/{links.token(system.a.id, mandate_id, engine.clock.now() + timedelta(days=30))}"


def post(system: System, path: str, fields: dict):
    headers = {"Host": HOST, "Content-Type": "application/x-www-form-urlencoded", "Origin": f"https://{HOST}"}
    return system.gateway.request("POST", path, headers, urlencode(fields), source_ip="198.51.100.7")


def test_a_past_due_customer_puts_in_a_new_card_and_the_charge_is_collected(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a mandate whose card expired: its first charge failed and it is past_due
    plan = call("POST", "/v1/plans", {**GOLD, "retry_schedule_days": []}).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c", "email": "jonas@example.lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_expired_card"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    engine.tick()
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "past_due"
    # When the customer opens their page, it says so and offers a new payment method
    path = page_path(system, engine, mandate["id"])
    html = system.gateway.request("GET", path, {"Host": HOST}).body
    assert "did not go through" in html and 'action="' in html and "/payment_method?lang=en" in html
    csrf = re.search(r'name="csrf" value="([^"]+)"', html.split('id="payment-method"')[1]).group(1)
    # A form without the page's token is refused, and changes nothing
    assert post(system, path + "/payment_method", {"csrf": "forged", "payment_token": "pm_sim_ok"}).status == 403
    # When they choose a working card
    answer = post(system, path + "/payment_method", {"csrf": csrf, "payment_token": "pm_sim_ok"})
    assert answer.status == 303 and answer.headers["Location"].endswith("done=method_updated")
    # Then the mandate is active again, the event says the customer did it, and the next dispatch collects the charge
    active = call("GET", f"/v1/mandates/{mandate['id']}").json()
    assert active["status"] == "active" and active["payment_method"]["token_last4"] == "m_ok"
    [event] = call("GET", "/v1/events?type=mandate.payment_method_updated").json()["data"]
    assert (
        event["data"]["source"] == "customer" and event["data"]["previous_attributes"]["payment_method"]["token_last4"] == "card"
    )
    engine.tick()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    assert charge["status"] == "succeeded" and len(charge["attempts"]) == 2
    assert (
        "Thank you: your payment method is updated."
        in system.gateway.request("GET", path + "?done=method_updated", {"Host": HOST}).body
    )


def test_an_ended_mandate_offers_no_new_payment_method(system: System, call: Client, engine: EngineHarness) -> None:
    plan = call("POST", "/v1/plans", GOLD).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    path = page_path(system, engine, mandate["id"])
    html = system.gateway.request("GET", path, {"Host": HOST}).body
    csrf = re.search(r'name="csrf" value="([^"]+)"', html.split('id="payment-method"')[1]).group(1)
    call("POST", f"/v1/mandates/{mandate['id']}/cancel")
    assert 'id="payment-method"' not in system.gateway.request("GET", path, {"Host": HOST}).body
    assert post(system, path + "/payment_method", {"csrf": csrf, "payment_token": "pm_sim_ok"}).status == 409
    assert post(system, path + "/payment_method", {"csrf": csrf, "payment_token": "4242424242424242"}).status == 400
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]["token_last4"] == "m_ok"
