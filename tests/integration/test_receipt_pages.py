"""A charge's receipt at its signed link, on moto through the API Gateway stand-in: HTML and PDF
(read back with pypdf), both languages written the way each writes amounts and dates, refunds
shown, merchant and customer text escaped, and links that are not receipts refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlparse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from billing.service.receipts import ReceiptNumbering
from tests.support.system import HOST, Client, EngineHarness, System
from tests.support.values import CONSENT, GOLD

# What a browser sends when the customer clicks a link (the PDF's too): HTML first.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


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
    numbering = ReceiptNumbering(system.api_module.deps.repository, system.clock)
    assert [c.id for c in numbering.assign(system.a.id, [charge["id"]])] == [charge["id"]]
    return call("GET", f"/v1/charges/{charge['id']}").json()


def get(system: System, url: str):
    path = (
        "/customer/" + urlparse(url).path.split("/customer/", 1)[1] + (f"?{urlparse(url).query}" if urlparse(url).query else "")
    )
    return system.gateway.request("GET", path, {"Host": HOST, "Accept": BROWSER_ACCEPT})


def test_the_receipt_page_shows_who_was_paid_by_whom_for_what(system: System, call: Client, engine: EngineHarness) -> None:
    call(
        "PATCH", "/v1/account", {"legal_name": "UAB Shop & Co", "address": "Gedimino pr. 1\nVilnius", "vat_id": "LT100001919017"}
    )
    charge = paid_charge(system, call, engine)
    assert charge["receipt_number"] == "R-1" and charge["receipt_url"].startswith(f"https://{HOST}/")
    page = get(system, charge["receipt_url"])
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body
    assert "Receipt R-1" in html and "UAB Shop &amp; Co" in html and "Gedimino pr. 1<br>Vilnius" in html
    assert "LT100001919017" in html and "Jonas &lt;i&gt;Jonaitis&lt;/i&gt;" in html and "<i>" not in html
    assert "Gold &lt;b&gt;" in html and "€19.99" in html and "Simulated ending in 4242" in html and "m_ok" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    # And the customer's page lists the charge with its receipt
    links = system.api_module.deps.approval_links(f"https://{HOST}")
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


# ----------------------------------------------------------------------------- one purpose per signature
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rewrapped(token: str, label: bytes) -> str:
    """A token's MAC kept, its payload changed to what the MAC really covers (label + payload)."""
    payload, mac = token.split(".")
    return f"{_b64(label + _unb64(payload))}.{mac}"


def customer(system: System, method: str, path: str, form: dict | None = None):
    headers = {"Host": HOST, "Origin": f"https://{HOST}", "Content-Type": "application/x-www-form-urlencoded"}
    return system.gateway.request(method, path, headers, urlencode(form) if form is not None else None)


def test_each_signed_token_passes_only_as_its_own_purpose(system: System, call: Client, engine: EngineHarness) -> None:
    # Given a receipt link, a mandate's page link, and that page's CSRF token (one key signs all three)
    charge = paid_charge(system, call, engine)
    receipt = charge["receipt_url"].rsplit("/", 1)[1]
    pending = call("POST", "/v1/mandates", {"plan_id": charge["plan_id"], "customer": {"reference": "p"}}).json()
    page = pending["approval_url"].rsplit("/", 1)[1]
    shown = customer(system, "GET", f"/customer/mandates/{page}").body
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown).group(1)
    terms = re.search(r'name="terms_sha256" value="([^"]+)"', shown).group(1)
    form = {"csrf": csrf, "terms_sha256": terms, "payment_token": "pm_sim_ok", "consent": "yes"}
    csrf_wrapped = f"{_b64(b'csrf|approve|' + page.encode())}.{_b64(bytes.fromhex(csrf))}"
    # When a receipt token or the CSRF token is used as a page link, as is or re-wrapped around its MAC
    for forged in (receipt, rewrapped(receipt, b"receipt\0"), csrf, csrf_wrapped, rewrapped(page, b"page\0")):
        # Then the page, its forms and its revocation are not found (4xx, never a 500), and nothing changes
        assert customer(system, "GET", f"/customer/mandates/{forged}").status == 404, forged
        assert customer(system, "GET", f"/customer/mandates/{forged}/revoke").status == 404, forged
        for action in ("approve", "payment_method", "revoke"):
            answer = customer(system, "POST", f"/customer/mandates/{forged}/{action}", form)
            assert 400 <= answer.status < 500, (forged, action, answer.status)
    # When a page token or the CSRF token is used as a receipt link, as is or re-wrapped
    for forged in (page, rewrapped(page, b"page\0"), rewrapped(page, b"receipt\0"), csrf, csrf_wrapped):
        # Then no receipt is shown
        assert customer(system, "GET", f"/customer/receipts/{forged}").status == 404, forged
    # When a page or receipt token is sent as the CSRF token, Then the form is refused
    for forged in (page, receipt, csrf + "0"):
        assert customer(system, "POST", f"/customer/mandates/{page}/approve", {**form, "csrf": forged}).status == 403
    # And each genuine token still works for its own purpose
    assert call("GET", f"/v1/mandates/{pending['id']}").json()["status"] == "pending_approval"
    assert customer(system, "GET", f"/customer/receipts/{receipt}").status == 200
    assert customer(system, "POST", f"/customer/mandates/{page}/approve", form).status == 303


