"""The receipt and credit note e-mails on moto, end to end: the publisher, the receipts function
(issuing the documents, their events carrying the signed link), the notifier through the real SES
adapter. What SES received is parsed back with the `email` package: the document's PDF attached
only for the merchant that asked for it (`notifications.invoice_pdf`), its link always there."""

from __future__ import annotations

import email
import io
from email.message import EmailMessage
from email.policy import default
from typing import Any

import boto3
from moto.ses.models import ses_backends
from pypdf import PdfReader

from billing import bootstrap
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.integration.test_receipt_pages import get
from tests.support.einvoice import assert_valid_en16931
from tests.support.system import Client, EngineHarness, System, stream_records
from tests.support.values import CONSENT, GOLD


def signed(url: str) -> str:
    """A customer link's signed part (`/customer/receipts/<token>`), whatever base URL it is under."""
    return "/customer/" + url.split("/customer/", 1)[1]


def sent_by_ses() -> list[Any]:
    """Every message the emulated SES took (SendEmail: simple or raw), oldest first."""
    return list(ses_backends["123456789012"]["eu-west-1"].sent_messages)


def customer(call: Client, email_address: str, locale: str) -> str:
    plan = call("POST", "/v1/plans", {**GOLD, "amount": 1210}).json()["id"]
    body = {
        "plan_id": plan,
        "customer": {"reference": "c-1", "name": "Ona", "email": email_address, "locale": locale},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    return str(call("POST", "/v1/mandates", body).json()["id"])


def test_the_pdf_goes_with_the_e_mails_only_where_the_account_asks_and_the_link_always(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given merchant A asking for the PDF (the account shows the setting), merchant B not (the default)
    bad = call("PATCH", "/v1/account", {"notifications": {"invoice_pdf": "yes"}})
    assert bad.status == 422
    account = call("PATCH", "/v1/account", {"legal_name": "UAB Klubas", "notifications": {"invoice_pdf": True}}).json()
    assert account["notifications"]["invoice_pdf"] is True and account["notifications"]["receipts"] is True
    other = system.client(system.b)
    assert other("GET", "/v1/account").json()["notifications"]["invoice_pdf"] is False
    # And each has a customer with an address, charged 12.10 (A's then refunded 3.00)
    mandate_a = customer(call, "ona@example.lt", "lt")
    engine.tick()
    mandate_b = customer(other, "jonas@example.lt", "en")
    engine.tick()  # one at a time: a cold dispatcher's first concurrent claims can race on pydantic's deferred model build
    overrides = bootstrap.Overrides(clock=engine.clock)
    receipts, notifier = load_function("receipts", overrides), load_function("notifier", overrides)
    sqs = boto3.client("sqs")
    receipt_source = SqsEventSource(sqs, system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction"))
    notify_source = SqsEventSource(sqs, system.aws.queues["NotifyQueue"], lambda e: invoke(notifier, e, "NotifierFunction"))

    def publish() -> None:
        for _ in range(2):  # published at least once: twice here
            records = stream_records(system)
            assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
        assert receipt_source.drain().failed == 0
        assert notify_source.drain().failed == 0

    publish()
    [charge_a] = call("GET", f"/v1/charges?mandate_id={mandate_a}").json()["data"]
    assert call("POST", f"/v1/charges/{charge_a['id']}/refunds", {"amount": 300}).status == 201
    engine.tick()
    publish()
    # When what SES received is read back as MIME
    messages = sent_by_ses()
    raw = [email.message_from_string(m.raw_data, policy=default) for m in messages if hasattr(m, "raw_data")]
    simple = [m for m in messages if not hasattr(m, "raw_data")]
    # Then A's customer got the invoice and the credit note, each once, with its PDF and link
    invoice = call("GET", f"/v1/invoices/{charge_a['invoice_id']}").json()
    [note] = call("GET", "/v1/invoices?type=credit_note").json()["data"]
    by_to = {(str(m["To"]), str(m["Subject"])): m for m in raw}
    assert sorted(by_to) == [
        ("ona@example.lt", f"{account['name']}: Kreditinė sąskaita faktūra CN-1"),
        ("ona@example.lt", f"{account['name']}: Sąskaita faktūra R-1"),
    ]
    for document in (invoice, note):
        [message] = [m for (_, subject), m in by_to.items() if subject.endswith(document["number"])]
        assert isinstance(message, EmailMessage)
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        link = signed(document["url"])  # under the deployment's public URL (none set here)
        assert link in text and link in html.replace("&amp;", "&")
        assert message["From"] and message["Reply-To"] is None  # no support address set: none
        [part] = list(message.iter_attachments())
        assert part.get_filename() == f"{document['number']}.pdf" and part.get_content_type() == "application/pdf"
        pdf = part.get_content()
        # And the file is the document's Factur-X PDF: the XML the API serves is embedded, and validates
        xml = call("GET", f"/v1/invoices/{document['id']}?format=xml").body.encode("utf-8")
        assert PdfReader(io.BytesIO(pdf)).attachments["factur-x.xml"] == [xml]
        assert assert_valid_en16931(xml)["number"] == document["number"]
    # And B's customer got the invoice's e-mail with its link and no file (SES's simple content)
    [b_receipt] = [m for m in simple if "jonas@example.lt" in str(m.destinations) and "R-1" in m.subject]
    [b_charge] = other("GET", f"/v1/charges?mandate_id={mandate_b}").json()["data"]
    b_name = other("GET", "/v1/account").json()["name"]
    assert b_receipt.subject == f"{b_name}: Invoice R-1" and signed(b_charge["receipt_url"]) in b_receipt.body.replace(
        "&amp;", "&"
    )
    assert len(messages) == 5  # + each customer's activation e-mail; nothing twice


def test_the_invoice_and_credit_note_events_carry_a_url_that_opens_the_document(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a paid charge, refunded in part, its documents issued by the receipts function
    mandate = customer(call, "ona@example.lt", "en")
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
    # When the merchant reads the events
    [issued] = call("GET", "/v1/events?type=invoice.issued").json()["data"]
    [credited] = call("GET", "/v1/events?type=credit_note.issued").json()["data"]
    # Then each carries its document's signed link (as the API shows it), which opens the document
    for event in (issued, credited):
        document = event["data"]["object"]
        assert document["url"] and signed(document["url"]) == signed(call("GET", f"/v1/invoices/{document['id']}").json()["url"])
        page = get(system, document["url"])
        assert page.status == 200 and document["number"] in page.body
        pdf = get(system, document["url"] + "?format=pdf")
        assert pdf.status == 200 and pdf.raw.startswith(b"%PDF")
    assert signed(issued["data"]["object"]["url"]) == signed(charge["receipt_url"])
