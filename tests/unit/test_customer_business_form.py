"""The customer's "buying as a business" form: what the page accepts (forms.BusinessForm), and the
portal's use of the merchant's customer-update use case (in-memory world): the signed link decides
the mandate, the VAT id is checked there, the details apply to the charges made afterwards."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from billing.api.requests import AccountUpdate
from billing.customer_page import forms, render
from billing.domain.errors import InvalidState, ValidationFailed
from billing.domain.tax import CustomerTax, TaxAddress
from billing.service.customer_portal import CustomerPortal
from billing.service.links import ApprovalLinks, ExpiredLink
from tests.world import MERCHANT, World

LINKS = ApprovalLinks(b"k" * 32, "https://pay.example")
FIELDS = {
    "csrf": "c",
    "type": "business",
    "company_name": "  UAB\r\n Kepykla ",
    "company_code": "",
    "vat_id": "DE 136 695 976",
    "line1": "Gedimino pr. 1",
    "city": "Vilnius",
    "country": "lt",
    "merchant_id": "mch_other",  # not the form's: ignored
    "mandate_id": "mnd_other",
}


def business(**changes: str) -> forms.BusinessForm:
    return forms.BusinessForm.model_validate(forms.parse_form(urlencode(FIELDS | changes)))


# ---------------------------------------------------------------------------- the form
def test_the_form_gives_the_business_tax_details_without_blanks() -> None:
    # When a business form is posted with blanks, runs of spaces and a lower-case country
    details = business().tax()
    # Then the details are the company's, blanks absent, spaces collapsed, the country upper-case (the VAT id as typed)
    assert details == CustomerTax(
        type="business",
        company_name="UAB Kepykla",
        vat_id="DE 136 695 976",
        address=TaxAddress(line1="Gedimino pr. 1", city="Vilnius", country="LT"),
    )


def test_a_private_person_drops_the_company_details() -> None:
    assert business(type="individual").tax() == CustomerTax(type="individual")
    assert business(line1="", city="", country="").tax().address is None


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"company_name": " \t "}, forms.MISSING_COMPANY_NAME),
        ({"country": "US"}, "literal_error"),
        ({"vat_id": "X" * 31}, "string_too_long"),
        ({"company_name": "Ž" * 201}, "string_too_long"),
        ({"type": "government"}, "literal_error"),
    ],
)
def test_a_business_without_its_name_or_with_a_bad_field_is_refused(changes: dict[str, str], error: str) -> None:
    with pytest.raises(ValidationError) as refused:
        business(**changes)
    assert error in {e["type"] for e in refused.value.errors()}


def test_the_countries_are_the_eu_and_eea_named_in_both_languages() -> None:
    assert len(forms.EU_COUNTRIES) == 27 and len(forms.EEA_COUNTRIES) == 30
    from billing.customer_page.texts import TEXT

    assert all(f"country.{code}" in TEXT[lang] for code in forms.EEA_COUNTRIES for lang in ("en", "lt"))
    assert TEXT["lt"]["country.LT"] == "Lietuva" and TEXT["en"]["country.GR"] == "Greece"


# ---------------------------------------------------------------------------- the portal
def link(world: World, mandate_id: str) -> str:
    return LINKS.token(MERCHANT, mandate_id, world.clock.now() + timedelta(days=7))


def test_the_portal_changes_only_the_linked_mandates_customer_and_reverse_charge_follows() -> None:
    # Given a seller with a Lithuanian VAT id and two active mandates
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    plan = world.plan()
    mine, other = world.mandate(plan), world.mandate(plan)
    portal = CustomerPortal(world.api, LINKS, lambda _: "Shop")
    # When the customer of the first says, from their page, they buy as a German business
    changed = portal.update_tax_details(link(world, mine), business().tax())
    # Then that mandate's customer is the business (VAT id compacted by the use case), now reverse-charged;
    # the other mandate is untouched
    assert changed.id == mine and world.get(mine).customer.tax == business().tax().model_copy(update={"vat_id": "DE136695976"})
    assert world.get(mine).reverse_charged and world.get(mine).customer.reference == "cust-42"
    assert world.get(other).customer.tax is None and not world.get(other).reverse_charged
    # And the page shows the buyer
    html = render.mandate_page(portal.view(link(world, mine)), "lt", "n", "/p", {"business": "c"})
    assert "UAB Kepykla" in html and "PVM mokėtojo kodas DE136695976" in html and "Vilnius, Lietuva" in html
    # When they go back to buying as a private person, Then it is no longer reverse-charged
    portal.update_tax_details(link(world, mine), business(type="individual").tax())
    assert world.get(mine).customer.tax == CustomerTax(type="individual") and not world.get(mine).reverse_charged


def test_a_bad_vat_id_changes_nothing() -> None:
    world = World()
    mandate_id = world.mandate(world.plan())
    portal = CustomerPortal(world.api, LINKS, lambda _: "Shop")
    before = world.get(mandate_id)
    with pytest.raises(ValidationFailed) as refused:
        portal.update_tax_details(link(world, mandate_id), business(vat_id="DE 136 695 977").tax())
    assert refused.value.param == "tax.vat_id"
    assert world.get(mandate_id) == before


def test_a_stopped_mandate_or_an_expired_approval_link_changes_nothing() -> None:
    world = World()
    plan = world.plan()
    stopped = world.mandate(plan)
    world.api.mandates.cancel(MERCHANT, stopped)
    portal = CustomerPortal(world.api, LINKS, lambda _: "Shop")
    with pytest.raises(InvalidState):
        portal.update_tax_details(link(world, stopped), business().tax())
    assert world.get(stopped).customer.tax is None
    # A pending mandate's approval link after it expired
    from billing.api.requests import MandateCreate

    pending = world.api.mandates.create(
        MERCHANT, MandateCreate.model_validate({"plan_id": plan, "customer": {"reference": "c"}})
    ).id
    token = LINKS.token(MERCHANT, pending, world.clock.now() + timedelta(days=7))
    world.clock.current += timedelta(days=8)
    with pytest.raises(ExpiredLink):
        portal.update_tax_details(token, business().tax())
    assert world.get(pending).customer.tax is None
