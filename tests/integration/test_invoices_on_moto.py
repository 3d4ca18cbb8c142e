"""Invoices and credit notes end to end on moto: charges succeed, the real event publisher sends
each `charge.succeeded` (and later the `refund.succeeded`) to the FIFO receipt queue, the real
receipts function numbers the charges and issues their invoices, then the refund's credit note;
the merchant reads them at `GET /v1/invoices` with its filters. Redelivery issues nothing new."""

from __future__ import annotations

import boto3

from billing import bootstrap
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, active, stream_records
from tests.support.values import GOLD


def test_charges_get_invoices_and_refunds_credit_notes_listed_and_filtered(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a VAT-registered merchant with two paying mandates
    assert (
        call("PATCH", "/v1/account", {"vat_id": "LT100000019", "legal_name": "UAB Klubas", "credit_note_prefix": "KS"}).status
        == 200
    )
    plan = call("POST", "/v1/plans", GOLD).json()["id"]
    first, second = (str(active(call, plan, "pm_sim_ok")["id"]) for _ in range(2))
    engine.tick()
    receipts = load_function("receipts", bootstrap.Overrides(clock=engine.clock))
    source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction")
    )

    def publish() -> None:
        assert invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction") == {
            "batchItemFailures": []
        }
        assert source.drain().failed == 0

    # When the stream goes through the publisher and the receipt queue through the receipts function
    publish()
    # Then each succeeded charge has its invoice, numbered as its receipt
    invoices = call("GET", "/v1/invoices?type=invoice").json()["data"]
    charges = {c["id"]: c for c in call("GET", "/v1/charges").json()["data"]}
    assert sorted(i["number"] for i in invoices) == ["R-1", "R-2"]
    for invoice in invoices:
        charge = charges[invoice["charge_id"]]
        assert charge["invoice_id"] == invoice["id"] and charge["receipt_number"] == invoice["number"]
        assert invoice["total"] == charge["amount"] and invoice["seller"]["vat_id"] == "LT100000019"
    # When the first mandate's charge is partly refunded and the stream goes through again
    [charge] = [c for c in charges.values() if c["mandate_id"] == first]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}).status == 201
    engine.tick()
    publish()
    # Then its credit note is KS-1, correcting the charge's invoice, negative
    [note] = call("GET", "/v1/invoices?type=credit_note").json()["data"]
    assert (note["number"], note["corrects"], note["total"], note["charge_id"]) == (
        "KS-1",
        charge["invoice_id"],
        -500,
        charge["id"],
    )
    assert call("GET", f"/v1/invoices/{note['id']}").json() == note
    assert {i["type"] for i in call("GET", f"/v1/invoices?charge_id={charge['id']}").json()["data"]} == {"invoice", "credit_note"}
    assert [i["mandate_id"] for i in call("GET", f"/v1/invoices?mandate_id={second}").json()["data"]] == [second]
    # And another merchant sees none of them; a bad filter is refused
    other = system.client(system.b)
    assert other("GET", f"/v1/invoices/{note['id']}").status == 404
    assert other("GET", "/v1/invoices").json()["data"] == []
    assert call("GET", "/v1/invoices?type=receipt").status == 400
    # And the same messages delivered again issue nothing new
    publish()
    assert len(call("GET", "/v1/invoices?limit=100").json()["data"]) == 3


