"""The dashboard's mandates on moto, built from template.yaml: the merchant API makes a mandate and
the engine charges it; the real dashboard handler signs the owner in (the emulated pool), finds the
mandate by the customer's e-mail, shows its timeline (the events' mandate index), refunds part of
its charge once (the form sent twice) and cancels it; a viewer's action is 403 and the other
merchant's owner gets 404. Every AWS call the dashboard makes is checked against its role in the
template (the `aws` fixture): its least privilege on the table and its indexes."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import boto3
import pytest

from billing.adapters.cognito import CognitoUserPool
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers
from billing.service.dashboard import DashboardUsers
from devtools.gateway import ApiGateway
from devtools.lambda_runtime import invoke, load_function
from tests.fakes import FakeClock
from tests.integration.test_dashboard_on_moto import Browser
from tests.support.system import Client, EngineHarness, System, charges_of, make_mandate, plan


@pytest.fixture
def dashboard(system: System, monkeypatch: pytest.MonkeyPatch) -> tuple[ApiGateway, DashboardUsers]:
    from billing import bootstrap

    monkeypatch.setenv("DASHBOARD_PASSWORD_SIGN_IN", "true")
    # PUBLIC_BASE_URL as the API's (from the stack): the links are the API's own
    module = load_function("dashboard", bootstrap.Overrides(clock=system.clock))
    gateway = ApiGateway(
        authorizer=lambda e: {}, routes=[("/dashboard", lambda e: invoke(module, e, "DashboardFunction"), False)]
    )
    pool = CognitoUserPool(boto3.client("cognito-idp"), system.aws.user_pools["DashboardUserPool"])
    members = DynamoDashboardMembers(boto3.client("dynamodb"), system.aws.tables["BillingTable"])
    return gateway, DashboardUsers(pool, members, FakeClock(None))


def signed_in(gateway: ApiGateway, users: DashboardUsers, merchant_id: str, email: str, role: str = "owner") -> Browser:
    _, password = users.create_owner(merchant_id, email, role=role)  # type: ignore[arg-type]
    browser = Browser(gateway)
    assert browser.sign_in(email, password).status == 303
    return browser


def test_an_owner_finds_a_mandate_reads_its_timeline_refunds_once_and_cancels_it(
    system: System, engine: EngineHarness, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    # Given an active mandate of merchant A (customer jonas@example.lt), its first charge collected
    mandate = make_mandate(call, plan(call), reference="cust-moto")
    engine.tick()
    [charge] = charges_of(call, mandate["id"])
    assert charge["status"] == "succeeded"
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    # When the owner searches by the customer's e-mail, Then the mandate is listed
    listed = owner.go("GET", "/dashboard/mandates?q=JONAS%40example.lt")
    assert listed.status == 200 and f'data-mandate-id="{mandate["id"]}"' in listed.body
    # And its page shows the timeline of its events, newest first: the API's events about it, in its order
    page = owner.go("GET", f"/dashboard/mandates/{mandate['id']}")
    timeline = re.findall(r'data-event-id="(evt_[A-Za-z0-9]+)"', page.body)
    events = call("GET", "/v1/events?limit=100").json()["data"]
    about = [e["id"] for e in events if mandate["id"] in (e["data"]["object"]["id"], e["data"]["object"].get("mandate_id"))]
    assert page.status == 200 and timeline == about and len(timeline) >= 3
    # When the owner refunds 5.00 of the charge, and the same form is posted twice
    left = re.search(r'name="left" value="(\d+)"', page.body).group(1)  # type: ignore[union-attr]
    form = {"csrf": owner.csrf(f"/dashboard/mandates/{mandate['id']}"), "left": left, "amount": "5.00", "reason": "other"}
    path = f"/dashboard/mandates/{mandate['id']}/charges/{charge['id']}/refund"
    assert owner.go("POST", path, form).status == 303
    assert owner.go("POST", path, form).status == 409
    # Then one refund exists (the API agrees)
    refunds = call("GET", f"/v1/refunds?charge_id={charge['id']}").json()["data"]
    assert [r["amount"] for r in refunds] == [500]
    # And cancelling the mandate ends it
    cancelled = owner.go("POST", f"/dashboard/mandates/{mandate['id']}/cancel", {"csrf": form["csrf"]})
    assert cancelled.status == 303 and call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "cancelled"
    assert "refund.created" in unescape(owner.go("GET", f"/dashboard/mandates/{mandate['id']}").body)


def test_a_viewer_cannot_act_and_another_merchants_owner_cannot_see(
    system: System, engine: EngineHarness, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    mandate = make_mandate(call, plan(call))
    viewer = signed_in(gateway, users, system.a.id, "viewer@a.example", role="viewer")
    csrf = viewer.csrf(f"/dashboard/mandates/{mandate['id']}")
    assert viewer.go("POST", f"/dashboard/mandates/{mandate['id']}/cancel", {"csrf": csrf}).status == 403
    other = signed_in(gateway, users, system.b.id, "owner@b.example")
    assert other.go("GET", f"/dashboard/mandates/{mandate['id']}").status == 404
    csrf_b = other.csrf("/dashboard/mandates")
    assert other.go("POST", f"/dashboard/mandates/{mandate['id']}/cancel", {"csrf": csrf_b}).status == 404
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["status"] == "active"


def test_a_backfill_puts_events_written_before_the_timeline_on_it_and_runs_again_for_nothing(
    system: System, engine: EngineHarness, call: Client
) -> None:
    from billing.adapters.dynamodb.repository import DynamoRepository
    from billing.domain.model import Event
    from billing.service.ports import PageRequest
    from scripts.backfill_timeline import main as backfill

    # Given a charged mandate whose events were written before events carried their mandate
    mandate = make_mandate(call, plan(call), reference="cust-old")
    engine.tick()
    client, table = boto3.client("dynamodb"), system.aws.tables["BillingTable"]
    repo = DynamoRepository(client, table)

    def timeline() -> list[str]:
        return [e.id for e in repo.page(Event, system.a.id, PageRequest(limit=100), mandate_id=mandate["id"]).data]

    expected = timeline()
    assert len(expected) >= 3
    for item in system.table_items():
        if item.get("entity") == "event":
            client.update_item(
                TableName=table,
                Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
                UpdateExpression="REMOVE mandate_id, ppk, psk",
            )
    assert timeline() == []
    # When the operator backfills the merchant, Then the timeline is whole again, in its order
    assert backfill(["--table", table, "--merchant", system.a.id]) == 0
    assert timeline() == expected
    # And a second run indexes nothing
    from scripts.backfill_timeline import backfill as run

    [counts] = run(client, table, [system.a.id]).values()
    assert counts["indexed"] == 0 and counts["already_indexed"] == len(expected) and counts["about_no_mandate"] >= 1


def test_a_pending_mandates_page_offers_the_owner_the_approval_link_the_api_returns(
    system: System, call: Client, dashboard: Any
) -> None:
    gateway, users = dashboard
    created = make_mandate(call, plan(call), reference="cust-pending", active=False)
    link = call("GET", f"/v1/mandates/{created['id']}").json()["approval_url"]
    assert created["status"] == "pending_approval" and link
    owner = signed_in(gateway, users, system.a.id, "owner@a.example")
    assert f'value="{link}"' in owner.go("GET", f"/dashboard/mandates/{created['id']}").body
