"""Adversarial review of issue 24 (the merchant's books), documents: every invoice and credit note
validates as EN 16931 (XSD and business rules) whatever the merchant or the customer typed and
whatever they edited since, and an issued document never changes. Each test fails on the code as it
landed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from billing.api.requests import AccountUpdate, PlanUpdate, TaxRateCreate
from billing.customer_page import render
from billing.domain.errors import ValidationFailed
from billing.domain.invoices import Invoice
from billing.service.customer_portal import receipt_view
from billing.service.event_publishing import receipt_request
from billing.shapes.einvoice import cii_xml
from tests.support.einvoice import business_rule_failures
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund

GERMAN_BUSINESS = {"type": "business", "company_name": "Beispiel GmbH", "vat_id": "DE136695976", "address": {"country": "DE"}}


def handle(books: Books) -> None:
    """The receipt queue's batch (documents checked by the tests themselves, one by one)."""
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def failures(document: Invoice) -> list[str]:
    return business_rule_failures(cii_xml(document))


# ------------------------------------------------------------------ the seller edits its VAT id
def test_a_merchant_with_tax_rates_cannot_drop_its_vat_id_so_its_reverse_charged_invoices_stay_valid() -> None:
    # Given a VAT-registered merchant billing a German business (reverse charge), invoice R-1 valid
    books = Books()
    books.paid_charge({"tax": GERMAN_BUSINESS}, amount=1210, tax_rate_id=books.rate())
    handle(books)
    # When the merchant tries to remove its VAT id, Then it is refused (a reverse charge, like any
    # rated charge, needs the seller's VAT id: BR-AE-02), and the next month's invoice is valid
    with pytest.raises(ValidationFailed):
        books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": None}))
    books.world.clock.advance(days=32)
    books.world.tick()
    handle(books)
    latest = max(books.invoices(type="invoice"), key=lambda i: i.seq)
    assert latest.number == "R-2" and latest.reverse_charge
    assert failures(latest) == []


def test_a_credit_note_of_a_reverse_charged_vat_invoice_stays_valid_after_the_seller_edits_its_vat_id() -> None:
    # Given a reverse-charged VAT invoice to a German business
    books = Books()
    charge_id = books.paid_charge({"tax": GERMAN_BUSINESS}, amount=1210, tax_rate_id=books.rate())
    handle(books)
    invoice = books.invoice(charge_id)
    assert invoice.reverse_charge and failures(invoice) == []
    # When the merchant changes its VAT id, then refunds 5.00 of that invoice
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100000019"}))
    refund(books.world, charge_id, amount=500)
    books.world.tick()
    handle(books)
    # Then the credit note names the seller of the invoice it corrects, is a VAT credit note and validates
    [note] = books.invoices(type="credit_note")
    assert note.seller == invoice.seller and note.seller.vat_id == "LT100001919017"
    assert failures(note) == []
    assert note.title("en") == "VAT credit note"


# ---------------------------------------------------------- what the merchant or the customer typed
def _accepted(update: dict[str, Any]) -> bool:
    try:
        AccountUpdate.model_validate(update)
    except ValidationError:
        return False
    return True


def test_an_account_vat_id_typed_in_lower_case_still_gives_valid_documents() -> None:
    # Given a merchant that typed its VAT id in lower case (the API took it as it is)
    if not _accepted({"vat_id": "lt100001919017"}):
        return
    books = Books(vat_id="lt100001919017")
    # When a charge is invoiced
    charge_id = books.paid_charge(amount=1210, tax_rate_id=books.rate())
    handle(books)
    # Then the invoice validates (BR-CO-09: a VAT id starts with its upper-case country prefix)
    assert failures(books.invoice(charge_id)) == []