def test_links_already_sent_keep_working_for_their_own_purpose_only(system: System, call: Client, engine: EngineHarness) -> None:
    # Given a receipt link and a page link as they were signed before purposes were in every MAC
    # (receipts: HMAC("receipt\0" + payload), unchanged; pages: HMAC(payload), still in e-mails)
    charge = paid_charge(system, call, engine)
    key = system.api_module.deps.signing_key()
    receipt_payload = f"{system.a.id}.{charge['id']}".encode()
    receipt = f"{_b64(receipt_payload)}.{_b64(hmac.new(key, b'receipt' + bytes(1) + receipt_payload, hashlib.sha256).digest())}"
    expires = int((engine.clock.now() + timedelta(days=1)).timestamp())
    page_payload = f"{system.a.id}.{charge['mandate_id']}.{expires}".encode()
    old_page = f"{_b64(page_payload)}.{_b64(hmac.new(key, page_payload, hashlib.sha256).digest())}"
    # When the customer opens them, Then each shows what it always showed
    assert customer(system, "GET", f"/customer/receipts/{receipt}").status == 200
    assert receipt == charge["receipt_url"].rsplit("/", 1)[1]  # and receipts are still made that way
    own_page = customer(system, "GET", f"/customer/mandates/{old_page}")
    assert own_page.status == 200 and charge["receipt_url"] in own_page.body
    # And a page link of the old format is still refused as a receipt, and an old-format MAC over
    # another purpose's input never passes as a page
    assert customer(system, "GET", f"/customer/receipts/{old_page}").status == 404
    forged_payload = b"receipt" + bytes(1) + receipt_payload
    forged = f"{_b64(forged_payload)}.{_b64(hmac.new(key, forged_payload, hashlib.sha256).digest())}"
    assert customer(system, "GET", f"/customer/mandates/{forged}").status == 404


TOKEN_TEXT = st.text(st.characters(blacklist_characters="/?#", blacklist_categories=("Cs",)), min_size=1, max_size=120)
FORGED_TOKENS = (
    TOKEN_TEXT
    | st.builds(lambda p, m: f"{_b64(p)}.{_b64(m)}", st.binary(max_size=80), st.binary(max_size=40))
    | st.builds(
        lambda label, p, m: f"{_b64(label + p)}.{_b64(m)}",
        st.sampled_from([b"page\0", b"receipt\0", b"csrf|approve|", b""]),
        st.binary(max_size=60),
        st.binary(min_size=32, max_size=32),
    )
)


