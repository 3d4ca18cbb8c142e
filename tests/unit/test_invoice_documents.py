"""What an invoice and a credit note say, in each language (en, lt): every word a customer reads
on the HTML page, in the PDF and in the EN 16931 XML is the document's language, dates, money and
percentages written by Babel for it; the document date is the day of issue (the payment date shown
apart); a 4-decimal rate is written exactly; a card shows the last four the gateway described.
The stored document is locale-neutral: one issued document reads in either language."""

from __future__ import annotations

import io
from typing import Any

from lxml import etree
from pypdf import PdfReader

from billing.api.requests import AccountUpdate, PlanUpdate
from billing.customer_page.render import receipt_document, receipt_page, receipt_pdf
from billing.domain.invoices import Invoice
from billing.domain.model import PaymentMethod
from billing.service.customer_portal import receipt_view
from billing.shapes import document_text
from billing.shapes.einvoice import cii_xml
from tests.support.einvoice import NS, assert_valid_en16931
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund

NBSP = "\xa0"


def refunded_invoice(books: Books, locale: str = "lt", percentage: str = "21") -> tuple[Invoice, Invoice]:
    """A 12.10 charge (PVM included) of a customer of `locale`, invoiced, then 6.05 refunded."""
    charge_id = books.paid_charge({"locale": locale}, amount=1210, tax_rate_id=books.rate(percentage))
    books.publish()
    refund(books.world, charge_id, amount=605)
    books.world.tick()
    books.publish()
    [note] = books.invoices(type="credit_note")
    return books.invoice(charge_id), note


def document(books: Books, invoice: Invoice, lang: str) -> dict[str, Any]:
    view = receipt_view(books.world.repo, MERCHANT, invoice.charge_id, invoice)
    assert view is not None
    return receipt_document(view, lang)  # type: ignore[arg-type]


def fields(shown: dict[str, Any]) -> dict[str, list[str]]:
    return {f["label"]: f["lines"] for f in shown["fields"]}


def xml_texts(xml: bytes, path: str) -> list[str]:
    return [str(t) for t in etree.fromstring(xml).xpath(f"{path}/text()", namespaces=NS)]


def test_a_lithuanian_invoice_and_its_credit_note_read_in_lithuanian_on_the_page_in_the_pdf_and_in_the_xml() -> None:
    # Given a Lithuanian customer's invoice R-1 (a monthly plan from 25 November) and its credit note CN-1
    books = Books()
    invoice, note = refunded_invoice(books, "lt")
    # When the invoice is shown in Lithuanian
    shown = document(books, invoice, "lt")
    # Then the seller and buyer, the invoice date and the payment date have their Lithuanian names
    labels = fields(shown)
    assert list(labels)[:4] == ["Sąskaitos data", "Mokėjimo data", "Pardavėjas", "Pirkėjas"], list(labels)
    assert labels["Sąskaitos data"] == ["2026 m. lapkričio 25 d."]
    # And its line says what it is in Lithuanian, the period with its last day (as the XML's)
    period = "2026 m. lapkričio 25 d. – 2026 m. gruodžio 25 d."
    assert [line["description"] for line in shown["lines"]] == [f"Prenumerata „Gold“, {period}"]
    assert labels["Laikotarpis"] == [period]
    # And the VAT part is an accountant's: taxable amount, VAT per rate, total, money the Lithuanian way
    assert [(v["description"], v["amount"]) for v in shown["vat"]] == [(f"PVM 21{NBSP}% nuo 10,00{NBSP}€", f"2,10{NBSP}€")]
    assert (shown["labels"]["net_total"], shown["net_total"], shown["labels"]["total"], shown["total"]) == (
        "Apmokestinamoji vertė",
        f"10,00{NBSP}€",
        "Iš viso",
        f"12,10{NBSP}€",
    )
    assert "Simulated, baigiasi 4242" in labels["Mokėjimo būdas"]
    # When the credit note is shown
    credit = document(books, note, "lt")
    # Then it names the invoice it corrects and why, and its line is Lithuanian too
    labels = fields(credit)
    assert credit["title"] == "Kreditinė PVM sąskaita faktūra CN-1"
    assert (labels["Koreguojama sąskaita"], labels["Koregavimo priežastis"]) == (["R-1"], ["pinigų grąžinimas"])
    assert [line["description"] for line in credit["lines"]] == ["Pinigų grąžinimas pagal sąskaitą R-1"]
    # And nothing English is left on either page
    for page in (receipt_page(view, "lt", "n", "/r") for view in map(_view(books), (invoice, note))):
        for english in ("Cycle", "Refund", " to ", "Seller", "Buyer", "Date", "Total"):
            assert english not in page, (english, page)
    # And the PDF says the same (read back)
    pdf = receipt_pdf(_view(books)(invoice), "lt")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("Pardavėjas", "Pirkėjas", "Sąskaitos data", "Mokėjimo data", "Prenumerata", "Apmokestinamoji vertė"):
        assert expected in text, (expected, text)
    # And the XML's line names and notes are in the document's language (Lithuanian)
    assert xml_texts(cii_xml(invoice), ".//ram:SpecifiedTradeProduct/ram:Name") == [f"Prenumerata „Gold“, {period}"]
    credit_xml = cii_xml(note)
    assert xml_texts(credit_xml, ".//ram:SpecifiedTradeProduct/ram:Name") == ["Pinigų grąžinimas pagal sąskaitą R-1"]
    assert xml_texts(credit_xml, ".//ram:IncludedNote/ram:Content") == ["Koreguojama sąskaita R-1 (pinigų grąžinimas)."]


