"""The dashboard's webhooks, settings and users pages against `make local` over HTTP: the owner adds
an endpoint (its secret shown once; the form sent twice adds one) the API lists, rotates its
secret, disables, enables and deletes it, saves the account's settings, creates a tax rate the API
shows and makes it the account's default, and makes an invited viewer an owner."""

from __future__ import annotations

import re

from tests.local.conftest import Http
from tests.local.test_dashboard_local import new_merchant, owner_in_browser
from tests.local.test_local_dashboard_mandates import signed_in


def test_an_owner_manages_webhooks_and_settings_over_http(local: str) -> None:
    created = new_merchant(local, "Settings over HTTP")
    call = Http(local, created["api_key"])
    owner = signed_in(local, created)
    csrf = owner.csrf("/dashboard/webhooks")
    form = {"csrf": csrf, "url": "http://127.0.0.1:9/hooks", "events": "plan.created"}
    status, headers, _, page = owner.go("POST", "/dashboard/webhooks", form)
    assert status == 201 and headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="([^"]+)" id="new-secret"', page).group(1)  # type: ignore[union-attr]
    [endpoint] = call("GET", "/v1/webhook_endpoints")[1]["data"]
    assert endpoint["enabled_events"] == ["plan.created"] and secret not in owner.go("GET", "/dashboard/webhooks")[3]
    rotated = owner.go("POST", f"/dashboard/webhooks/{endpoint['id']}/rotate", {"csrf": csrf})
    assert rotated[0] == 200 and 'id="new-secret"' in rotated[3] and secret not in rotated[3]
    assert owner.go("GET", f"/dashboard/webhooks/{endpoint['id']}/deliveries")[0] == 200
    # Disabled, enabled again, then deleted after its confirmation page: as the API shows
    hook = f"/dashboard/webhooks/{endpoint['id']}"
    assert owner.go("POST", f"{hook}/status", {"csrf": csrf, "status": "disabled"})[0] == 303
    assert call("GET", f"/v1/webhook_endpoints/{endpoint['id']}")[1]["status"] == "disabled"
    assert owner.go("POST", f"{hook}/status", {"csrf": csrf, "status": "enabled"})[0] == 303
    confirm = owner.go("GET", f"{hook}/delete")
    assert confirm[0] == 200 and f'action="{hook}/delete"' in confirm[3] and "<script" not in confirm[3]
    assert owner.go("POST", f"{hook}/delete", {"csrf": csrf})[0] == 303
    assert call("GET", "/v1/webhook_endpoints")[1]["data"] == []
    # The new-endpoint form sent twice adds one endpoint
    key = owner.go("GET", "/dashboard/webhooks")[3].split('name="form_key" value="')[1].split('"')[0]
    twice = {"csrf": csrf, "form_key": key, "url": "http://127.0.0.1:9/hooks", "events": ""}
    assert owner.go("POST", "/dashboard/webhooks", twice)[0] == 201 and owner.go("POST", "/dashboard/webhooks", twice)[0] == 303
    assert len(call("GET", "/v1/webhook_endpoints")[1]["data"]) == 1
    # The settings: the account saved, then a tax rate created
    form = {"csrf": csrf, "name": "Klubas", "vat_id": "LT100001919017", "default_locale": "lt", "invoice_prefix": "KL"}
    form |= {"credit_note_prefix": "KLK", "upcoming_charge_days": "3", "trial_ending_days": "3", "receipts": "on"}
    assert owner.go("POST", "/dashboard/settings", form)[0] == 303
    assert call("GET", "/v1/account")[1]["vat_id"] == "LT100001919017"
    rate = {"csrf": csrf, "display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": "on"}
    assert owner.go("POST", "/dashboard/settings/tax-rates", rate)[0] == 303
    assert [r["percentage"] for r in call("GET", "/v1/tax_rates")[1]["data"]] == ["21"]
    [rate_id] = [r["id"] for r in call("GET", "/v1/tax_rates")[1]["data"]]
    assert owner.go("POST", "/dashboard/settings/default-tax-rate", {"csrf": csrf, "default_tax_rate_id": rate_id})[0] == 303
    assert call("GET", "/v1/account")[1]["default_tax_rate_id"] == rate_id
    # The users: an invited viewer made an owner
    assert owner.go("POST", "/dashboard/users", {"csrf": csrf, "email": "second@shop.example", "role": "viewer"})[0] == 303
    users = owner.go("GET", "/dashboard/users")[3]
    second = re.search(r'data-user-id="([^"]+)">\s*<td>second@shop.example', users).group(1)  # type: ignore[union-attr]
    assert owner.go("POST", f"/dashboard/users/{second}/role", {"csrf": csrf, "role": "owner"})[0] == 303
    assert f'action="/dashboard/users/{second}/role"' in owner.go("GET", "/dashboard/users")[3]
    mine = re.search(r'data-user-id="([^"]+)">\s*<td>[^<]*\(you\)', users).group(1)  # type: ignore[union-attr]
    assert owner.go("POST", f"/dashboard/users/{second}/role", {"csrf": csrf, "role": "viewer"})[0] == 303
    assert owner.go("POST", f"/dashboard/users/{mine}/role", {"csrf": csrf, "role": "viewer"})[0] == 409  # the last owner


