"""The customer's "buying as a business" form on their hosted page, through the API Gateway
stand-in: the customer's tax details change through the merchant's `POST /v1/mandates/{id}/customer`
use case; a bad VAT id is a 422 in the customer's language that changes nothing; the signed link
decides the mandate, the CSRF token the form."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.support.system import Client, System, approval_form, page, path_of, pending, post

COMPANY = {
    "type": "business",
    "company_name": "UAB <Kepykla> & Co",
    "company_code": "304 123 456",
    "vat_id": "de 136 695 976",
    "line1": "Gedimino pr. 1",
    "line2": "",
    "city": "Vilnius",
    "postal_code": "LT-01103",
    "country": "LT",
}


def business_csrf(body: str) -> str:
    """The business form's CSRF token (the page's other forms have their own)."""
    form = body.split('id="business"', 1)[1]
    return re.search(r'name="csrf" value="([^"]+)"', form).group(1)


def tax_of(call: Client, mandate: dict) -> dict | None:
    return call("GET", f"/v1/mandates/{mandate['id']}").json()["customer"].get("tax")


def test_a_customer_awaiting_approval_says_they_buy_as_a_business(system: System, call: Client) -> None:
    # Given the page of a mandate awaiting approval: it offers the business form, saying it applies to later charges
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    assert "Buying as a business" in body and "from now on" in body
    assert '<label for="business-company_name">' in body and 'id="business-company_name"' in body
    # When the customer fills it in and saves it with the form's token
    response = post(system, path + "/business?lang=en", {**COMPANY, "csrf": business_csrf(body)})
    # Then the page is shown again (303) saying so, and the mandate's customer is that business (VAT id compacted)
    assert response.status == 303 and response.headers["Location"].endswith("lang=en&done=business")
    assert tax_of(call, mandate) == {
        "type": "business",
        "company_name": "UAB <Kepykla> & Co",
        "company_code": "304 123 456",
        "vat_id": "DE136695976",
        "address": {"line1": "Gedimino pr. 1", "line2": None, "city": "Vilnius", "postal_code": "LT-01103", "country": "LT"},
    }
    # And the page shows the details (escaped), filled in the form, and still offers approval
    after = page(system, path + "?done=business").body
    assert "Your business details are saved" in after
    assert "UAB &lt;Kepykla&gt; &amp; Co" in after and "<Kepykla>" not in after
    assert "VAT ID DE136695976" in after and 'value="DE136695976"' in after
    assert '<option value="LT" selected>Lithuania</option>' in after
    assert "/approve" in after and "I buy as a private person" in after
    # And the approval still goes through (the terms did not change)
    assert post(system, path + "/approve", approval_form(after, payment_token="pm_sim_ok")).status == 303
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "active"


def test_an_active_customer_switches_to_business_and_back_in_lithuanian(system: System, call: Client) -> None:
    # Given an approved mandate, its page in Lithuanian
    mandate = pending(call)
    path = path_of(mandate)
    post(system, path + "/approve", approval_form(page(system, path).body, payment_token="pm_sim_ok"))
    body = page(system, path + "?lang=lt").body
    assert "Perku kaip įmonė" in body and "Lietuva" in body
    # When the customer saves a business, Then it is stored and the page says so in Lithuanian
    response = post(system, path + "/business?lang=lt", {**COMPANY, "csrf": business_csrf(body)})
    assert response.status == 303 and "lang=lt" in response.headers["Location"]
    assert tax_of(call, mandate)["type"] == "business"
    assert "Įmonės rekvizitai išsaugoti" in page(system, path + "?lang=lt&done=business").body
    # When they switch back to buying as a private person
    response = post(system, path + "/business?lang=lt", {"type": "individual", "csrf": business_csrf(body)})
    # Then the company's details are dropped
    assert response.status == 303 and response.headers["Location"].endswith("done=individual")
    assert tax_of(call, mandate) == {
        "type": "individual",
        "company_name": None,
        "company_code": None,
        "vat_id": None,
        "address": None,
    }
    assert "Dabar perkate kaip privatus asmuo" in page(system, path + "?lang=lt&done=individual").body


def test_a_bad_vat_id_is_a_422_in_the_customers_language_and_changes_nothing(system: System, call: Client) -> None:
    # Given a customer already buying as a business
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    post(system, path + "/business?lang=en", {**COMPANY, "csrf": business_csrf(body)})
    before = tax_of(call, mandate)
    for lang, message in (("en", "This VAT ID is not valid"), ("lt", "Šis PVM mokėtojo kodas neteisingas")):
        # When they post a VAT id that fails its country's check
        fields = {**COMPANY, "company_name": "Nauja <UAB>", "vat_id": "DE 136 695 977", "csrf": business_csrf(body)}
        response = post(system, f"{path}/business?lang={lang}", fields)
        # Then the page says so in the page's language, with what they typed kept (escaped) and the field marked
        assert response.status == 422 and message in response.body, (lang, response.status)
        assert 'value="DE 136 695 977"' in response.body and 'value="Nauja &lt;UAB&gt;"' in response.body
        assert 'id="business-vat_id" name="vat_id" value="DE 136 695 977" autocomplete="off" aria-invalid="true"' in response.body
        # And nothing changed
        assert tax_of(call, mandate) == before
    # A business without its name, or a country outside the list, is a 422 too
    no_name = post(system, path + "/business?lang=lt", {**COMPANY, "company_name": " ", "csrf": business_csrf(body)})
    assert no_name.status == 422 and "Įveskite įmonės pavadinimą" in no_name.body
    elsewhere = post(system, path + "/business", {**COMPANY, "country": "US", "csrf": business_csrf(body)})
    assert elsewhere.status == 422 and "the country is not in the list" in elsewhere.body
    assert tax_of(call, mandate) == before


def test_a_forged_expired_or_other_pages_form_is_refused(system: System, call: Client) -> None:
    # Given two mandates' pages
    mandate, other = pending(call), pending(call)
    path, other_path = path_of(mandate), path_of(other)
    body = page(system, path).body
    good = {**COMPANY, "csrf": business_csrf(body)}
    # When the form is posted without its token, with another form's token, from another site,
    # or with this page's token to the other mandate's link
    refused = [
        post(system, path + "/business", {k: v for k, v in good.items() if k != "csrf"}),
        post(system, path + "/business", {**good, "csrf": re.search(r'name="csrf" value="([^"]+)"', body).group(1)}),
        post(system, path + "/business", good, origin="https://evil.example"),
        post(system, other_path + "/business", good),
    ]
    # Then each is refused (403) and no customer changed
    assert [r.status for r in refused] == [403] * 4
    # When the link is tampered with, Then it is a 404
    token = path.rsplit("/", 1)[1]
    assert post(system, path.replace(token, token[:-3] + "AAA") + "/business", good).status == 404
    # When an approval link is used after its 7 days, Then it is refused (410) and nothing changes
    system.clock.current = system.clock.now() + timedelta(days=8)
    assert post(system, path + "/business", good).status == 410
    assert tax_of(call, mandate) is None and tax_of(call, other) is None


def test_a_stopped_mandate_offers_no_business_form(system: System, call: Client) -> None:
    # Given a mandate the merchant cancelled
    mandate = pending(call)
    path = path_of(mandate)
    body = page(system, path).body
    call("POST", f"/v1/mandates/{mandate['id']}/cancel")
    # When its page is opened, Then no business form is offered; a form posted anyway is a 409 that changes nothing
    assert 'id="business"' not in page(system, path).body
    assert post(system, path + "/business", {**COMPANY, "csrf": business_csrf(body)}).status == 409
    assert tax_of(call, mandate) is None