def _view(books: Books) -> Any:
    def view(invoice: Invoice) -> Any:
        found = receipt_view(books.world.repo, MERCHANT, invoice.charge_id, invoice)
        assert found is not None
        return found

    return view


def test_the_same_stored_document_reads_in_english_when_asked_in_english() -> None:
    # Given a Lithuanian customer's invoice and credit note (stored once, locale-neutral)
    books = Books()
    invoice, note = refunded_invoice(books, "lt")
    # When they are shown in English
    shown, credit = document(books, invoice, "en"), document(books, note, "en")
    # Then every label, line and amount is English
    assert list(fields(shown))[:4] == ["Invoice date", "Payment date", "Seller", "Buyer"]
    assert [line["description"] for line in shown["lines"]] == ["Subscription “Gold”, 25 November 2026 – 25 December 2026"]
    assert [v["description"] for v in shown["vat"]] == ["VAT 21% of €10.00"] and shown["labels"]["net_total"] == "Taxable amount"
    assert credit["title"] == "VAT credit note CN-1"
    assert (fields(credit)["Corrects invoice"], fields(credit)["Reason"]) == (["R-1"], ["refund"])
    assert [line["description"] for line in credit["lines"]] == ["Refund, invoice R-1"]


def test_the_document_date_is_the_day_of_issue_and_the_payment_date_is_shown_apart() -> None:
    # Given a charge paid on 25 November whose invoice is issued a day later (the receipts function was late)
    books = Books()
    charge_id = books.paid_charge({"locale": "en"}, amount=1210, tax_rate_id=books.rate())
    books.world.clock.advance(days=1)
    books.publish()
    invoice = books.invoice(charge_id)
    assert invoice.issued_at.date().isoformat() == "2026-11-26"
    # When it is shown
    labels = fields(document(books, invoice, "en"))
    # Then its date is the day of issue, and the payment date is the day the money was taken
    assert (labels["Invoice date"], labels["Payment date"]) == (["26 November 2026"], ["25 November 2026"])
    # And the XML's issue date (BT-2) is the day of issue too
    xml = cii_xml(invoice)
    assert xml_texts(xml, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString") == ["20261126"]


def test_a_rate_of_four_decimals_is_written_exactly_and_the_documents_validate() -> None:
    # Given a rate of 9.1234 % (the contract's 4 decimals), on an invoice and its credit note
    books = Books()
    invoice, note = refunded_invoice(books, "lt", percentage="9.1234")
    for issued in (invoice, note):
        # When its XML is written
        xml = cii_xml(issued)
        # Then it validates (XSD, EN 16931 business rules, sums)
        said = assert_valid_en16931(xml)
        # And the rate is exact in the VAT breakdown and on every line (not rounded to 2 decimals)
        assert [b[1] for b in said["breakdown"]] == ["9.1234"]
        assert set(xml_texts(xml, ".//ram:RateApplicablePercent")) == {"9.1234"}
    # And the page writes it exactly, the Lithuanian way
    assert document(books, invoice, "lt")["vat"][0]["description"].startswith(f"PVM 9,1234{NBSP}% nuo")


def test_percentages_keep_every_digit_in_each_language() -> None:
    assert [document_text.percentage(p, "en") for p in ("21", "5.5", "21.0001", "0")] == ["21%", "5.5%", "21.0001%", "0%"]
    assert document_text.percentage("0.0001", "lt") == f"0,0001{NBSP}%"


def test_a_simulated_card_shows_the_last_four_the_gateway_describes() -> None:
    # Given a card paid with the simulated gateway's always-succeeding card
    books = Books()
    charge_id = books.paid_charge({"locale": "en"})
    books.publish()
    invoice = books.invoice(charge_id)
    # Then the invoice shows the test card's last four, not the end of its token
    paid_with = fields(document(books, invoice, "en"))["Paid with"]
    assert paid_with == ["Simulated ending in 4242"]
    # And a method the network replaced (pm_sim_card_updated) shows its new last four; a test IBAN its own
    updated = PaymentMethod(gateway="simulated", token="pm_sim_card_updated").model_copy(update={"last4": "4444"})
    assert updated.shown_last4 == "4444"
    assert PaymentMethod(gateway="simulated", token="pm_sim_sepa_ok").shown_last4 == "3000"
    # And a method stored before last four digits were kept falls back to its token's end
    assert PaymentMethod(gateway="stripe", token="pm_1Q2w3E4r5T6y7U8i").shown_last4 == "7U8i"


def test_later_edits_of_the_seller_or_the_plan_never_change_an_issued_document() -> None:
    # Given an issued invoice of plan "Gold"
    books = Books()
    invoice, _ = refunded_invoice(books, "en")
    # When the merchant changes its legal name and renames the plan afterwards
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"legal_name": "UAB Kitas"}))
    charge = books.world.api.charges.get(MERCHANT, invoice.charge_id)
    books.world.api.plans.update(MERCHANT, charge.plan_id, PlanUpdate.model_validate({"name": "Platinum"}))
    # Then the invoice's page still names the seller and the plan as they were at issue
    shown = document(books, invoice, "en")
    assert fields(shown)["Seller"][0] == "UAB Sporto klubas" and fields(shown)["Plan"] == ["Gold"]
    assert shown["lines"][0]["description"].startswith("Subscription “Gold”, ")


def test_an_amount_not_subject_to_vat_is_never_called_taxable() -> None:
    # Given a merchant without a VAT id: its invoice's amounts are not subject to VAT
    books = Books(vat_id=None)
    charge_id = books.paid_charge({"locale": "lt"})
    books.publish()
    shown = document(books, books.invoice(charge_id), "lt")
    # Then the sum is "without VAT", not a taxable amount, and the VAT row says it is not subject to it
    assert shown["title"].startswith("Sąskaita faktūra ") and shown["labels"]["net_total"] == "Suma be PVM"
    assert [v["description"] for v in shown["vat"]] == ["PVM neapmokestinama"]
    assert document(books, books.invoice(charge_id), "en")["labels"]["net_total"] == "Total without VAT"