def test_a_tax_rate_country_outside_iso_3166_is_refused_or_never_reaches_a_document() -> None:
    # Given a merchant without a VAT id whose default rate's country is "ZZ" (no such country)
    books = Books(vat_id=None)
    body = {"display_name": "Tax", "percentage": "0", "country": "ZZ"}
    try:
        rate_id = books.world.api.tax_rates.create(MERCHANT, TaxRateCreate.model_validate(body)).id
    except (ValidationError, ValidationFailed):
        return  # refused: the contract says ISO 3166-1 alpha-2
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"default_tax_rate_id": rate_id}))
    # When a charge is invoiced
    charge_id = books.paid_charge(amount=1000)
    handle(books)
    # Then its document names a real country (the seller's country comes from that rate)
    invoice = books.invoice(charge_id)
    assert not [f for f in failures(invoice) if "CountryID" in f], invoice.seller.country


def test_a_buyer_address_country_outside_iso_3166_is_refused_or_never_reaches_a_document() -> None:
    # Given a business customer whose address country is "ZZ"
    books = Books()
    buyer = {"type": "business", "company_name": "Nowhere Ltd", "address": {"country": "ZZ"}}
    try:
        charge_id = books.paid_charge({"tax": buyer}, amount=1210, tax_rate_id=books.rate())
    except (ValidationError, ValidationFailed):
        return
    handle(books)
    # Then its invoice still validates
    assert failures(books.invoice(charge_id)) == []


def test_control_characters_in_a_customer_name_never_break_the_xml_of_an_invoice() -> None:
    # Given a customer whose name holds a control character (the API's customer.name has no text rule)
    books = Books()
    try:
        charge_id = books.paid_charge({"name": "Ona\u000bPetraitė"}, amount=1210, tax_rate_id=books.rate())
    except (ValidationError, ValidationFailed):
        return  # refused with a 422
    handle(books)
    # When the invoice's XML is asked for (GET /v1/invoices/{id}?format=xml, its PDF, the customer's page)
    # Then it is produced (lxml refuses control characters: a 500 today)
    xml = cii_xml(books.invoice(charge_id))
    assert xml.startswith(b"<?xml")


def test_control_characters_in_an_item_description_never_break_the_xml_of_an_invoice() -> None:
    from billing.api.requests import ItemCreate

    # Given a mandate whose next charge carries an item described with a control character
    books = Books()
    rate = books.rate()
    charge_id = books.paid_charge(amount=1210, tax_rate_id=rate)
    handle(books)
    mandate_id = books.world.api.charges.get(MERCHANT, charge_id).mandate_id
    try:
        books.world.api.items.create(
            MERCHANT, mandate_id, ItemCreate.model_validate({"amount": 100, "description": "Towel\u0007"})
        )
    except (ValidationError, ValidationFailed):
        return
    books.world.clock.advance(days=32)
    books.world.tick()
    handle(books)
    latest = max(books.invoices(type="invoice"), key=lambda i: i.seq)
    assert latest.number == "R-2"
    # Then its XML is produced
    assert cii_xml(latest).startswith(b"<?xml")


# ------------------------------------------------------------------- issued documents never change
def test_an_issued_invoice_page_does_not_change_when_the_plan_or_the_account_is_renamed() -> None:
    # Given an issued invoice, as its page and PDF show it
    books = Books()
    charge_id = books.paid_charge(amount=1210, tax_rate_id=books.rate())
    handle(books)

    def shown() -> dict[str, Any]:
        view = receipt_view(books.world.repo, MERCHANT, charge_id)
        assert view is not None and view.invoice is not None
        return render.receipt_document(view, "en")

    before = shown()
    # When the merchant renames the plan and its account afterwards
    plan_id = books.world.api.charges.get(MERCHANT, charge_id).plan_id
    books.world.api.plans.update(MERCHANT, plan_id, PlanUpdate.model_validate({"name": "Platinum 2027"}))
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"name": "Another brand"}))
    # Then the issued document reads the same (the contract: later edits never change an issued document)
    after = shown()
    assert after["merchant_name"] == before["merchant_name"] and after["fields"] == before["fields"]
    assert "Platinum 2027" not in str(after) and "Another brand" not in str(after)


