"""The customer's page in a real headless Chromium (Debian's package, driven by Playwright,
never a downloaded browser), against `make local`: approve with a test card, see the schedule,
tick the local clock, see the charge appear, revoke. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devtools.template import ROOT
from tests.local.conftest import Http, merchant

CHROMIUM = Path("/usr/bin/chromium")
# `SCREENSHOTS=1 make test` refreshes the README's screenshots; otherwise they go to a temporary folder.
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "rp-screenshots"
# Flags for a closed network (no background connections) and running as root in CI.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium): the browser test is SKIPPED"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield instance
        instance.close()


def pending_mandate(local: str, call: Http, plan_id: str, **customer: str) -> str:
    body = {"plan_id": plan_id, "customer": {"reference": "cust-42", "name": "Jonas", **customer}}
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201 and mandate["approval_url"].startswith(local)
    return mandate["approval_url"]


def test_a_customer_approves_follows_and_revokes_from_the_link_alone(local: str, browser) -> None:
    # Given a merchant's mandate awaiting approval, and its link opened on a phone
    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Sporto klubas Vilnius")
    Http(local)("POST", "/_local/clock", {"advance_seconds": 0})  # a test clock
    status, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    url = pending_mandate(local, call, plan["id"])

    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone screen
    page.goto(url)
    assert "Sporto klubas Vilnius asks for your permission" in page.inner_text("h1")
    assert "€19.99" in page.inner_text("main") and "every month" in page.inner_text("main")
    page.screenshot(path=str(SHOTS / "approve-en.png"), full_page=True)

    # When the customer picks a test card, consents (by keyboard) and approves, Then the page thanks them
    # Keyboard: the consent box toggles with Space, like any native checkbox
    page.get_by_label("Always succeeds").check()
    page.focus("input[name=consent]")
    page.keyboard.press("Space")
    assert page.is_checked("input[name=consent]")
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    assert "done=approved" in page.url, page.inner_text("main")
    assert "Thank you" in page.inner_text("main") and "Active" in page.inner_text("main")
    assert "Next charges" in page.inner_text("main")

    # When the schedule runs, Then the page shows the charge paid
    # The charge appears once the schedule has run
    Http(local)("POST", "/_local/tick")
    page.reload()
    assert "Paid" in page.inner_text("table")
    page.screenshot(path=str(SHOTS / "status-en.png"), full_page=True)

    # When the customer revokes, Then after a confirmation step the mandate is revoked
    # Revoke, after a confirmation step
    page.get_by_role("link", name="Revoke permission").click()
    assert "Stop all future payments" in page.inner_text("h1")
    page.screenshot(path=str(SHOTS / "revoke-confirm-en.png"), full_page=True)
    page.get_by_role("button", name="Yes, revoke").click()
    page.wait_for_url("**done=revoked**")
    assert "Revoked" in page.inner_text("main")
    mandates = call("GET", "/v1/mandates?status=revoked")[1]["data"]
    assert len(mandates) == 1 and mandates[0]["consent"]["user_agent"]
    page.close()


def test_the_page_in_lithuanian_from_approval_to_revocation(local: str, browser) -> None:
    # Given a Lithuanian customer (the merchant set their language) and a mandate awaiting approval
    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Kavinė")
    status, plan = call(
        "POST", "/v1/plans", {"name": "Kava", "amount": 990, "currency": "EUR", "interval": "week", "trial_days": 14}
    )
    url = pending_mandate(local, call, plan["id"], locale="lt")
    context = browser.new_context(locale="en-GB", viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.goto(url)  # the customer's language, whatever the browser's
    # Then the page is in Lithuanian, with amounts and dates written the Lithuanian way
    assert page.get_attribute("html", "lang") == "lt"
    main = page.inner_text("main")
    assert "Patvirtinti" in main and "9,90\xa0€" in main and "kas savaitę" in main and "14 d." in main
    page.screenshot(path=str(SHOTS / "approve-lt.png"), full_page=True)
    # When the customer approves and revokes in Lithuanian, then switches to English, Then every step works in both
    page.get_by_label("Visada pavyksta").check()
    page.get_by_label("Leidžiu Kavinė nuskaityti mokėjimus šiomis sąlygomis.").check()
    page.get_by_role("button", name="Patvirtinti").click()
    page.wait_for_load_state()
    assert "Ačiū" in page.inner_text("main") and "Galioja" in page.inner_text("main")
    page.get_by_role("link", name="Atšaukti leidimą").click()
    page.get_by_role("button", name="Taip, atšaukti").click()
    page.wait_for_load_state()
    assert "Atšaukta" in page.inner_text("main")
    page.get_by_role("link", name="Language: English").click()
    assert page.get_attribute("html", "lang") == "en" and "Revoked" in page.inner_text("main")
    context.close()


def test_a_past_due_customer_recovers_from_their_page_and_opens_the_receipt(local: str, browser) -> None:
    # Given a customer who approved with a card that is then refused: the mandate is past_due
    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Sporto klubas Vilnius")
    call("PATCH", "/v1/account", {"legal_name": "UAB Sporto klubas", "vat_id": "LT100001919017"})
    status, plan = call(
        "POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "retry_schedule_days": []}
    )
    url = pending_mandate(local, call, plan["id"])
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url)
    page.get_by_label("Expired card (hard decline)").check()
    page.get_by_label("I allow Sporto klubas Vilnius to charge me on these terms.").check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_load_state()
    Http(local)("POST", "/_local/tick")
    page.reload()
    main = page.inner_text("main")
    assert "Payment failed" in main and "did not go through" in main and "Failed" in main
    page.screenshot(path=str(SHOTS / "update-method-en.png"), full_page=True)

    # When they put in a working card on the page, and the schedule runs
    page.get_by_label("Always succeeds").check()
    page.get_by_role("button", name="Use this payment method").click()
    page.wait_for_url("**done=method_updated**")
    assert "payment method is updated" in page.inner_text("main") and "Active" in page.inner_text("main")
    Http(local)("POST", "/_local/tick")
    page.reload()

    # Then the charge is paid, numbered, and its receipt opens from the page (HTML, and the PDF link)
    assert "Paid" in page.inner_text("table")
    page.get_by_role("link", name="Receipt").click()
    page.wait_for_load_state()
    receipt = page.inner_text("main")
    assert "invoice R-1" in receipt and "UAB Sporto klubas" in receipt and "LT100001919017" in receipt and "€19.99" in receipt
    page.screenshot(path=str(SHOTS / "receipt-en.png"), full_page=True)
    pdf = page.get_by_role("link", name="Download PDF").get_attribute("href")
    assert pdf and "format=pdf" in pdf
    # And the PDF comes as bytes to a browser's click, whose Accept starts with text/html
    with page.expect_download() as download:
        page.evaluate("href => { const a = document.createElement('a'); a.href = href; a.download = ''; a.click(); }", pdf)
    saved = download.value.path()
    assert saved is not None and Path(saved).read_bytes().startswith(b"%PDF")
    page.close()


def test_the_e_mails_render_in_a_browser(local: str, browser) -> None:
    # Given a customer with an address whose card fails, then is replaced, then pays
    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Sporto klubas Vilnius")
    call("PATCH", "/v1/account", {"support_email": "pagalba@klubas.lt"})
    status, plan = call(
        "POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "retry_schedule_days": [3]}
    )
    consent = {"accepted_at": "2026-11-25T09:00:00Z", "ip": "203.0.113.9", "user_agent": "test"}
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "mail", "email": "jonas@example.lt", "name": "Jonas"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_insufficient_funds"},
        "consent": consent,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    Http(local)("POST", "/_local/tick")
    call("POST", f"/v1/mandates/{mandate['id']}/payment_method", {"gateway": "simulated", "token": "pm_sim_ok"})
    Http(local)("POST", "/_local/clock", {"advance_seconds": 3 * 86400})
    Http(local)("POST", "/_local/tick")
    # and who, three days before the next charge, is told of it
    due = datetime.fromisoformat(call("GET", f"/v1/mandates/{mandate['id']}")[1]["next_charge_at"].replace("Z", "+00:00"))
    notice_time = due - timedelta(days=3) + timedelta(minutes=1)  # the API shows whole seconds
    Http(local)("POST", "/_local/clock", {"now": f"{notice_time:%Y-%m-%dT%H:%M:%SZ}"})
    Http(local)("POST", "/_local/tick")
    emails = {e["kind"]: e for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["mandate_id"] == mandate["id"]}
    # Then each e-mail's HTML renders, with its link, and is photographed for the README
    page = browser.new_page(viewport={"width": 640, "height": 720})
    for kind in ("payment_failed", "receipt", "upcoming_charge"):
        page.set_content(emails[kind]["html"])
        assert page.get_by_role("link").count() == 1
        page.screenshot(path=str(SHOTS / f"email-{kind.replace('_', '-')}-en.png"), full_page=True)
    assert "not enough funds" in emails["payment_failed"]["text"] and "We will try again on" in emails["payment_failed"]["text"]
    page.close()


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "en",
            {
                "title": "SEPA Direct Debit mandate",
                "authorise": "you authorise (A) UAB Kavinė to send instructions to your bank",
                "refund": "A refund must be claimed within 8 weeks",
                "reference": "Mandate reference: {reference}",
                "bank": "Debit settles after 3 business days",
                "consent": "I allow Kavinė to charge me on these terms.",
                "approve": "Approve",
                "thanks": "Thank you",
            },
        ),
        (
            "lt",
            {
                "title": "SEPA tiesioginio debeto sutikimas",
                "authorise": "jūs leidžiate (A) UAB Kavinė siųsti nurodymus jūsų bankui",
                "refund": "per 8 savaites",
                "reference": "Sutikimo nuoroda: {reference}",
                "bank": "Nurašymas įvykdomas po 3 darbo dienų",
                "consent": "Leidžiu Kavinė nuskaityti mokėjimus šiomis sąlygomis.",
                "approve": "Patvirtinti",
                "thanks": "Ačiū",
            },
        ),
    ],
)
def test_a_customer_approves_a_bank_debit_mandate_with_a_test_iban(local: str, browser, locale: str, words: dict) -> None:
    # Given a EUR mandate of a customer with an e-mail address and a name, of a merchant with a legal name
    from billing.domain.payment_methods import mandate_reference

    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Kavinė")
    call("PATCH", "/v1/account", {"legal_name": "UAB Kavinė"})
    status, plan = call("POST", "/v1/plans", {"name": "Kava", "amount": 990, "currency": "EUR", "interval": "month"})
    url = pending_mandate(local, call, plan["id"], locale=locale, email="ona@example.lt")
    mandate_id = call("GET", "/v1/mandates?status=pending_approval")[1]["data"][0]["id"]
    reference = mandate_reference(mandate_id)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url)
    # Then, before approving, the SEPA mandate is shown in the customer's language: creditor, reference, refund right
    assert page.get_attribute("html", "lang") == locale
    mandate_text = page.inner_text("#sepa-mandate")
    assert words["title"] in mandate_text and words["authorise"] in mandate_text and words["refund"] in mandate_text
    assert words["reference"].format(reference=reference) in mandate_text
    page.screenshot(path=str(SHOTS / f"approve-bank-debit-{locale}.png"), full_page=True)
    # When the customer picks the test bank account, consents and approves
    page.get_by_label(words["bank"]).check()
    page.get_by_label(words["consent"]).check()
    page.get_by_role("button", name=words["approve"]).click()
    page.wait_for_load_state()
    # Then the mandate is active and paid by bank debit, and the page shows its reference and the IBAN's last four
    main = page.inner_text("main")
    assert "done=approved" in page.url and words["thanks"] in main, main
    assert reference in page.inner_text("#mandate-reference") and "IBAN …3000" in main
    status, active = call("GET", f"/v1/mandates/{mandate_id}")
    assert active["status"] == "active" and active["payment_method"]["type"] == "sepa_debit"
    assert active["payment_method"]["mandate_reference"] == reference and active["consent"]["user_agent"]
    page.close()


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "en",
            {
                "card": "Always succeeds",
                "consent": "I allow Kavinė to charge me on these terms.",
                "approve": "Approve",
                "title": "SEPA Direct Debit mandate",
                "refund": "A refund must be claimed within 8 weeks",
                "creditor": "Creditor: UAB Kavinė",
                "reference": "Mandate reference: {reference}",
                "bank": "Debit settles after 3 business days",
                "accept": "I accept the SEPA Direct Debit mandate above",
                "missing": "tick the box accepting the SEPA Direct Debit mandate",
                "use": "Use this payment method",
                "updated": "payment method is updated",
            },
        ),
        (
            "lt",
            {
                "card": "Visada pavyksta",
                "consent": "Leidžiu Kavinė nuskaityti mokėjimus šiomis sąlygomis.",
                "approve": "Patvirtinti",
                "title": "SEPA tiesioginio debeto sutikimas",
                "refund": "per 8 savaites",
                "creditor": "Kreditorius: UAB Kavinė",
                "reference": "Sutikimo nuoroda: {reference}",
                "bank": "Nurašymas įvykdomas po 3 darbo dienų",
                "accept": "Pritariu aukščiau pateiktam SEPA tiesioginio debeto sutikimui",
                "missing": "pažymėkite laukelį, kad pritariate SEPA tiesioginio debeto sutikimui",
                "use": "Naudoti šį mokėjimo būdą",
                "updated": "mokėjimo būdas pakeistas",
            },
        ),
    ],
)
def test_a_customer_replaces_their_card_with_a_test_iban_after_reading_the_sepa_mandate(
    local: str, browser, locale: str, words: dict
) -> None:
    # Given a customer who approved a EUR mandate with a test card (the merchant has a legal name)
    from billing.domain.payment_methods import mandate_reference

    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Kavinė")
    call("PATCH", "/v1/account", {"legal_name": "UAB Kavinė"})
    status, plan = call("POST", "/v1/plans", {"name": "Kava", "amount": 990, "currency": "EUR", "interval": "month"})
    url = pending_mandate(local, call, plan["id"], locale=locale, email="ona@example.lt")
    mandate_id = call("GET", "/v1/mandates?status=pending_approval")[1]["data"][0]["id"]
    reference = mandate_reference(mandate_id)
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url)
    page.get_by_label(words["card"]).check()
    page.get_by_label(words["consent"]).check()
    page.get_by_role("button", name=words["approve"]).click()
    page.wait_for_load_state()
    # Then the new-method step shows the SEPA mandate in the customer's language: creditor, reference, refund right
    mandate_text = page.inner_text("#payment-method #sepa-mandate")
    assert words["title"] in mandate_text and words["refund"] in mandate_text and words["creditor"] in mandate_text
    assert words["reference"].format(reference=reference) in mandate_text
    page.screenshot(path=str(SHOTS / f"new-bank-account-{locale}.png"), full_page=True)
    # When they choose the test bank account without accepting the mandate, Then the page says so and nothing changes
    page.get_by_label(words["bank"]).check()
    page.get_by_role("button", name=words["use"]).click()
    page.wait_for_load_state()
    assert words["missing"] in page.inner_text("main")
    assert call("GET", f"/v1/mandates/{mandate_id}")[1]["payment_method"]["type"] == "card"
    # When they choose it again, accept the mandate and confirm
    page.get_by_label(words["bank"]).check()
    page.get_by_label(words["accept"]).check()
    page.get_by_role("button", name=words["use"]).click()
    page.wait_for_url("**done=method_updated**")
    # Then the page shows the bank account and its reference, and the mandate is paid by bank debit
    main = page.inner_text("main")
    assert words["updated"] in main and "IBAN …3000" in main and reference in page.inner_text("#mandate-reference")
    status, active = call("GET", f"/v1/mandates/{mandate_id}")
    assert active["payment_method"]["type"] == "sepa_debit" and active["payment_method"]["mandate_reference"] == reference
    [event] = call("GET", "/v1/events?type=mandate.payment_method_updated")[1]["data"]
    assert event["data"]["source"] == "customer" and event["data"]["object"]["id"] == mandate_id
    page.close()


def test_a_customer_buys_as_a_business_in_english_and_lithuanian(local: str, browser) -> None:
    # Given a seller with a Lithuanian VAT id and a VAT rate, and a mandate awaiting approval
    SHOTS.mkdir(parents=True, exist_ok=True)
    call = merchant(local, "Sporto klubas Vilnius")
    call("PATCH", "/v1/account", {"legal_name": "UAB Sporto klubas", "vat_id": "LT100001919017"})
    status, rate = call("POST", "/v1/tax_rates", {"display_name": "PVM", "percentage": "21", "country": "LT"})
    assert status == 201, rate
    status, plan = call(
        "POST", "/v1/plans", {"name": "Gold", "amount": 1210, "currency": "EUR", "interval": "month", "tax_rate_id": rate["id"]}
    )
    url = pending_mandate(local, call, plan["id"])
    mandate_id = call("GET", "/v1/mandates?status=pending_approval")[1]["data"][0]["id"]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url)

    # When the customer, before approving, says in English they buy as a German business
    assert "from now on" in page.inner_text("#business")
    page.get_by_label("Company name").fill("Muster <GmbH>")
    page.get_by_label("Company code").fill("HRB 12345")
    page.get_by_label("VAT ID").fill("DE 136 695 976")
    page.get_by_label("Street and number").fill("Hauptstraße 1")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("City").fill("Berlin")
    page.get_by_role("combobox", name="Country").select_option("DE")
    page.get_by_role("button", name="Save business details").click()
    page.wait_for_url("**done=business**")
    # Then the page says so and shows the business as the buyer (the text as typed, not markup)
    main = page.inner_text("main")
    assert "Your business details are saved" in main and "Muster <GmbH>" in main and "VAT ID DE136695976" in main
    assert call("GET", f"/v1/mandates/{mandate_id}")[1]["customer"]["tax"]["vat_id"] == "DE136695976"
    page.screenshot(path=str(SHOTS / "business-en.png"), full_page=True)
    # And once approved, the first charge is reverse-charged: no VAT, the net price collected
    page.get_by_label("Always succeeds").check()
    page.get_by_label("I allow Sporto klubas Vilnius to charge me on these terms.").check()
    page.get_by_role("button", name="Approve").click()
    page.wait_for_url("**done=approved**")
    Http(local)("POST", "/_local/tick")
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate_id}")[1]["data"]
    assert charge["amount"] == 1000 and charge["tax_amount"] == 0
    assert [g["category"] for g in charge["tax_breakdown"]] == ["reverse_charge"]

    # When, in Lithuanian, they give a VAT id that is not valid
    page.get_by_role("link", name="Kalba: lietuvių").click()
    page.get_by_label("PVM mokėtojo kodas").fill("DE 136 695 977")
    page.get_by_role("button", name="Išsaugoti įmonės rekvizitus").click()
    page.wait_for_load_state()
    # Then the page says so in Lithuanian, keeps what they typed, marks the field, and nothing changed
    assert "Šis PVM mokėtojo kodas neteisingas" in page.inner_text("[role=alert]")
    assert page.get_attribute("#business-vat_id", "aria-invalid") == "true"
    assert page.input_value("#business-vat_id") == "DE 136 695 977"
    assert call("GET", f"/v1/mandates/{mandate_id}")[1]["customer"]["tax"]["vat_id"] == "DE136695976"
    page.screenshot(path=str(SHOTS / "business-invalid-lt.png"), full_page=True)
    # When they switch back to buying as a private person, Then the page says so and the company is gone
    page.get_by_role("button", name="Perku kaip privatus asmuo").click()
    page.wait_for_url("**done=individual**")
    assert "Dabar perkate kaip privatus asmuo" in page.inner_text("main") and "Muster" not in page.inner_text("dl")
    assert call("GET", f"/v1/mandates/{mandate_id}")[1]["customer"]["tax"]["type"] == "individual"
    page.close()


def paid_then_partly_refunded(local: str, locale: str) -> tuple[Http, dict, dict]:
    """A VAT-registered seller (21 % inclusive PVM by default), a customer charged €12.10 by card,
    then refunded €6.05: the charge and its credit note, once both are issued."""
    call = merchant(local, "Sporto klubas Vilnius")
    assert call("PATCH", "/v1/account", {"vat_id": "LT100001919017"})[0] == 200  # a VAT rate needs the seller's VAT id
    status, rate = call("POST", "/v1/tax_rates", {"display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": True})
    assert status == 201, rate
    seller = {
        "legal_name": "UAB Sporto klubas",
        "vat_id": "LT100001919017",
        "company_code": "304000111",
        "address": "Gedimino pr. 1, 01103 Vilnius",
        "default_tax_rate_id": rate["id"],
    }
    assert call("PATCH", "/v1/account", seller)[0] == 200
    status, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1210, "currency": "EUR", "interval": "month"})
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "books", "email": "ona@example.lt", "name": "Ona Onaitė", "locale": locale},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": {"accepted_at": "2026-11-25T09:00:00Z", "ip": "203.0.113.9", "user_agent": "test"},
    }
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201, mandate
    Http(local)("POST", "/_local/tick")
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    assert charge["status"] == "succeeded" and charge["amount"] == 1210 and charge["tax_amount"] == 210, charge
    status, refund = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 605})
    assert status == 201, refund
    Http(local)("POST", "/_local/tick")  # the refund's event reaches the receipt queue: its credit note is issued
    [note] = call("GET", f"/v1/invoices?type=credit_note&charge_id={charge['id']}")[1]["data"]
    return call, call("GET", f"/v1/charges/{charge['id']}")[1], note


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            {
                "invoice": "VAT invoice",
                "credit_note": "VAT credit note",
                "fields": ("Invoice date", "Payment date", "Seller", "Buyer"),
                "credit_fields": ("Credit note date", "Corrects invoice", "Reason", "Seller", "Buyer"),
                "line": "Subscription “Gold”, ",
                "credit_line": "Refund, invoice {number}",
                "reason": "refund",
                "card": "Simulated ending in 4242",
                "vat": "VAT 21% of",
                "net": "Taxable amount",
                "total": "Total",
                "amounts": ("€12.10", "€10.00", "€2.10"),
                "credited": ("-€6.05", "-€5.00", "-€1.05"),
                "foreign": ("Sąskaitos", "Pardavėjas", "Prenumerata"),
            },
        ),
        (
            "lt",
            {
                "invoice": "PVM sąskaita faktūra",
                "credit_note": "Kreditinė PVM sąskaita faktūra",
                "fields": ("Sąskaitos data", "Mokėjimo data", "Pardavėjas", "Pirkėjas"),
                "credit_fields": ("Sąskaitos data", "Koreguojama sąskaita", "Koregavimo priežastis", "Pardavėjas", "Pirkėjas"),
                "line": "Prenumerata „Gold“, ",
                "credit_line": "Pinigų grąžinimas pagal sąskaitą {number}",
                "reason": "pinigų grąžinimas",
                "card": "Simulated, baigiasi 4242",
                "vat": "PVM 21\xa0% nuo",
                "net": "Apmokestinamoji vertė",
                "total": "Iš viso",
                "amounts": ("12,10\xa0€", "10,00\xa0€", "2,10\xa0€"),
                "credited": ("-6,05\xa0€", "-5,00\xa0€", "-1,05\xa0€"),
                "foreign": ("Cycle", "Refund", "Seller", "Buyer", "Invoice", "Date", "Total", " to "),
            },
        ),
    ],
)
def test_the_invoice_and_its_credit_note_read_as_an_accountant_expects(local: str, browser, lang: str, words: dict) -> None:
    # Given a VAT-registered seller's card charge of €12.10 (21 % PVM included) to a customer of that language,
    # then a refund of half of it
    SHOTS.mkdir(parents=True, exist_ok=True)
    call, charge, note = paid_then_partly_refunded(local, lang)
    [invoice] = call("GET", f"/v1/invoices?type=invoice&charge_id={charge['id']}")[1]["data"]
    assert note["corrects"] == invoice["id"] and note["total"] == -605
    page = browser.new_page(viewport={"width": 900, "height": 900})

    def facts() -> dict[str, str]:
        """The page's labelled facts (its <dl>): label -> value."""
        labels, values = page.locator("dt").all_inner_texts(), page.locator("dd").all_inner_texts()
        return dict(zip(labels, values, strict=True))

    # When the customer opens the charge's receipt link in their language
    page.goto(f"{charge['receipt_url']}{'&' if '?' in charge['receipt_url'] else '?'}lang={lang}")
    # Then it is a VAT invoice, numbered, dated the day it was issued and the day it was paid,
    # from the seller (as registered) to the buyer, with VAT per rate, every word in the page's language
    assert page.get_attribute("html", "lang") == lang
    heading = page.inner_text("h1")
    assert heading == f"{words['invoice']} {invoice['number']}", heading
    shown = facts()
    assert list(shown)[:4] == list(words["fields"]), shown
    seller, buyer = shown[words["fields"][2]], shown[words["fields"][3]]
    for seller_line in ("UAB Sporto klubas", "LT100001919017", "304000111", "Gedimino pr. 1, 01103 Vilnius"):
        assert seller_line in seller, (seller_line, seller)
    assert "Ona Onaitė" in buyer and "ona@example.lt" in buyer
    assert words["card"] in page.inner_text("main")
    total, net, vat = words["amounts"]
    rows = [line.split("\t") for line in page.inner_text("table").splitlines()]
    assert rows[1][0].startswith(words["line"]) and rows[1][1] == total, rows
    assert [words["net"], net] in rows and [f"{words['vat']} {net}", vat] in rows, rows
    assert rows[-1] == [words["total"], total], rows
    main = page.inner_text("main")
    for foreign in words["foreign"]:
        assert foreign not in main, (foreign, main)
    page.screenshot(path=str(SHOTS / f"invoice-{lang}.png"), full_page=True)

    # When they open the credit note's link
    page.goto(f"{note['url']}{'&' if '?' in note['url'] else '?'}lang={lang}")
    # Then it is a VAT credit note of its own number, naming the invoice it corrects and why, in negative amounts
    heading = page.inner_text("h1")
    assert heading == f"{words['credit_note']} {note['number']}" and note["number"] != invoice["number"], heading
    shown = facts()
    assert list(shown)[:5] == list(words["credit_fields"]), shown
    assert (shown[words["credit_fields"][1]], shown[words["credit_fields"][2]]) == (invoice["number"], words["reason"])
    main = page.inner_text("main")
    assert "UAB Sporto klubas" in main and "LT100001919017" in main and "Ona Onaitė" in main
    total, net, vat = words["credited"]
    rows = [line.split("\t") for line in page.inner_text("table").splitlines()]
    assert rows[1] == [words["credit_line"].format(number=invoice["number"]), total], rows
    assert [words["net"], net] in rows and [f"{words['vat']} {net}", vat] in rows, rows
    assert rows[-1] == [words["total"], total], rows
    for foreign in words["foreign"]:
        assert foreign not in main, (foreign, main)
    page.screenshot(path=str(SHOTS / f"credit-note-{lang}.png"), full_page=True)
    page.close()
