"""A charge's receipt at its signed link, on moto through the API Gateway stand-in: HTML and PDF
(read back with pypdf), both languages written the way each writes amounts and dates, refunds
shown, merchant and customer text escaped, and links that are not receipts refused."""

from __future__ import annotations

import io
from urllib.parse import urlparse

from pypdf import PdfReader

from tests.integration.conftest import GOLD, Client, EngineHarness, System

HOST = "localapi01.execute-api.eu-west-1.amazonaws.com"
# What a browser sends when the customer clicks a link (the PDF's too): HTML first.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CONSENT = {"accepted_at": "2026-11-25T08:59:00Z", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"}


def paid_charge(system: System, call: Client, engine: EngineHarness, locale: str = "en") -> dict:
    plan = call("POST", "/v1/plans", {**GOLD, "name": "Gold <b>"}).json()
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "cust-42", "name": "Jonas <i>Jonaitis</i>", "email": "jonas@example.lt", "locale": locale},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    engine.tick()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    assert charge["receipt_url"] is None  # not numbered yet
    numbering = system.api_module.billing.receipt_numbering
    assert [c.id for c in numbering.assign(system.a.id, [charge["id"]])] == [charge["id"]]
    return call("GET", f"/v1/charges/{charge['id']}").json()


def get(system: System, url: str):
    path = (
        "/customer/" + urlparse(url).path.split("/customer/", 1)[1] + (f"?{urlparse(url).query}" if urlparse(url).query else "")
    )
    return system.gateway.request("GET", path, {"Host": HOST, "Accept": BROWSER_ACCEPT})


def test_the_receipt_page_shows_who_was_paid_by_whom_for_what(system: System, call: Client, engine: EngineHarness) -> None:
    call(
        "PATCH", "/v1/account", {"legal_name": "UAB Shop & Co", "address": "Gedimino pr. 1\nVilnius", "vat_id": "LT100001234567"}
    )
    charge = paid_charge(system, call, engine)
    assert charge["receipt_number"] == "R-1" and charge["receipt_url"].startswith(f"https://{HOST}/")
    page = get(system, charge["receipt_url"])
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body
    assert "Receipt R-1" in html and "UAB Shop &amp; Co" in html and "Gedimino pr. 1<br>Vilnius" in html
    assert "LT100001234567" in html and "Jonas &lt;i&gt;Jonaitis&lt;/i&gt;" in html and "<i>" not in html
    assert "Gold &lt;b&gt;" in html and "€19.99" in html and "Simulated ending in" in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # And the customer's page lists the charge with its receipt
    links = system.api_module.billing.approval_links(f"https://{HOST}")
    token = links.token(system.a.id, charge["mandate_id"], engine.clock.now() + __import__("datetime").timedelta(days=1))
    own_page = system.gateway.request("GET", f"/customer/mandates/{token}", {"Host": HOST}).body
    assert f'href="{charge["receipt_url"]}?lang=en"' in own_page
    # And in Lithuanian: amounts and dates the Lithuanian way
    lithuanian = get(system, charge["receipt_url"] + "?lang=lt").body
    assert "Kvitas R-1" in lithuanian and "19,99\xa0€" in lithuanian and " m. " in lithuanian


def test_refunds_appear_and_the_pdf_says_the_same(system: System, call: Client, engine: EngineHarness) -> None:
    charge = paid_charge(system, call, engine, locale="lt")
    call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500})
    engine.tick()
    html = get(system, charge["receipt_url"]).body  # the customer's language: Lithuanian
    assert "Grąžinimai" in html and "-5,00\xa0€" in html and "14,99\xa0€" in html
    pdf = get(system, charge["receipt_url"] + "?format=pdf")
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.raw.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.raw)).pages)
    for expected in ("Kvitas R-1", "19,99", "14,99", "Grąžinimai", "Jonas <i>Jonaitis</i>", "Gold <b>"):
        assert expected in text, (expected, text)


def test_links_that_are_not_receipts_are_refused(system: System, call: Client, engine: EngineHarness) -> None:
    charge = paid_charge(system, call, engine)
    token = charge["receipt_url"].rsplit("/", 1)[1]
    # A tampered receipt link, and a receipt link used as a mandate's page, are not found
    assert system.gateway.request("GET", f"/customer/receipts/{token[:-2]}AA", {"Host": HOST}).status == 404
    assert system.gateway.request("GET", f"/customer/mandates/{token}", {"Host": HOST}).status == 404
    # A mandate's approval link is not a receipt
    pending = call("POST", "/v1/mandates", {"plan_id": charge["plan_id"], "customer": {"reference": "p"}}).json()
    approval = pending["approval_url"].rsplit("/", 1)[1]
    assert system.gateway.request("GET", f"/customer/receipts/{approval}", {"Host": HOST}).status == 404
    # Another merchant's API never shows this charge, so never its receipt link
    assert system.client(system.b)("GET", f"/v1/charges/{charge['id']}").status == 404