def test_the_invoice_and_credit_note_pages_pdfs_and_xml_agree_and_validate(
    system: System, call: Client, engine: EngineHarness
) -> None:
    """The signed page of each document (the charge's receipt link for its invoice, its own for a
    credit note), its PDF (text read back, the XML attached as Factur-X) and its XML (EN 16931:
    XSD and business rules) show the same totals, in Lithuanian here."""
    import io
    import re

    from pypdf import PdfReader

    from tests.integration.test_receipt_pages import get
    from tests.support.einvoice import assert_valid_en16931

    # Given a VAT-registered merchant's 21 % inclusive plan, a Lithuanian business customer, paid and refunded 3.00
    call("PATCH", "/v1/account", {"vat_id": "LT100000019", "legal_name": "UAB Klubas", "company_code": "304567890"})
    rate = call("POST", "/v1/tax_rates", {"display_name": "PVM", "percentage": "21", "country": "LT"}).json()["id"]
    plan = call("POST", "/v1/plans", {**GOLD, "amount": 1210, "tax_rate_id": rate}).json()["id"]
    body = {
        "plan_id": plan,
        "customer": {
            "reference": "c-1",
            "name": "Ona",
            "locale": "lt",
            "tax": {"type": "business", "company_name": "UAB Pirkėjas"},
        },
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": __import__("tests.support.values", fromlist=["CONSENT"]).CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()["id"]
    engine.tick()
    receipts = load_function("receipts", bootstrap.Overrides(clock=engine.clock))
    source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction")
    )

    def publish() -> None:
        invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
        assert source.drain().failed == 0

    publish()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate}").json()["data"]
    call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 300})
    engine.tick()
    publish()
    invoice = call("GET", f"/v1/invoices/{charge['invoice_id']}").json()
    [note] = call("GET", "/v1/invoices?type=credit_note").json()["data"]
    assert invoice["url"] == charge["receipt_url"] and note["url"] and note["url"] != invoice["url"]
    expected = {
        invoice["number"]: ("PVM sąskaita faktūra R-1", "12,10", "2,10", "10,00"),
        note["number"]: ("Kreditinė PVM sąskaita faktūra CN-1", "-3,00", "-0,52", "-2,48"),
    }
    for document in (invoice, note):
        title, total, tax, net = expected[document["number"]]
        # The HTML page
        page = get(system, document["url"])
        assert page.status == 200
        html = re.sub(r"\s+", " ", page.body.replace("\xa0", " "))
        for shown in (title, total, tax, net, "UAB Pirkėjas", "304567890"):
            assert shown in html, (shown, html)
        # The XML: EN 16931, the same totals
        xml = get(system, document["url"] + "?format=xml")
        assert xml.status == 200 and xml.headers["Content-Type"].startswith("application/xml")
        said = assert_valid_en16931(xml.body.encode("utf-8"))
        sign = -1 if document["type"] == "credit_note" else 1
        assert (said["grand_total"] * 100 * sign, said["tax"] * 100 * sign) == (document["total"], document["tax_amount"])
        # The PDF: the same totals in its text, and the same XML attached (Factur-X)
        pdf = get(system, document["url"] + "?format=pdf")
        assert pdf.status == 200 and pdf.raw.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf.raw))
        text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages).replace("\xa0", " "))
        for shown in (title, total, tax, net):
            assert shown in text, (shown, text)
        assert reader.attachments["factur-x.xml"] == [xml.body.encode("utf-8")]


def test_the_merchant_gets_each_document_as_pdf_and_xml(system: System, call: Client, engine: EngineHarness) -> None:
    import io

    from pypdf import PdfReader

    from tests.support.einvoice import assert_valid_en16931

    call("PATCH", "/v1/account", {"vat_id": "LT100000019", "legal_name": "UAB Klubas"})
    plan = call("POST", "/v1/plans", GOLD).json()["id"]
    active(call, plan, "pm_sim_ok")
    engine.tick()
    receipts = load_function("receipts", bootstrap.Overrides(clock=engine.clock))
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    SqsEventSource(
        boto3.client("sqs"), system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction")
    ).drain()
    [invoice] = call("GET", "/v1/invoices").json()["data"]
    xml = call("GET", f"/v1/invoices/{invoice['id']}?format=xml")
    assert xml.status == 200 and xml.headers["Content-Type"].startswith("application/xml")
    assert assert_valid_en16931(xml.body.encode("utf-8"))["grand_total"] * 100 == invoice["total"]
    pdf = call("GET", f"/v1/invoices/{invoice['id']}?format=pdf")
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.raw))
    assert reader.attachments["factur-x.xml"] == [xml.body.encode("utf-8")]
    assert call("GET", f"/v1/invoices/{invoice['id']}?format=docx").status == 400
    assert system.client(system.b)("GET", f"/v1/invoices/{invoice['id']}?format=pdf").status == 404