def test_an_owner_adds_a_webhook_and_saves_settings_in_a_real_browser(local: str) -> None:
    """With SCREENSHOTS=1 the webhooks and settings pages are saved as
    docs/screenshots/dashboard-webhooks-en.png and dashboard-settings-lt.png (no secret on them)."""
    from tests.local.test_dashboard_local import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    created = new_merchant(local, "Sporto klubas")
    with owner_in_browser(local, created) as (page, violations):
        # When the owner adds an endpoint with an unknown event type first, Then the reason, what was typed kept
        page.click("nav >> text=Webhooks")
        page.fill("input[name=url]", "http://127.0.0.1:9/hooks")
        page.fill("input[name=events]", "charge.succeeded charge.nope")
        page.click("text=Add the endpoint")
        assert "Unknown event types: charge.nope" in page.locator("p.error").inner_text()
        assert page.locator("input[name=url]").input_value() == "http://127.0.0.1:9/hooks"
        page.fill("input[name=events]", "charge.succeeded, charge.failed")
        page.click("text=Add the endpoint")
        secret = page.locator("#new-secret").input_value()
        assert secret.startswith("whsec_")
        page.click("text=Back to the webhooks")
        assert secret not in page.content() and page.locator("tr[data-endpoint-id]").count() == 1
        page.screenshot(path=str(SHOTS / "dashboard-webhooks-en.png"), full_page=True)
        # When the owner deletes it: a confirmation page (no script), then it is gone
        page.click("tr[data-endpoint-id] >> text=Delete")
        page.screenshot(path=str(SHOTS / "dashboard-webhook-delete-en.png"), full_page=True)
        page.click("text=Delete the endpoint")
        page.wait_for_url("**?done=deleted")
        assert page.locator("tr[data-endpoint-id]").count() == 0 and "The endpoint was deleted." in page.content()
        # When the owner saves the settings in Lithuanian
        page.goto(f"{local}/dashboard/settings?lang=lt")
        page.fill("input[name=legal_name]", "UAB Sporto klubas")
        page.fill("input[name=vat_id]", "LT100001919017")
        page.check("input[name=invoice_pdf]")
        page.click("text=Išsaugoti nustatymus")
        page.wait_for_url("**?done=saved")
        assert page.locator("input[name=invoice_pdf]").is_checked()
        page.fill("input[name=display_name]", "PVM")
        page.fill("input[name=percentage]", "21")
        page.fill("input[name=country]", "LT")
        page.click("text=Sukurti mokesčio tarifą")
        page.wait_for_url("**?done=rate_created")
        assert "21 %" in page.locator("table.tax-rates").inner_text()
        page.screenshot(path=str(SHOTS / "dashboard-settings-lt.png"), full_page=True)
    assert violations == []
