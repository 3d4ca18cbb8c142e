"""/v1/tax_rates and tax on charges through the real authorizer and handler, on moto."""

from __future__ import annotations

from typing import Any

import pytest

from billing.api.requests import AccountUpdate
from billing.domain.account import Account
from tests.support.system import Client, EngineHarness, System, make_mandate, make_plan

PVM = {"display_name": "PVM", "percentage": "21", "country": "LT"}
SELLER_VAT_ID = {"vat_id": "LT100001919017"}


def test_a_merchant_charging_vat_keeps_a_vat_id(system: System, call: Client) -> None:
    """EN 16931 BR-S-02 / BR-Z-02: an invoice with VAT names the seller's VAT id."""
    # Given an account without a VAT id, When it creates a rate, Then 422 naming vat_id
    refused = call("POST", "/v1/tax_rates", PVM)
    assert refused.status == 422 and refused.json()["error"]["param"] == "vat_id"
    assert "vat_id" in refused.json()["error"]["message"] and call("GET", "/v1/tax_rates").json()["data"] == []
    # When it sets one, Then rates are created
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    rate = call("POST", "/v1/tax_rates", PVM)
    assert rate.status == 201
    # And the VAT id may change but not go: not while a rate is active, nor once archived (an
    # archived rate still applies to the mandates that took it)
    for _ in range(2):
        cleared = call("PATCH", "/v1/account", {"vat_id": None})
        assert cleared.status == 422 and cleared.json()["error"]["param"] == "vat_id"
        assert call("GET", "/v1/account").json()["vat_id"] == "LT100001919017"
        assert call("POST", f"/v1/tax_rates/{rate.json()['id']}/archive").status in (200, 409)
    assert call("PATCH", "/v1/account", {"vat_id": "LT100000019"}).status == 200
    # And another merchant without a VAT id still cannot create a rate
    assert system.client(system.b)("POST", "/v1/tax_rates", PVM).status == 422


def test_tax_rate_lifecycle_and_isolation(system: System, call: Client) -> None:
    # Given a new rate
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    created = call("POST", "/v1/tax_rates", {**PVM, "percentage": "21.50", "description": "Standard"})
    assert created.status == 201
    rate = created.json()
    assert rate["object"] == "tax_rate" and rate["id"].startswith("txr_") and rate["percentage"] == "21.5"
    assert rate["inclusive"] is True and rate["active"] is True and rate["country"] == "LT"
    # When renamed, Then only the name changes; its terms never do
    renamed = call("PATCH", f"/v1/tax_rates/{rate['id']}", {"display_name": "PVM 21,5 %"})
    assert renamed.status == 200 and renamed.json()["display_name"] == "PVM 21,5 %" and renamed.json()["percentage"] == "21.5"
    refused = call("PATCH", f"/v1/tax_rates/{rate['id']}", {"percentage": "5"})
    assert refused.status == 422 and refused.json()["error"]["param"] == "percentage"
    assert call("GET", f"/v1/tax_rates/{rate['id']}").json() == renamed.json()
    # And another merchant neither sees it nor can attach it
    other = system.client(system.b)
    assert other("GET", f"/v1/tax_rates/{rate['id']}").status == 404
    attached = other(
        "POST", "/v1/plans", {"name": "X", "amount": 100, "currency": "EUR", "interval": "month", "tax_rate_id": rate["id"]}
    )
    assert attached.status == 422 and attached.json()["error"]["param"] == "tax_rate_id"
    # When archived, Then it is listed as such and attached to nothing new
    assert call("POST", f"/v1/tax_rates/{rate['id']}/archive").json()["active"] is False
    assert call("POST", f"/v1/tax_rates/{rate['id']}/archive").status == 409
    assert [r["id"] for r in call("GET", "/v1/tax_rates?status=archived").json()["data"]] == [rate["id"]]
    assert call("PATCH", "/v1/account", {"default_tax_rate_id": rate["id"]}).status == 422


@pytest.mark.parametrize(
    "body",
    [
        {**PVM, "percentage": "1e2"},
        {**PVM, "percentage": "-1"},
        {**PVM, "percentage": "100.00001"},
        {**PVM, "percentage": 21},
        {**PVM, "percentage": 21.5},
        {**PVM, "country": "Lithuania"},
        {**PVM, "display_name": ""},
        {**PVM, "display_name": "x" * 51},
        {**PVM, "inclusive": "yes"},
        {**PVM, "rate": "21"},
    ],
)
def test_bad_tax_rates_are_422(call: Client, body: dict[str, object]) -> None:
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    response = call("POST", "/v1/tax_rates", body)
    assert response.status == 422 and response.json()["error"]["type"] == "validation_error"