LABELS = st.sampled_from([b"", b"page\0", b"receipt\0", b"csrf|approve|"])  # no label, and each purpose's


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_token_on_any_customer_path_is_a_4xx_never_a_5xx(system: System, data: st.DataObject) -> None:
    # Given tokens this deployment really signed (a receipt's, a page's, a CSRF token)
    from billing.customer_page.forms import csrf_token

    billing = system.api_module.deps
    links = billing.approval_links(f"https://{HOST}")
    page = links.token(system.a.id, "mdt_x", datetime(2100, 1, 1, tzinfo=timezone.utc))
    genuine = [links.receipt_token(system.a.id, "chg_x"), page, csrf_token(billing.signing_key(), page, "approve")]
    # When random text, a forged token, or a genuine one's MAC re-wrapped around another payload is
    # used as a page link, a form's link or a receipt link
    if data.draw(st.booleans()):
        token = data.draw(FORGED_TOKENS)
    else:
        source = data.draw(st.sampled_from(genuine))
        if "." in source:
            payload, mac = source.split(".")
            inner = _unb64(payload)
        else:  # the CSRF token: the hex of a MAC (cut short) over "csrf|approve|<page link>"
            inner, mac = page.encode(), _b64(bytes.fromhex(source))
        token = f"{_b64(data.draw(LABELS) + inner)}.{mac}"
    for method, path in (
        ("GET", f"/customer/mandates/{token}"),
        ("POST", f"/customer/mandates/{token}/approve"),
        ("GET", f"/customer/receipts/{token}"),
    ):
        answer = customer(system, method, path, {"csrf": token} if method == "POST" else None)
        # Then it is refused with a 4xx, never a 5xx
        assert 400 <= answer.status < 500, (method, path, answer.status)


def gateway_event(system: System, charge: dict, **report: object) -> None:
    """A gateway's report about the charge, applied as the gateway-events consumer applies it."""
    from billing.adapters.ids import RandomIds
    from billing.service.gateway_events import GatewayEvent, GatewayEvents

    event = GatewayEvent.model_validate(
        {
            "id": f"evt_{sorted(report)[0]}_{len(str(report))}_{charge['id']}",
            "gateway": "simulated",
            "event_type": "test",
            "created": system.clock.now(),
            "merchant_id": system.a.id,
            **report,
        }
    )
    assert GatewayEvents(system.api_module.deps.repository, system.clock, RandomIds()).apply(event).status == "applied"


def test_a_receipt_of_a_payment_the_bank_returned_says_so_in_html_and_pdf(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a paid, numbered charge
    charge = paid_charge(system, call, engine)
    # When the gateway reports its payment returned by the bank
    gateway_event(
        system,
        charge,
        payment={"charge_id": charge["id"], "attempt": 1, "outcome": "reversed", "decline_code": "insufficient_funds"},
    )
    # Then its receipt (HTML and PDF) says the payment was returned, and when
    html = get(system, charge["receipt_url"]).body
    assert "This payment was returned by the bank on" in html
    lithuanian = get(system, charge["receipt_url"] + "?lang=lt").body
    assert "Bankas šį mokėjimą grąžino" in lithuanian
    pdf = get(system, charge["receipt_url"] + "?format=pdf&lang=en")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.raw)).pages)
    assert "This payment was returned by the bank on" in re.sub(r"\s+", " ", text)


def test_a_receipt_of_a_charge_disputed_and_lost_says_so(system: System, call: Client, engine: EngineHarness) -> None:
    # Given a paid, numbered charge, which the customer's bank disputes and the merchant loses
    charge = paid_charge(system, call, engine)
    facts = {"reference": "dp_1", "charge_id": charge["id"], "amount": 1999, "currency": "EUR", "reason": "product_not_received"}
    gateway_event(system, charge, dispute={**facts, "status": "needs_response"})
    assert "Disputed by the customer&#39;s bank: €19.99, open." in get(system, charge["receipt_url"]).body
    gateway_event(system, charge, dispute={**facts, "status": "lost"})
    # Then the receipt says the dispute was lost (HTML and PDF)
    html = get(system, charge["receipt_url"]).body
    assert "Disputed by the customer&#39;s bank: €19.99, lost." in html
    pdf = get(system, charge["receipt_url"] + "?format=pdf&lang=en")
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.raw)).pages))
    assert "Disputed by the customer's bank: €19.99, lost." in text
