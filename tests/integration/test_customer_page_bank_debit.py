"""The customer's hosted page offers a bank account (SEPA Direct Debit) where the rules allow one:
EUR plans, customers with an e-mail address and a name. Before approving, the customer sees the
SEPA mandate in their language (creditor, mandate reference, the 8-week refund right), and the
hash of what they saw, kept as consent evidence, covers the mandate text. A bank account chosen
where it is not allowed is a clear 422 page and nothing changes."""

from __future__ import annotations

import re

import pytest

from billing.customer_page.texts import sepa_mandate
from billing.domain import payment_methods
from billing.domain.model import Mandate
from billing.service.customer_portal import terms_digest
from tests.support.system import Client, System, approval_form, page, path_of, post

BANK_TOKENS = ("pm_sim_sepa_ok", "pm_sim_sepa_insufficient_funds", "pm_sim_sepa_late_failure", "pm_sim_sepa_revoked")
ONA = {"reference": "c-7", "name": "Ona Onaitė", "email": "ona@example.lt"}


def pending(call: Client, currency: str = "EUR", **customer: str | None) -> dict:
    plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": currency, "interval": "month"}).json()
    who = {k: v for k, v in {**ONA, **customer}.items() if v is not None}
    mandate = call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": who}).json()
    assert mandate["status"] == "pending_approval", mandate
    return mandate


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&")


def test_the_page_offers_test_bank_accounts_with_the_sepa_mandate_in_both_languages(system: System, call: Client) -> None:
    # Given a merchant with a legal name, and a EUR mandate of a customer with an e-mail address and a name
    call("PATCH", "/v1/account", {"legal_name": "UAB Sporto klubas"})
    mandate = pending(call)
    reference = payment_methods.mandate_reference(mandate["id"])
    path = path_of(mandate)
    # When the customer opens the page in English
    english = page(system, path).body
    # Then every test bank account is offered next to the test cards, labelled, with the mandate text naming creditor and reference
    assert all(f'value="{token}"' in english for token in BANK_TOKENS) and 'value="pm_sim_ok"' in english
    words = text_of(english)
    assert "SEPA Direct Debit mandate" in words and "Debit settles after 3 business days" in words
    assert "you authorise (A) UAB Sporto klubas to send instructions to your bank" in words
    assert "A refund must be claimed within 8 weeks" in words
    assert "Creditor: UAB Sporto klubas" in words and f"Mandate reference: {reference}" in words
    # And in Lithuanian the same mandate in Lithuanian
    lithuanian = text_of(page(system, path + "?lang=lt").body)
    assert "SEPA tiesioginio debeto sutikimas" in lithuanian and "per 8 savaites" in lithuanian
    assert "Kreditorius: UAB Sporto klubas" in lithuanian and f"Sutikimo nuoroda: {reference}" in lithuanian
    assert "Nurašymas įvykdomas po 3 darbo dienų" in lithuanian


@pytest.mark.parametrize("lang", ["en", "lt"])
def test_approving_with_a_test_iban_records_the_hash_of_the_terms_with_the_mandate_text(
    system: System, call: Client, lang: str
) -> None:
    # Given the page of a EUR mandate (the merchant has no legal name: the creditor is its name)
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, f"{path}?lang={lang}").body
    fields = approval_form(body, payment_token="pm_sim_sepa_ok")
    # When the customer chooses a test bank account, consents and approves
    response = post(system, f"{path}/approve?lang={lang}", fields)
    # Then the mandate is active, paid by bank debit with its mandate reference
    assert response.status == 303, text_of(response.body)
    active = call("GET", f"/v1/mandates/{mandate['id']}").json()
    reference = payment_methods.mandate_reference(mandate["id"])
    assert active["status"] == "active"
    assert active["payment_method"]["type"] == "sepa_debit" and active["payment_method"]["mandate_reference"] == reference
    # And the consent keeps the hash of the terms together with the mandate text the customer read
    stored = system.api_module.deps.repository.get(Mandate, system.a.id, mandate["id"])
    creditor = call("GET", "/v1/account").json()["name"]
    assert stored.consent.terms_sha256 == fields["terms_sha256"]
    assert fields["terms_sha256"] == terms_digest(stored, sepa_mandate(lang, creditor, reference))
    assert fields["terms_sha256"] != terms_digest(stored)
    # And the page now shows the mandate reference and the bank account's last four
    after = text_of(page(system, f"{path}?lang={lang}").body)
    assert reference in after and "IBAN …3000" in after


def test_terms_seen_in_another_language_are_not_the_terms_approved(system: System, call: Client) -> None:
    # Given the approval form as shown in English
    mandate = pending(call)
    path = path_of(mandate)
    fields = approval_form(page(system, path + "?lang=en").body, payment_token="pm_sim_sepa_ok")
    # When it is posted as if the Lithuanian mandate had been shown, Then it is refused: the text hashed is not the one shown
    assert post(system, f"{path}/approve?lang=lt", fields).status == 409
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"


@pytest.mark.parametrize(
    ("currency", "customer"),
    [("USD", {}), ("EUR", {"email": None}), ("EUR", {"name": None})],
    ids=["not-eur", "no-email", "no-name"],
)
def test_no_bank_account_where_a_bank_debit_is_not_allowed_and_a_forged_choice_is_a_clear_422(
    system: System, call: Client, currency: str, customer: dict
) -> None:
    # Given a mandate a bank debit cannot pay (not in EUR, or without the customer's e-mail or name)
    mandate = pending(call, currency, **customer)
    path = path_of(mandate)
    body = page(system, path).body
    # Then its page offers test cards only, and no mandate text
    assert 'value="pm_sim_ok"' in body and not any(token in body for token in BANK_TOKENS)
    assert "SEPA" not in body
    # When a test bank account is posted anyway (a forged form with the page's CSRF token and terms)
    response = post(system, path + "/approve", approval_form(body, payment_token="pm_sim_sepa_ok"))
    # Then the page says why, in plain words, and nothing changed
    assert response.status == 422 and "can be used only for payments in euros" in response.body
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "pending_approval"
