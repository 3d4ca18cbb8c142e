"""The dashboard's webhooks and settings pages against `make local` over HTTP: the owner adds an
endpoint (its secret shown once) the API lists, rotates its secret, saves the account's settings and
creates a tax rate the API shows."""

from __future__ import annotations

import re

from tests.local.conftest import Http
from tests.local.test_dashboard_local import new_merchant
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
    # The settings: the account saved, then a tax rate created
    form = {"csrf": csrf, "name": "Klubas", "vat_id": "LT100001919017", "default_locale": "lt", "invoice_prefix": "KL"}
    form |= {"credit_note_prefix": "KLK", "upcoming_charge_days": "3", "trial_ending_days": "3", "receipts": "on"}
    assert owner.go("POST", "/dashboard/settings", form)[0] == 303
    assert call("GET", "/v1/account")[1]["vat_id"] == "LT100001919017"
    rate = {"csrf": csrf, "display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": "on"}
    assert owner.go("POST", "/dashboard/settings/tax-rates", rate)[0] == 303
    assert [r["percentage"] for r in call("GET", "/v1/tax_rates")[1]["data"]] == ["21"]
