"""The receipt e-mail carries the charge's invoice and the credit note e-mail the refund's credit
note: named in the subject and text (Invoice / VAT invoice / Credit note, en and lt), always
linked, and their PDF (Factur-X: the same document as `?format=pdf`, its EN 16931 XML attached)
attached only where the account asks (`notifications.invoice_pdf`). A PDF that cannot be made
leaves the e-mail with its link (counted), never unsent; each e-mail still goes once. On fakes."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader

from billing import bootstrap
from billing.api.requests import AccountUpdate
from billing.domain.invoices import Invoice
from billing.emails.render import JinjaEmails
from billing.service.customer_portal import receipt_view
from billing.service.links import ApprovalLinks
from billing.service.notifications import NotificationRequests, Notifier
from billing.shapes.einvoice import cii_xml
from tests.fakes import FakeMailer
from tests.support.einvoice import assert_valid_en16931
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund

LINKS = ApprovalLinks(b"k" * 32, "https://pay.test")


def refunded_books(locale: str, vat_id: str | None = "LT100001919017", invoice_pdf: bool | None = True) -> tuple[Books, str]:
    """A merchant's customer (with an address, in `locale`) paid 12.10 and was refunded 5.00; the
    receipts function has issued the invoice and the credit note and asked for their e-mails."""
    books = Books(vat_id=vat_id)
    if invoice_pdf is not None:
        books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"notifications": {"invoice_pdf": invoice_pdf}}))
    rate = {"tax_rate_id": books.rate()} if vat_id else {}  # a seller without a VAT id charges no VAT
    charge_id = books.paid_charge({"locale": locale}, amount=1210, **rate)
    books.publish()
    refund(books.world, charge_id, amount=500)
    books.world.tick()
    books.publish()
    return books, charge_id


def send(books: Books, documents: Any = bootstrap.document_pdf, twice: bool = False) -> tuple[FakeMailer, NotificationRequests]:
    mailer = FakeMailer()
    notifier = Notifier(books.world.repo, books.world.clock, mailer, LINKS, JinjaEmails(), documents)
    requests = NotificationRequests(notifier)
    messages = [m for m in books.world.notification_queue.take() if m.kind in ("receipt", "credit_note")]
    for _ in range(2 if twice else 1):
        requests.last = requests.handle(messages)  # type: ignore[attr-defined]
    return mailer, requests


def pdf_text(pdf: bytes) -> str:
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\xa0", " "))


def served_pdf(books: Books, document: Invoice) -> bytes:
    """What the document's link serves at `?format=pdf` (and the API at /v1/invoices/{id}?format=pdf)."""
    view = receipt_view(books.world.repo, MERCHANT, document.charge_id, document)
    assert view is not None
    return bootstrap.document_pdf(view, document.locale)


TITLES = {
    ("en", True): ("VAT invoice R-1", "VAT credit note CN-1"),
    ("lt", True): ("PVM sąskaita faktūra R-1", "Kreditinė PVM sąskaita faktūra CN-1"),
    ("en", False): ("Invoice R-1", "Credit note CN-1"),
    ("lt", False): ("Sąskaita faktūra R-1", "Kreditinė sąskaita faktūra CN-1"),
}


@pytest.mark.parametrize("vat", [True, False])
@pytest.mark.parametrize("locale", ["en", "lt"])
def test_receipt_and_credit_note_e_mails_name_link_and_attach_their_documents_pdf(locale: str, vat: bool) -> None:
    # Given a merchant who wants the PDF with the e-mails, a paid and partly refunded charge
    books, charge_id = refunded_books(locale, vat_id="LT100001919017" if vat else None)
    invoice = books.invoice(charge_id)
    [note] = books.invoices(type="credit_note")
    # When the notifier sends what the receipts function asked for
    mailer, _ = send(books)
    # Then the receipt e-mail is named after the invoice, in the customer's language, naming the merchant
    invoice_title, note_title = TITLES[(locale, vat)]
    by_kind = {m["tags"]["kind"]: m for m in mailer.sent}
    assert set(by_kind) == {"receipt", "credit_note"}
    receipt, credit = by_kind["receipt"], by_kind["credit_note"]
    assert receipt["subject"] == f"{MERCHANT}: {invoice_title}" and credit["subject"] == f"{MERCHANT}: {note_title}"
    for sent, document, title in ((receipt, invoice, invoice_title), (credit, note, note_title)):
        url = LINKS.invoice_url(document)
        assert url is not None
        # And text and HTML say which document it is and link it
        assert title in sent["text"] and url in sent["text"] and url in sent["html"].replace("&amp;", "&")
        assert title in sent["html"]
        attached = {"en": "The PDF is attached", "lt": "PDF prisegtas"}[locale]
        assert attached in sent["text"] and attached in sent["html"]
        # And the file attached is the document's PDF: what its link serves, its EN 16931 XML embedded
        [file] = sent["attachments"]
        assert (file.filename, file.content_type) == (f"{document.number}.pdf", "application/pdf")
        assert file.data.startswith(b"%PDF") and pdf_text(file.data) == pdf_text(served_pdf(books, document))
        xml = PdfReader(io.BytesIO(file.data)).attachments["factur-x.xml"]
        assert xml == [cii_xml(document)]
        said = assert_valid_en16931(xml[0])
        assert said["number"] == document.number and abs(said["grand_total"] * 100) == abs(document.total)
        assert title in pdf_text(file.data)


