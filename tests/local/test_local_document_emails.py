"""`make local` over HTTP: a merchant asks for the invoice PDF with the e-mails; a charge and a
refund later, `GET /_local/emails` lists the receipt and the credit note e-mails, each naming its
document and carrying its PDF (by name, type and size), next to the link."""

from __future__ import annotations

from tests.local.conftest import Http, merchant


def test_the_receipt_and_credit_note_e_mails_carry_their_pdf_when_the_account_asks(local: str) -> None:
    # Given a merchant that wants the PDF with its customers' e-mails (and says so in GET /v1/account)
    call = merchant(local, "Knygynas")
    status, account = call("PATCH", "/v1/account", {"notifications": {"invoice_pdf": True}, "legal_name": "UAB Knygynas"})
    assert status == 200 and account["notifications"]["invoice_pdf"] is True
    assert call("GET", "/v1/account")[1]["notifications"]["invoice_pdf"] is True
    assert call("PATCH", "/v1/account", {"notifications": {"invoice_pdf": None}})[0] == 422
    # And a customer with an address, charged, then refunded 5.00
    _, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    now = Http(local)("GET", "/_local/clock")[1]["now"]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "pdf", "email": "ona@example.lt", "locale": "en"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": {"accepted_at": now},
    }
    _, mandate = call("POST", "/v1/mandates", body)
    Http(local)("POST", "/_local/tick")
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500})[0] == 201
    Http(local)("POST", "/_local/tick")
    # When the e-mails the emulated SES took are listed
    emails = [e for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["mandate_id"] == mandate["id"]]
    by_kind = {e["kind"]: e for e in emails}
    # Then the receipt carries the invoice and the credit note e-mail the credit note: named, linked, attached
    assert sorted(e["kind"] for e in emails) == ["credit_note", "mandate_activated", "receipt"]
    [note] = call("GET", f"/v1/invoices?type=credit_note&mandate_id={mandate['id']}")[1]["data"]
    invoice = call("GET", f"/v1/invoices/{charge['invoice_id']}")[1]
    for kind, document, title in (("receipt", invoice, "Invoice"), ("credit_note", note, "Credit note")):
        sent = by_kind[kind]
        assert sent["subject"] == f"Knygynas: {title} {document['number']}" and sent["to"] == "ona@example.lt"
        assert document["url"].split("/customer/", 1)[1] in sent["text"]
        [file] = sent["attachments"]
        assert file["filename"] == f"{document['number']}.pdf" and file["content_type"] == "application/pdf"
        assert 10_000 < file["size"] < 10 * 1024 * 1024  # a real PDF, well under SES's 10 MB
    # And the activation e-mail carries nothing
    assert by_kind["mandate_activated"]["attachments"] == []
