"""The dashboard's plans, API keys and exports on moto, built from template.yaml: the real dashboard
handler signs the owner in (the emulated pool), creates a plan the API then lists and archives it,
creates an API key whose secret (shown once) calls the API until the owner revokes it, and requests
an export the exporter builds, the list then linking to its file. A viewer's action is 403 and
another merchant's owner gets 404. Every AWS call the dashboard makes is checked against its role
in the template (the `aws` fixture): the export queue and bucket are new to it, and the webhook
secrets key (kms:Encrypt only) with the webhook queue, and the merchant's profile (read only: the
account's defaults on the settings page)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.test_dashboard_mandates_on_moto import dashboard, signed_in
from tests.integration.test_exports_on_moto import Exports, exports, s3_server
from tests.support.system import Client, System

__all__ = ["dashboard", "exports", "s3_server"]  # the fixtures used here


def test_an_owner_creates_and_archives_a_plan_and_a_key_that_works_until_revoked(
    system: System, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    csrf = owner.csrf("/dashboard/plans")
    # When the owner creates a plan of 12,50 EUR every 2 weeks with 7 trial days, the form sent twice
    # (its form key through the API's idempotency table, with the dashboard's role)
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', owner.go("GET", "/dashboard/plans").body).group(1)  # type: ignore[union-attr]
    form = {"csrf": csrf, "name": "Box", "amount": "12,50", "currency": "EUR", "interval": "week", "interval_count": "2"}
    for _ in range(2):
        assert owner.go("POST", "/dashboard/plans", form | {"trial_days": "7", "form_key": key}).status == 303
    # Then the API lists it as made, once
    [made] = [p for p in call("GET", "/v1/plans").json()["data"] if p["name"] == "Box"]
    assert (made["amount"], made["interval"], made["interval_count"], made["trial_days"]) == (1250, "week", 2, 7)
    # And the owner archives it through its confirmation page
    confirmation = owner.go("GET", f"/dashboard/plans/{made['id']}/archive")
    assert confirmation.status == 200 and "Archive the plan Box?" in confirmation.body
    assert owner.go("POST", f"/dashboard/plans/{made['id']}/archive", {"csrf": csrf}).status == 303
    assert call("GET", f"/v1/plans/{made['id']}").json()["status"] == "archived"
    # When the owner creates an API key, Then its secret (on that page only) calls the API
    key = re.search(r'name="form_key" value="([0-9a-f]{32})"', owner.go("GET", "/dashboard/api-keys").body).group(1)  # type: ignore[union-attr]
    created = owner.go("POST", "/dashboard/api-keys", {"csrf": csrf, "form_key": key})
    secret = re.search(r'value="([^"]+)" id="new-key"', created.body).group(1)  # type: ignore[union-attr]
    key_id = re.search(r'data-key-id="(key_[A-Za-z0-9]+)"', created.body).group(1)  # type: ignore[union-attr]
    assert created.status == 201 and system.client(key=secret)("GET", "/v1/plans").status == 200
    assert secret not in owner.go("GET", "/dashboard/api-keys").body
    # And the same form sent again makes no other key and never shows the secret again
    again = owner.go("POST", "/dashboard/api-keys", {"csrf": csrf, "form_key": key})
    assert again.status == 200 and secret not in again.body and f'data-key-id="{key_id}"' in again.body
    # And once revoked (through its confirmation page) it calls nothing (once the authorizer's cached answer expires)
    assert owner.go("GET", f"/dashboard/api-keys/{key_id}/revoke").status == 200
    assert owner.go("POST", f"/dashboard/api-keys/{key_id}/revoke", {"csrf": csrf}).status == 303
    system.gateway._cache.clear()  # what the authorizer cache's TTL does after ReauthorizeEvery seconds
    assert system.client(key=secret)("GET", "/v1/plans").status == 401
    # A viewer's action is 403; another merchant's owner gets 404 and changes nothing
    viewer = signed_in(gateway, users, system.a.id, "viewer@a.example", role="viewer")
    assert viewer.go("POST", "/dashboard/api-keys", {"csrf": viewer.csrf("/dashboard/api-keys")}).status == 403
    other = signed_in(gateway, users, system.b.id, "owner@b.example")
    plan_id = call("POST", "/v1/plans", {"name": "A", "amount": 500, "currency": "EUR", "interval": "month"}).json()["id"]
    assert other.go("POST", f"/dashboard/plans/{plan_id}/archive", {"csrf": other.csrf("/dashboard/plans")}).status == 404
    assert call("GET", f"/v1/plans/{plan_id}").json()["status"] == "active"


def test_an_owner_requests_an_export_and_the_list_links_to_its_file(system: System, dashboard: Any, exports: Exports) -> None:
    gateway, users = dashboard
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    requested = owner.go(
        "POST", "/dashboard/exports", {"csrf": owner.csrf("/dashboard/exports"), "kind": "charges", "month": "2026-11"}
    )
    assert requested.status == 303
    [export_id] = re.findall(r'data-export-id="(exp_[A-Za-z0-9]+)"', owner.go("GET", "/dashboard/exports").body)
    assert exports.get(export_id)["status"] == "pending"
    # When the exporter builds it, Then the dashboard's list links to its file
    assert exports.queue.drain().succeeded == 1
    page = owner.go("GET", "/dashboard/exports").body
    assert f"exports/{system.a.id}/{export_id}.csv" in page and "X-Amz-Signature" in page


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local receiver's http://127.0.0.1 URL allowed (as the webhook tests do); nothing is delivered here."""
    monkeypatch.setenv("ALLOW_LOOPBACK_WEBHOOKS", "true")