@pytest.mark.parametrize("setting", [None, False])
def test_without_the_setting_the_e_mails_carry_the_link_and_no_file(setting: bool | None) -> None:
    # Given an account that never asked for the PDF (the default), or switched it off
    books, charge_id = refunded_books("en", invoice_pdf=setting)
    # When the e-mails go
    mailer, _ = send(books)
    # Then both go, each with its document's link and no attachment, and do not speak of one
    assert sorted(m["tags"]["kind"] for m in mailer.sent) == ["credit_note", "receipt"]
    [note] = books.invoices(type="credit_note")
    for sent in mailer.sent:
        document = books.invoice(charge_id) if sent["tags"]["kind"] == "receipt" else note
        assert sent["attachments"] == [] and "attached" not in sent["text"]
        assert str(LINKS.invoice_url(document)) in sent["text"]


def test_a_pdf_that_cannot_be_made_leaves_the_e_mail_with_its_link_counted_and_sent_once() -> None:
    # Given an account that wants the PDF, and a PDF renderer that fails
    books, charge_id = refunded_books("lt")

    def broken(view: Any, lang: str) -> bytes:
        raise RuntimeError("font missing")

    # When the e-mails go (and the requests are delivered twice)
    mailer, requests = send(books, documents=broken, twice=True)
    # Then each goes once, with its link and without a file, and the batch counts them for the alarm
    assert sorted(m["tags"]["kind"] for m in mailer.sent) == ["credit_note", "receipt"]
    assert all(m["attachments"] == [] and "/customer/receipts/" in m["text"] for m in mailer.sent)
    assert all("PDF prisegtas" not in m["text"] for m in mailer.sent)
    assert requests.notifier.attachments_missing == 2
    assert requests.last.counts.get("EmailAttachmentsMissing") is None  # type: ignore[attr-defined]  # the redelivery made none


def test_the_missing_pdf_is_counted_as_a_metric_of_the_batch() -> None:
    books, _ = refunded_books("en")
    mailer = FakeMailer()

    def broken(view: Any, lang: str) -> bytes:
        raise RuntimeError("boom")

    requests = NotificationRequests(Notifier(books.world.repo, books.world.clock, mailer, LINKS, JinjaEmails(), broken))
    batch = requests.handle([m for m in books.world.notification_queue.take() if m.kind in ("receipt", "credit_note")])
    assert batch.counts["EmailAttachmentsMissing"] == 2 and batch.counts["EmailsSent"] == 2


def test_a_pdf_too_large_for_ses_is_left_out_and_the_e_mail_goes_with_its_link() -> None:
    from billing.service.notifications import MAX_ATTACHMENT_BYTES

    books, _ = refunded_books("en")
    mailer, requests = send(books, documents=lambda view, lang: b"%PDF" + b"0" * MAX_ATTACHMENT_BYTES)
    assert len(mailer.sent) == 2 and all(m["attachments"] == [] for m in mailer.sent)
    assert requests.notifier.attachments_missing == 2


def test_the_invoice_and_credit_note_events_carry_the_documents_signed_link() -> None:
    from billing.service.invoices import Invoicing
    from billing.service.receipts import ReceiptRequests
    from billing.shapes import render_event

    # Given the receipts function with the customer links' signer
    books = Books()
    books.invoicing = Invoicing(books.world.repo, books.world.clock, books.world.ids, books.numbering, LINKS)
    books.receipts = ReceiptRequests(books.world.repo, books.numbering, books.world.notification_queue, books.invoicing)
    charge_id = books.paid_charge()
    books.publish()
    refund(books.world, charge_id, amount=500)
    books.world.tick()
    books.publish()
    # When its events are read
    events = {e.type: render_event(e) for e in books.world.repo.events(MERCHANT)}
    # Then each names its document's link, which verifies as that document of this merchant
    invoice, [note] = books.invoice(charge_id), books.invoices(type="credit_note")
    for kind, document in (("invoice.issued", invoice), ("credit_note.issued", note)):
        url = events[kind]["data"]["object"]["url"]
        assert url == LINKS.invoice_url(document)
        named = LINKS.verify_receipt(url.rsplit("/", 1)[1])
        assert named == (MERCHANT, document.charge_id if document.type == "invoice" else document.id)