# ------------------------------------------------------------------ the fixes of the findings above
def test_control_characters_are_refused_in_every_free_text_that_reaches_a_document() -> None:
    import pytest

    from billing.api.requests import CustomerIn, CustomerUpdate, ItemCreate, PlanCreate

    # When a name, a description or a reference holds a control character, Then the request is a 422
    bad = "Ona\u000bPetraitė"
    refused = [
        (CustomerIn, {"reference": "c-1", "name": bad}),
        (CustomerIn, {"reference": "c\u0007-1"}),
        (CustomerUpdate, {"name": bad}),
        (ItemCreate, {"amount": 100, "description": "Towel\u0007"}),
        (PlanCreate, {"name": "Gold\u0000", "amount": 100, "currency": "EUR", "interval": "month"}),
        (PlanUpdate, {"name": "Gold\u001b"}),
        (AccountUpdate, {"legal_name": "UAB\u0085Klubas"}),
        (AccountUpdate, {"address": "Gedimino pr. 1\nVilnius\u0007"}),
    ]
    for model, body in refused:
        with pytest.raises(ValidationError):
            model.model_validate(body)
    # And an address keeps its line breaks
    assert AccountUpdate.model_validate({"address": "Gedimino pr. 1\r\nVilnius"}).address == "Gedimino pr. 1\r\nVilnius"


def test_the_customer_pages_business_form_refuses_control_characters() -> None:
    import pytest

    from billing.customer_page import forms

    body = {"csrf": "c", "type": "business", "company_name": "UAB\u0007Kepykla", "country": "LT"}
    with pytest.raises(ValidationError):
        forms.BusinessForm.model_validate(body)


def test_a_document_of_a_customer_name_stored_before_the_rule_still_gives_its_xml_and_pdf() -> None:
    from billing.domain.model import Mandate
    from billing.service.ports import Changes
    from tests.support.einvoice import assert_valid_en16931

    # Given a charge whose customer's name was stored with control characters (before the rule)
    books = Books()
    charge_id = books.paid_charge(amount=1210, tax_rate_id=books.rate())
    mandate_id = books.world.api.charges.get(MERCHANT, charge_id).mandate_id
    mandate = books.world.repo.get(Mandate, MERCHANT, mandate_id)
    assert mandate is not None
    mandate.customer = mandate.customer.model_copy(update={"name": "Ona\u000bPetraitė\u0000\ufffe"})
    books.world.repo.commit(Changes(put=[mandate]))
    # When its invoice is issued and asked for as XML and PDF
    handle(books)
    invoice = books.invoice(charge_id)
    assert invoice.buyer.name == "Ona\u000bPetraitė\u0000\ufffe"  # the copy is what was stored
    # Then the XML is produced and valid (what XML cannot hold is a space), and so is the PDF
    assert_valid_en16931(cii_xml(invoice))
    assert b"Ona Petrait" in cii_xml(invoice)
    view = receipt_view(books.world.repo, MERCHANT, charge_id)
    assert view is not None
    assert render.receipt_pdf(view, "en").startswith(b"%PDF")


def test_an_issued_invoice_keeps_its_plan_name_and_seller_name_while_credit_notes_follow_it() -> None:
    # Given an issued invoice, then the plan and the account renamed
    books = Books()
    charge_id = books.paid_charge(amount=1210, tax_rate_id=books.rate())
    handle(books)
    plan_id = books.world.api.charges.get(MERCHANT, charge_id).plan_id
    before = books.world.api.plans.get(MERCHANT, plan_id).name
    books.world.api.plans.update(MERCHANT, plan_id, PlanUpdate.model_validate({"name": "Platinum 2027"}))
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"name": "Another brand"}))
    # When the charge is refunded after the renames
    refund(books.world, charge_id, amount=500)
    books.world.tick()
    handle(books)
    # Then the invoice shows the names of its day, and so does its credit note (its seller is the invoice's)
    invoice = books.invoice(charge_id)
    [note] = books.invoices(type="credit_note")
    assert invoice.plan_name == before and invoice.seller.name != "Another brand"
    assert note.seller == invoice.seller
    books.every_document_validates()