def test_a_charge_shows_its_tax_and_the_customer_can_be_changed(system: System, call: Client, engine: EngineHarness) -> None:
    # Given an exclusive 21 % rate as the account's default and a plan of 10.00 net
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    rate = call("POST", "/v1/tax_rates", {**PVM, "inclusive": False}).json()
    account = call(
        "PATCH", "/v1/account", {"default_tax_rate_id": rate["id"], "invoice_prefix": "INV", "company_code": "300000000"}
    )
    assert account.status == 200
    assert account.json()["default_tax_rate_id"] == rate["id"] and account.json()["receipt_prefix"] == "INV"
    assert account.json()["invoice_prefix"] == "INV" and account.json()["credit_note_prefix"] == "CN"
    plan = make_plan(call, amount=1000)
    assert plan["tax_rate_id"] is None
    mandate = make_mandate(call, plan["id"], customer={"reference": "c-1", "tax": {"type": "individual"}})
    assert mandate["customer"]["tax"]["type"] == "individual"
    # When it is charged
    engine.tick()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    # Then 12.10 is collected, 2.10 of it tax, in one standard group
    assert (charge["subtotal"], charge["tax_amount"], charge["amount"]) == (1000, 210, 1210)
    assert charge["tax_breakdown"] == [
        {
            "tax_rate_id": rate["id"],
            "percentage": "21",
            "inclusive": False,
            "category": "standard",
            "taxable_amount": 1000,
            "tax_amount": 210,
        }
    ]
    assert charge["lines"][0]["tax_rate_id"] == rate["id"]
    # And a bad VAT id is refused, a good one kept compact
    bad = call("POST", f"/v1/mandates/{mandate['id']}/customer", {"tax": {"type": "business", "vat_id": "DE123"}})
    assert bad.status == 422 and bad.json()["error"]["param"] == "tax.vat_id"
    good = call("POST", f"/v1/mandates/{mandate['id']}/customer", {"tax": {"type": "business", "vat_id": "DE 136 695 976"}})
    assert good.status == 200 and good.json()["customer"]["tax"]["vat_id"] == "DE136695976"


def test_a_rate_created_while_the_vat_id_is_removed_is_refused_by_the_accounts_version(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision 185 under a race, on DynamoDB: the first rate and the account's `has_tax_rates`
    are one transaction conditioned on the account's version."""
    # Given a merchant with a VAT id and no rate, and another request of it removing the VAT id
    # right after this one read the account
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    billing = system.api_module.deps
    other = billing.use_cases(billing.approval_links(f"https://{system.a.id}.test")).account
    repository, raced = billing.repository, []
    read = repository.get

    def read_then_the_removal_lands(model: Any, merchant_id: str, object_id: str) -> Any:
        found = read(model, merchant_id, object_id)
        if model is Account and not raced:
            raced.append(True)
            other.update(system.a.id, AccountUpdate.model_validate({"vat_id": None}))
        return found

    monkeypatch.setattr(repository, "get", read_then_the_removal_lands)
    # When the rate is created, Then its transaction fails on the account's version and, read
    # again, it is refused: no rate without a VAT id
    refused = call("POST", "/v1/tax_rates", PVM)
    monkeypatch.undo()
    assert raced and refused.status == 422 and refused.json()["error"]["param"] == "vat_id", refused.body
    assert call("GET", "/v1/tax_rates").json()["data"] == [] and call("GET", "/v1/account").json()["vat_id"] is None
    # And once a rate exists, the account item says so (not in the API) and the removal is refused
    assert call("PATCH", "/v1/account", SELLER_VAT_ID).status == 200
    assert call("POST", "/v1/tax_rates", PVM).status == 201
    stored = repository.get(Account, system.a.id, system.a.id)
    assert stored is not None and stored.has_tax_rates is True
    assert "has_tax_rates" not in call("GET", "/v1/account").json()
    assert call("PATCH", "/v1/account", {"vat_id": None}).status == 422
