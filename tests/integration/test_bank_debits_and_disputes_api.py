"""The merchant API for bank debits and disputes, through the real authorizer and handler on moto."""

from __future__ import annotations

from datetime import datetime, timezone

from billing.adapters.ids import RandomIds
from billing.domain.charge import Attempt, Charge
from billing.service.gateway_events import DisputeFacts, GatewayEvent, GatewayEvents
from tests.support.system import Client, System, make_plan
from tests.support.values import CONSENT

SEPA = {"gateway": "simulated", "token": "pm_sim_sepa_ok"}


def sepa_mandate(call: Client, plan_id: str, **customer: str | None) -> object:
    who = {"reference": "cust-sepa", "email": "ona@example.lt", "name": "Ona Jonaitė"} | customer
    body = {"plan_id": plan_id, "customer": {k: v for k, v in who.items() if v is not None}}
    return call("POST", "/v1/mandates", body | {"payment_method": SEPA, "consent": CONSENT})


def test_a_bank_debit_mandate_shows_its_type_iban_digits_and_mandate_reference(call: Client) -> None:
    # Given a EUR plan
    plan = make_plan(call, currency="EUR")
    # When a mandate is created with a simulated test IBAN
    response = sepa_mandate(call, plan["id"])
    # Then it is active and shows a bank debit with the IBAN's last four and a SEPA mandate reference
    assert response.status == 201, response.body
    mandate = response.json()
    method = mandate["payment_method"]
    assert method["type"] == "sepa_debit" and method["last4"] == "3000" and method["token_last4"] == "a_ok"
    reference = method["mandate_reference"]
    assert reference and len(reference) <= 35 and all(c.isupper() or c.isdigit() or c == "-" for c in reference)
    # And the reference is the same on every read
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]["mandate_reference"] == reference


def test_bank_debits_are_euro_only_and_need_the_holders_name_and_email(call: Client) -> None:
    # Given a USD plan and a EUR plan
    usd, eur = make_plan(call, currency="USD"), make_plan(call, currency="EUR")
    # Then a bank debit in USD is refused naming the payment method
    refused = sepa_mandate(call, usd["id"])
    assert refused.status == 422 and refused.json()["error"]["param"] == "payment_method"
    # And without the holder's name, or without an e-mail address, naming the missing one
    no_name = sepa_mandate(call, eur["id"], name=None)
    assert no_name.status == 422 and no_name.json()["error"]["param"] == "customer.name"
    no_email = sepa_mandate(call, eur["id"], email=None)
    assert no_email.status == 422 and no_email.json()["error"]["param"] == "customer.email"
    # And nothing was created
    assert call("GET", "/v1/mandates").json()["data"] == []


def test_disputes_are_listed_and_read_for_their_merchant_only(system: System, call: Client) -> None:
    # Given a succeeded charge of merchant A, and a dispute the gateway reported on it
    now = datetime.now(timezone.utc)
    repo = system.api_module.deps.repository
    charge = Charge(
        id="chg_disputed0001",
        merchant_id=system.a.id,
        created_at=now,
        updated_at=now,
        mandate_id="mdt_disputed0001",
        plan_id="pln_x",
        cycle=1,
        amount=1999,
        currency="EUR",
        due_at=now,
        status="succeeded",
        attempts=[Attempt(number=1, at=now, outcome="succeeded", gateway_reference="sim_1")],
    )
    from billing.domain.model import Customer, Mandate, PlanTerms
    from billing.service.ports import Changes

    mandate = Mandate(
        id="mdt_disputed0001",
        merchant_id=system.a.id,
        created_at=now,
        updated_at=now,
        plan_id="pln_x",
        terms=PlanTerms(amount=1999, currency="EUR", interval="month"),
        customer=Customer(reference="c"),
        status="active",
    )
    repo.commit(Changes(put=[mandate, charge]))
    facts = DisputeFacts(
        reference="dp_1", charge_id=charge.id, amount=1999, currency="EUR", reason="product_not_received", status="needs_response"
    )
    event = GatewayEvent(
        id="evt_x1", gateway="simulated", event_type="dispute", created=now, merchant_id=system.a.id, dispute=facts
    )
    applied = GatewayEvents(repo, system.clock, RandomIds()).apply(event)
    assert applied.status == "applied" and applied.events == ["dispute.created"]
    # When merchant A lists and reads its disputes
    listed = call("GET", f"/v1/disputes?charge_id={charge.id}").json()["data"]
    assert [d["status"] for d in listed] == ["needs_response"]
    dispute = call("GET", f"/v1/disputes/{listed[0]['id']}").json()
    assert dispute["object"] == "dispute" and dispute["amount"] == 1999 and dispute["reason"] == "product_not_received"
    # And the charge shows the disputed amount, which can no longer be refunded
    shown = call("GET", f"/v1/charges/{charge.id}").json()
    assert shown["amount_disputed"] == 1999 and shown["dispute_id"] == dispute["id"]
    refused = call("POST", f"/v1/charges/{charge.id}/refunds", {"amount": 1})
    assert refused.status == 422 and refused.json()["error"]["param"] == "amount"
    # Then merchant B sees none of it
    other = system.client(system.b)
    assert other("GET", "/v1/disputes").json()["data"] == []
    assert other("GET", f"/v1/disputes/{dispute['id']}").status == 404
    # And a list filtered by status finds it only under its status
    assert call("GET", "/v1/disputes?status=lost").json()["data"] == []
    assert call("GET", "/v1/disputes?status=bogus").status in (400, 422)
