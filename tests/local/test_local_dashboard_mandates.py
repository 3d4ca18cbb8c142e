"""The dashboard's mandates against `make local` over HTTP, and the owner's story in a real headless
Chromium (Debian's package, never a downloaded browser): sign in, search a mandate, open its
timeline, refund a charge, cancel the mandate, switch to Lithuanian. With SCREENSHOTS=1 the
mandate's timeline is saved as docs/screenshots/dashboard-mandate-en.png."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.local.conftest import Http
from tests.local.test_dashboard_local import CHROMIUM, SHOTS, Session, new_merchant, owner_in_browser
from tests.support.values import CONSENT


def charged_mandate(local: str, created: dict[str, Any], reference: str, email: str) -> tuple[str, str]:
    """A plan and an active mandate made through the merchant API, its first charge collected by a
    tick of the local engine: (mandate id, charge id)."""
    call = Http(local, created["api_key"])
    status, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    assert status == 201, plan
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": reference, "email": email, "name": "Ona"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201, mandate
    assert Http(local)("POST", "/_local/tick")[0] == 200
    status, charges = call("GET", f"/v1/charges?mandate_id={mandate['id']}")
    [charge] = charges["data"]
    assert charge["status"] == "succeeded", charge
    return mandate["id"], charge["id"]


def plan_of(local: str, created: dict[str, Any], mandate_id: str) -> str:
    return str(Http(local, created["api_key"])("GET", f"/v1/mandates/{mandate_id}")[1]["plan_id"])


def signed_in(local: str, created: dict[str, Any]) -> Session:
    browser = Session(local)
    form = {"email": created["owner_email"], "password": created["owner_password"], "csrf": browser.csrf("/dashboard/sign-in")}
    assert browser.go("POST", "/dashboard/sign-in", form)[0] == 303
    return browser


def test_an_owner_finds_a_mandate_reads_its_timeline_refunds_once_and_cancels_it_over_http(local: str) -> None:
    # Given a merchant's charged mandate, and its owner signed in
    created = new_merchant(local, "Mandates over HTTP")
    mandate_id, charge_id = charged_mandate(local, created, "cust-http", "Ona@Example.lt")
    owner = signed_in(local, created)
    # When the owner searches by reference and by e-mail address, Then the mandate is found both ways
    for query in ("q=cust-http", "q=ona%40example.lt"):
        status, headers, _, page = owner.go("GET", f"/dashboard/mandates?{query}")
        assert status == 200 and f'data-mandate-id="{mandate_id}"' in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
    # And the mandate's page shows its timeline, newest first (the creation last)
    status, _, _, page = owner.go("GET", f"/dashboard/mandates/{mandate_id}")
    types = re.findall(r"<code>([a-z_.]+)</code>", page)
    assert status == 200 and "mandate.created" in types and "charge.succeeded" in types and "pm_sim" not in page
    # When the owner refunds 2.50 of the charge (the form posted twice), Then once
    left = re.search(r'name="left" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
    form = {"csrf": owner.csrf(f"/dashboard/mandates/{mandate_id}"), "left": left, "amount": "2.50", "reason": "other"}
    path = f"/dashboard/mandates/{mandate_id}/charges/{charge_id}/refund"
    assert owner.go("POST", path, form)[0] == 303
    assert owner.go("POST", path, form)[0] == 409
    refunds = Http(local, created["api_key"])("GET", f"/v1/refunds?charge_id={charge_id}")[1]["data"]
    assert [r["amount"] for r in refunds] == [250]
    # And a refund past what is left is a form error (422), never a 500
    too_much = form | {"left": str(int(left) - 250), "amount": "100"}
    status, _, _, page = owner.go("POST", path, too_much)
    assert status == 422 and "The amount must be between" in page
    # When the owner cancels the mandate through its confirmation page (its form), Then it is cancelled
    status, _, _, confirmation = owner.go("GET", f"/dashboard/mandates/{mandate_id}/cancel")
    assert status == 200 and "cust-http" in confirmation and "No payment starts after you confirm" in confirmation
    assert f'action="/dashboard/mandates/{mandate_id}/cancel" class="confirm"' in confirmation
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', confirmation).group(1)  # type: ignore[union-attr]
    assert owner.go("POST", f"/dashboard/mandates/{mandate_id}/cancel", {"csrf": csrf})[0] == 303
    assert Http(local, created["api_key"])("GET", f"/v1/mandates/{mandate_id}")[1]["status"] == "cancelled"
    # And another merchant's owner gets 404 for it
    stranger = signed_in(local, new_merchant(local, "Stranger"))
    assert stranger.go("GET", f"/dashboard/mandates/{mandate_id}")[0] == 404


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium): the browser test is SKIPPED"
)
def test_an_owner_searches_reads_the_timeline_refunds_and_cancels_in_a_real_browser(local: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    created = new_merchant(local, "Sporto klubas")
    mandate_id, charge_id = charged_mandate(local, created, "member-0042", "ona.petraite@example.lt")
    # Given the owner signed in
    with owner_in_browser(local, created) as (page, violations):
        # When the owner searches the mandates by the customer's e-mail address
        page.click("nav >> text=Mandates")
        page.fill("input[name=q]", "Ona.Petraite@example.lt")
        page.click("form.filters button[type=submit]")
        row = page.locator(f"tr[data-mandate-id='{mandate_id}']")
        assert row.count() == 1
        # And opens it: its timeline, newest first, ends with its creation
        row.locator("a").click()
        page.wait_for_url(f"**/dashboard/mandates/{mandate_id}")
        events = page.locator("ol.timeline li code").all_inner_texts()
        assert events[-1] == "mandate.created" and "charge.succeeded" in events
        assert "Card ending in" in page.locator(".cards").inner_text()
        page.screenshot(path=str(SHOTS / "dashboard-mandate-en.png"), full_page=True)
        # When the owner refunds 5.00 of the charge
        refund = page.locator(f"tr[data-charge-id='{charge_id}'] form.refund")
        refund.locator("input[name=amount]").fill("5.00")
        refund.locator("button[type=submit]").click()
        page.wait_for_url("**?done=refunded")
        assert "The refund was made" in page.locator(".notice").inner_text()
        assert page.locator(f"tr[data-charge-id='{charge_id}'] [data-refund-id]").count() == 1
        # And cancels the mandate: a page names the customer and what cancelling does, and its button cancels
        page.click("a.button.danger")
        page.wait_for_url(f"**/dashboard/mandates/{mandate_id}/cancel")
        assert "member-0042" in page.locator("dl.summary").inner_text()
        assert page.locator("h1 .status").count() == 0  # nothing cancelled by looking
        page.screenshot(path=str(SHOTS / "dashboard-confirm-cancel-en.png"), full_page=True)
        page.click("form.confirm button.danger")
        page.wait_for_url("**?done=cancelled")
        assert page.locator("h1 .status").inner_text() == "cancelled"
        # When the owner switches to Lithuanian, Then the mandate's page speaks it
        page.click("header a.lang")
        assert page.locator("html").get_attribute("lang") == "lt"
        assert page.locator("#timeline").inner_text() == "Įvykių eiga" and page.locator("h1 .status").inner_text() == "atšauktas"
        # And a pending mandate's page copies its approval link (the API's) with one click
        status, pending = Http(local, created["api_key"])(
            "POST", "/v1/mandates", {"plan_id": plan_of(local, created, mandate_id), "customer": {"reference": "member-0043"}}
        )
        assert status == 201 and pending["approval_url"]
        page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=local)
        page.goto(f"{local}/dashboard/mandates/{pending['id']}?lang=en")
        page.click("button[data-copy]")
        page.wait_for_function("document.querySelector('button[data-copy]').textContent === 'Copied'")  # the copy is async
        assert page.evaluate("navigator.clipboard.readText()") == pending["approval_url"]
        assert not violations, violations