def test_an_owner_adds_a_webhook_endpoint_and_rotates_its_secret_sealed_with_kms(
    system: System, call: Client, loopback: None, dashboard: Any
) -> None:
    gateway, users = dashboard
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    csrf = owner.csrf("/dashboard/webhooks")
    # When the owner adds an endpoint for plan.created (its secret sealed with the KMS key: kms:Encrypt)
    form = {"csrf": csrf, "url": "http://127.0.0.1:9/hooks", "events": "plan.created"}
    made = owner.go("POST", "/dashboard/webhooks", form)
    assert made.status == 201, made.body
    secret = re.search(r'value="([^"]+)" id="new-secret"', made.body).group(1)  # type: ignore[union-attr]
    endpoint_id = re.search(r'data-endpoint-id="(we_[A-Za-z0-9]+)"', made.body).group(1)  # type: ignore[union-attr]
    # Then the API lists it, without its secret, and neither does the dashboard's list show it
    listed = call("GET", f"/v1/webhook_endpoints/{endpoint_id}").json()
    assert listed["enabled_events"] == ["plan.created"] and secret.startswith("whsec_") and secret not in str(listed)
    assert secret not in owner.go("GET", "/dashboard/webhooks").body
    # And a rotation shows a new secret once
    rotated = owner.go("POST", f"/dashboard/webhooks/{endpoint_id}/rotate", {"csrf": csrf})
    assert rotated.status == 200 and secret not in rotated.body and 'id="new-secret"' in rotated.body
    # Another merchant's owner gets 404 on it
    other = signed_in(gateway, users, system.b.id, "owner@b.example")
    assert (
        other.go("POST", f"/dashboard/webhooks/{endpoint_id}/rotate", {"csrf": other.csrf("/dashboard/webhooks")}).status == 404
    )
    # The owner disables it, enables it again, then deletes it after the confirmation step: as the API shows
    assert owner.go("POST", f"/dashboard/webhooks/{endpoint_id}/status", {"csrf": csrf, "status": "disabled"}).status == 303
    assert call("GET", f"/v1/webhook_endpoints/{endpoint_id}").json()["status"] == "disabled"
    assert owner.go("POST", f"/dashboard/webhooks/{endpoint_id}/status", {"csrf": csrf, "status": "enabled"}).status == 303
    assert call("GET", f"/v1/webhook_endpoints/{endpoint_id}").json()["status"] == "enabled"
    assert 'class="confirm"' in owner.go("GET", f"/dashboard/webhooks/{endpoint_id}/delete").body
    assert owner.go("POST", f"/dashboard/webhooks/{endpoint_id}/delete", {"csrf": csrf}).status == 303
    assert call("GET", f"/v1/webhook_endpoints/{endpoint_id}").status == 404


def test_the_webhook_form_sent_twice_adds_one_endpoint_with_the_apis_idempotency_table(
    system: System, call: Client, loopback: None, dashboard: Any
) -> None:
    gateway, users = dashboard
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    page = owner.go("GET", "/dashboard/webhooks").body
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    key = page.split('name="form_key" value="')[1].split('"')[0]
    form = {"csrf": csrf, "form_key": key, "url": "http://127.0.0.1:9/hooks", "events": ""}
    # When the same rendering of the form is sent twice (the dashboard's role on the idempotency table)
    first, again = owner.go("POST", "/dashboard/webhooks", form), owner.go("POST", "/dashboard/webhooks", form)
    # Then the API lists one endpoint
    assert first.status == 201 and again.status == 303 and "done=already_created" in again.headers["Location"]
    assert len(call("GET", "/v1/webhook_endpoints").json()["data"]) == 1


def test_an_owner_saves_the_settings_and_creates_a_tax_rate_the_api_then_shows(
    system: System, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    page = owner.go("GET", "/dashboard/settings")  # the account's defaults from the merchant's profile
    assert page.status == 200
    csrf = owner.csrf("/dashboard/settings")
    form = {"csrf": csrf, "name": "Klubas", "vat_id": "LT100001919017", "default_locale": "lt", "invoice_prefix": "KL"}
    form |= {"credit_note_prefix": "KLK", "upcoming_charge_days": "3", "trial_ending_days": "3", "invoice_pdf": "on"}
    assert owner.go("POST", "/dashboard/settings", form).status == 303
    account = call("GET", "/v1/account").json()
    assert (account["name"], account["vat_id"], account["invoice_prefix"], account["notifications"]["invoice_pdf"]) == (
        "Klubas",
        "LT100001919017",
        "KL",
        True,
    )
    rate = {"csrf": csrf, "display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": "on"}
    assert owner.go("POST", "/dashboard/settings/tax-rates", rate).status == 303
    assert [r["percentage"] for r in call("GET", "/v1/tax_rates").json()["data"]] == ["21"]
