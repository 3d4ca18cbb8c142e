"""The customer replaces the payment method from their page with a bank account (a test IBAN here)
where approval would offer one: EUR plans, customers with an e-mail address and a name. The SEPA
mandate is shown in their language before they confirm, its text is part of the terms hash kept
as the mandate's consent (as at approval), the bank account gets its mandate reference, and the
event says the customer did it. Refusals are clear pages and change nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from billing.customer_page.texts import sepa_mandate
from billing.domain import payment_methods
from billing.domain.model import Mandate
from billing.service.customer_portal import terms_digest
from tests.support.system import HOST, Client, System, hidden, page, post
from tests.support.values import CONSENT

ONA = {"reference": "c-7", "name": "Ona Onaitė", "email": "ona@example.lt"}


def card_mandate(call: Client, currency: str = "EUR", **customer: str | None) -> dict:
    plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": currency, "interval": "month"}).json()
    who = {k: v for k, v in {**ONA, **customer}.items() if v is not None}
    body = {
        "plan_id": plan["id"],
        "customer": who,
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    assert mandate["status"] == "active", mandate
    return mandate


def page_path(system: System, mandate_id: str) -> str:
    links = system.api_module.deps.approval_links(f"https://{HOST}")
    return f"/customer/mandates/{links.token(system.a.id, mandate_id, system.clock.now() + timedelta(days=30))}"


def method_section(body: str) -> str:
    return body.split('id="payment-method"', 1)[1]


def method_form(body: str, token: str, accept: bool = True) -> dict[str, str]:
    """The payment-method form as the page filled it, with the customer's choice (and the mandate's box)."""
    section = method_section(body)
    fields = {"csrf": hidden(section, "csrf"), "terms_sha256": hidden(section, "terms_sha256"), "payment_token": token}
    return fields | ({"consent": "yes"} if accept else {})


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&amp;", "&")


def stored(system: System, mandate_id: str) -> Mandate:
    return system.api_module.deps.repository.get(Mandate, system.a.id, mandate_id)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ("SEPA Direct Debit mandate", "within 8 weeks", "Creditor: UAB Sporto klubas", "Mandate reference: {}")),
        ("lt", ("SEPA tiesioginio debeto sutikimas", "per 8 savaites", "Kreditorius: UAB Sporto klubas", "Sutikimo nuoroda: {}")),
    ],
)
def test_a_bank_account_replaces_a_card_with_the_sepa_mandate_seen_kept_as_consent(
    system: System, call: Client, lang: str, words: tuple[str, ...]
) -> None:
    # Given an active EUR mandate paid by card, of a customer with an e-mail address and a name
    call("PATCH", "/v1/account", {"legal_name": "UAB Sporto klubas"})
    mandate = card_mandate(call)
    reference = payment_methods.mandate_reference(mandate["id"])
    path = page_path(system, mandate["id"])
    before = stored(system, mandate["id"]).consent
    # When the customer opens the page, Then the new-method step offers test bank accounts with the SEPA mandate
    body = page(system, f"{path}?lang={lang}").body
    section = text_of(method_section(body))
    title, refund, creditor, shown_reference = words
    assert 'value="pm_sim_sepa_ok"' in method_section(body)
    assert title in section and refund in section and creditor in section and shown_reference.format(reference) in section
    # When they choose a test bank account, tick the mandate's box and confirm
    fields = method_form(body, "pm_sim_sepa_ok")
    response = post(system, f"{path}/payment_method?lang={lang}", fields)
    # Then the mandate is paid by bank debit with its mandate reference
    assert response.status == 303 and response.headers["Location"].endswith("done=method_updated"), text_of(response.body)
    method = call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]
    assert (method["type"], method["mandate_reference"], method["last4"]) == ("sepa_debit", reference, "3000")
    # And the consent keeps the hash of the terms with the mandate text as shown, in that language, and from where
    mine = stored(system, mandate["id"])
    assert mine.consent.terms_sha256 == fields["terms_sha256"]
    assert fields["terms_sha256"] == terms_digest(mine, sepa_mandate(lang, "UAB Sporto klubas", reference))
    assert mine.consent.ip == "198.51.100.7" and mine.consent.user_agent == "Mozilla/5.0 (test)"
    # And the event says the customer did it, with the card and the consent before
    [event] = call("GET", "/v1/events?type=mandate.payment_method_updated").json()["data"]
    assert event["data"]["source"] == "customer"
    assert event["data"]["previous_attributes"]["payment_method"]["type"] == "card"
    assert event["data"]["previous_attributes"]["consent"]["accepted_at"] == before.accepted_at.isoformat().replace("+00:00", "Z")
    # And the page shows the bank account and its reference
    after = text_of(page(system, f"{path}?lang={lang}").body)
    assert reference in after and "IBAN …3000" in after


def test_a_bank_account_without_the_mandates_box_or_with_other_terms_changes_nothing(system: System, call: Client) -> None:
    # Given the page of an active EUR mandate paid by card
    mandate = card_mandate(call)
    path = page_path(system, mandate["id"])
    body = page(system, path + "?lang=en").body
    # When a test bank account is sent without ticking the mandate's box, Then the page says so
    refused = post(system, path + "/payment_method?lang=en", method_form(body, "pm_sim_sepa_ok", accept=False))
    assert refused.status == 400 and "tick the box accepting the SEPA Direct Debit mandate" in refused.body
    # When it is sent as if the Lithuanian mandate had been shown, Then it is refused: that is not what was hashed
    assert post(system, path + "/payment_method?lang=lt", method_form(body, "pm_sim_sepa_ok")).status == 409
    # And nothing changed: still the card, the consent of the approval
    mine = stored(system, mandate["id"])
    assert mine.payment_method.type == "card" and mine.consent.terms_sha256 is None
    assert call("GET", "/v1/events?type=mandate.payment_method_updated").json()["data"] == []
    # While a card needs no box at all
    card = method_form(body, "pm_sim_fail_once", accept=False)
    assert post(system, path + "/payment_method?lang=en", card).status == 303
    assert stored(system, mandate["id"]).payment_method.token == "pm_sim_fail_once"


@pytest.mark.parametrize(
    ("currency", "customer"),
    [("USD", {}), ("EUR", {"email": None}), ("EUR", {"name": None})],
    ids=["not-eur", "no-email", "no-name"],
)
def test_no_bank_account_offered_where_a_bank_debit_is_not_allowed_and_a_forged_one_is_a_clear_422(
    system: System, call: Client, currency: str, customer: dict
) -> None:
    # Given an active card mandate a bank debit cannot pay (not in EUR, or without the customer's e-mail or name)
    mandate = card_mandate(call, currency, **customer)
    path = page_path(system, mandate["id"])
    body = page(system, path).body
    # Then its new-method step offers test cards only, and no mandate text
    section = method_section(body)
    assert 'value="pm_sim_ok"' in section and "pm_sim_sepa" not in section and "SEPA" not in body
    # When a test bank account is posted anyway (the page's CSRF token, a made-up hash, the box ticked)
    forged = {"csrf": hidden(section, "csrf"), "payment_token": "pm_sim_sepa_ok", "terms_sha256": "0" * 64, "consent": "yes"}
    response = post(system, path + "/payment_method", forged)
    # Then the page says why, in plain words, and nothing changed
    assert response.status == 422 and "can be used only for payments in euros" in response.body
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["payment_method"]["type"] == "card"
    assert call("GET", "/v1/events?type=mandate.payment_method_updated").json()["data"] == []
