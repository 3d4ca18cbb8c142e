"""The dashboard's plans, API keys and exports against `make local` over HTTP: the owner creates a
plan the API lists, a key whose secret (shown once) calls the API, revokes it, requests an export the
local engine builds and downloads it by the link the list gives; another merchant's owner cannot
archive the plan."""

from __future__ import annotations

import re

from tests.local.conftest import Http
from tests.local.test_dashboard_local import new_merchant, owner_in_browser
from tests.local.test_local_dashboard_mandates import signed_in
from tests.local.test_local_exports import fetch


def test_an_owner_manages_plans_keys_and_exports_over_http(local: str) -> None:
    created = new_merchant(local, "Owner pages over HTTP")
    call = Http(local, created["api_key"])
    owner = signed_in(local, created)
    csrf = owner.csrf("/dashboard/plans")
    # When the owner creates a plan in major units, Then the API lists it in minor units
    form = {"csrf": csrf, "name": "Box", "amount": "12,50", "currency": "EUR", "interval": "month", "interval_count": "1"}
    assert owner.go("POST", "/dashboard/plans", form)[0] == 303
    [plan] = call("GET", "/v1/plans")[1]["data"]
    assert (plan["name"], plan["amount"]) == ("Box", 1250)
    # And another merchant's owner cannot archive it
    stranger = signed_in(local, new_merchant(local, "Stranger pages"))
    assert stranger.go("POST", f"/dashboard/plans/{plan['id']}/archive", {"csrf": stranger.csrf("/dashboard/plans")})[0] == 404
    assert call("GET", f"/v1/plans/{plan['id']}")[1]["status"] == "active"
    # When the owner creates an API key, Then the page shows its secret once, and it calls the API
    status, headers, _, page = owner.go("POST", "/dashboard/api-keys", {"csrf": csrf})
    secret = re.search(r'value="([^"]+)" id="new-key"', page).group(1)  # type: ignore[union-attr]
    assert status == 201 and headers["Cache-Control"] == "no-store"
    assert Http(local, secret)("GET", "/v1/plans")[0] == 200
    assert secret not in owner.go("GET", "/dashboard/api-keys")[3]
    key_id = re.search(r'data-key-id="(key_[A-Za-z0-9]+)"', page).group(1)  # type: ignore[union-attr]
    assert owner.go("POST", f"/dashboard/api-keys/{key_id}/revoke", {"csrf": csrf})[0] == 303
    assert call("GET", "/v1/api_keys")[1]["data"][0]["status"] == "revoked"
    # When the owner requests this month's mandates export, and the local engine builds it
    _, now = Http(local)("GET", "/_local/clock")
    form = {"csrf": csrf, "kind": "mandates", "month": now["now"][:7]}
    assert owner.go("POST", "/dashboard/exports", form)[0] == 303
    assert Http(local)("POST", "/_local/tick")[0] == 200
    # Then the list links to its file, which downloads
    page = owner.go("GET", "/dashboard/exports")[3]
    link = re.search(r'href="([^"]+/_local/s3/[^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    status, _, headers = fetch(link)
    assert status == 200 and headers["Content-Type"].startswith("text/csv")


def test_an_owner_creates_a_plan_and_a_key_in_a_real_browser(local: str) -> None:
    """With SCREENSHOTS=1 the plans and API keys pages are saved as docs/screenshots/dashboard-plans-en.png
    and dashboard-api-keys-lt.png (the key's secret is never on them)."""
    from tests.local.test_dashboard_local import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    created = new_merchant(local, "Sporto klubas")
    with owner_in_browser(local, created) as (page, violations):
        # When the owner creates a plan from the Plans page, a wrong amount first
        page.click("nav >> text=Plans")
        page.fill("input[name=name]", "Monthly membership")
        page.fill("input[name=amount]", "29,999")
        page.click("text=Create the plan")
        assert "at most 2 decimal places" in page.locator("p.error").inner_text()
        assert page.locator("input[name=name]").input_value() == "Monthly membership"  # what was typed is kept
        page.fill("input[name=amount]", "29,99")
        page.fill("input[name=trial_days]", "14")
        page.click("text=Create the plan")
        page.wait_for_url("**?done=created")
        assert "€29.99" in page.locator("table.plans").inner_text()
        page.screenshot(path=str(SHOTS / "dashboard-plans-en.png"), full_page=True)
        # When the owner creates an API key, Then its secret is shown once, never on the list
        page.click("nav >> text=API keys")
        page.click("text=Create an API key")
        secret = page.locator("#new-key").input_value()
        assert secret.startswith("rk_")
        page.click("text=Back to the API keys")
        page.goto(f"{local}/dashboard/api-keys?lang=lt")
        assert secret not in page.content() and page.locator("tr[data-key-id]").count() == 2
        page.screenshot(path=str(SHOTS / "dashboard-api-keys-lt.png"), full_page=True)
    assert violations == []
