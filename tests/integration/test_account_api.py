"""/v1/account on moto through the API: the defaults of a merchant that never changed them, partial
changes, validation, isolation, and the customers' default language."""

from __future__ import annotations

import pytest

from tests.support.system import Client, System
from tests.support.values import GOLD


def test_a_new_merchant_has_the_default_settings_named_after_its_profile(system: System, call: Client) -> None:
    response = call("GET", "/v1/account")
    assert response.status == 200
    account = response.json()
    assert account["id"] == system.a.id and account["object"] == "account" and account["name"] == "Shop A <&>"
    assert account["default_locale"] == "en" and account["receipt_prefix"] == "R"
    assert account["notifications"] == {
        "upcoming_charge_days": 3,
        "trial_ending_days": 3,
        "receipts": True,
        "payment_failed": True,
        "mandate_updates": True,
        "invoice_pdf": False,
    }
    assert account["legal_name"] is None and account["support_email"] is None


def test_only_the_fields_sent_change_and_details_can_be_cleared(system: System, call: Client) -> None:
    # When the merchant sets its legal details and one notification setting
    changes = {
        "legal_name": "UAB Sporto klubas",
        "address": "Gedimino pr. 1, Vilnius",
        "vat_id": "LT100001919017",
        "support_email": "help@klubas.lt",
        "default_locale": "lt",
        "receipt_prefix": "SK",
        "notifications": {"upcoming_charge_days": 5, "receipts": False},
    }
    changed = call("PATCH", "/v1/account", changes).json()
    # Then those changed, the other notification settings kept their values
    assert {k: changed[k] for k in changes if k != "notifications"} == {k: v for k, v in changes.items() if k != "notifications"}
    assert changed["notifications"] == {
        "upcoming_charge_days": 5,
        "trial_ending_days": 3,
        "receipts": False,
        "payment_failed": True,
        "mandate_updates": True,
        "invoice_pdf": False,
    }
    assert call("GET", "/v1/account").json() == changed
    # And a detail can be cleared, the name changed, and nothing else moves
    cleared = call("PATCH", "/v1/account", {"vat_id": None, "name": "Sporto klubas"}).json()
    assert cleared["vat_id"] is None and cleared["name"] == "Sporto klubas" and cleared["legal_name"] == "UAB Sporto klubas"
    # The other merchant's account is untouched
    other = system.client(system.b)("GET", "/v1/account").json()
    assert other["id"] == system.b.id and other["name"] == "Shop B" and other["default_locale"] == "en"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"receipt_prefix": "r-1"}, "receipt_prefix"),
        ({"receipt_prefix": "ABCDEFGHIJK"}, "receipt_prefix"),
        ({"default_locale": "de"}, "default_locale"),
        ({"notifications": {"upcoming_charge_days": 15}}, "notifications.upcoming_charge_days"),
        ({"notifications": {"trial_ending_days": -1}}, "notifications.trial_ending_days"),
        ({"notifications": {"receipts": "yes"}}, "notifications.receipts"),
        ({"notifications": {"invoice_pdf": "true"}}, "notifications.invoice_pdf"),
        ({"notifications": {"invoice_pdf": None}}, "notifications.invoice_pdf"),
        ({"notifications": {"nope": 1}}, "notifications.nope"),
        ({"notifications": None}, "notifications"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"support_email": "not-an-address"}, "support_email"),
        ({"address": "x" * 501}, "address"),
        ({"id": "mch_other"}, "id"),
    ],
)
def test_bad_settings_are_a_422_naming_the_field(call: Client, body: dict, param: str) -> None:
    response = call("PATCH", "/v1/account", body)
    assert response.status == 422 and response.json()["error"]["param"] == param
    assert call("GET", "/v1/account").json()["receipt_prefix"] == "R"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Shop\r\nBcc: victim@example.com"),
        ("name", "Shop\n"),
        ("name", "Shop\x00"),
        ("name", "Shop\x1b[31m"),
        ("name", "Shop\u2028Two"),  # a Unicode line separator
        ("name", "Shop\x85"),  # NEL, a C1 control
        ("legal_name", "UAB Shop\r\nX-Header: 1"),
        ("legal_name", "UAB\tShop"),
        ("support_email", "help@shop.test\r\nBcc: x@y.z"),
        ("support_email", "help\x00@shop.test"),
        ("support_email", "help@shop.test\x7f"),
        ("address", "Gedimino pr. 1\x00"),
        ("address", "Gedimino pr. 1\x1b"),
    ],
)
def test_control_characters_in_free_text_are_a_422_naming_the_field(call: Client, field: str, value: str) -> None:
    # Given the account as it is
    before = call("GET", "/v1/account").json()
    # When a field that reaches e-mails (subject, headers) or receipts is sent with a line break or a control character
    response = call("PATCH", "/v1/account", {field: value})
    # Then it is refused naming the field, and nothing changed
    assert response.status == 422 and response.json()["error"]["param"] == field, response.body
    assert call("GET", "/v1/account").json() == before


def test_line_breaks_stay_allowed_in_the_address_and_any_language_in_names(call: Client) -> None:
    body = {"name": "Sporto klubas – Žalgiris", "legal_name": "UAB „Žalgiris“ 日本", "address": "Gedimino pr. 1\r\nVilnius\nLT"}
    response = call("PATCH", "/v1/account", body)
    assert response.status == 200 and {k: response.json()[k] for k in body} == body


def test_a_customer_address_with_a_control_character_is_a_422(call: Client) -> None:
    plan = call("POST", "/v1/plans", GOLD).json()
    for email in ("jonas@example.lt\x00", "jonas@exa\x1bmple.lt", "jonas@example.lt\u2028"):
        body = {"plan_id": plan["id"], "customer": {"reference": "a", "email": email}}
        response = call("POST", "/v1/mandates", body)
        assert response.status == 422 and response.json()["error"]["param"] == "customer.email", (email, response.body)


def test_a_mandate_takes_the_accounts_default_language_unless_it_names_one(call: Client) -> None:
    plan = call("POST", "/v1/plans", GOLD).json()
    english = call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "a"}}).json()
    call("PATCH", "/v1/account", {"default_locale": "lt"})
    lithuanian = call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "b"}}).json()
    chosen = call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "c", "locale": "en"}}).json()
    assert [m["customer"]["locale"] for m in (english, lithuanian, chosen)] == ["en", "lt", "en"]
    assert call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "d", "locale": "fr"}}).status == 422
