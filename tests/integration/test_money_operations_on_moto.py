"""Refunds, items and plan changes end to end on moto: the API's routes, the dispatcher and the
charger's real handlers, the simulated gateway's ledger, the customer's page, and isolation."""

from __future__ import annotations

from datetime import timedelta

from tests.support.system import HOST, Client, EngineHarness, System, active
from tests.support.values import GOLD


def test_a_set_up_fee_a_refund_and_an_upgrade_with_proration(system: System, call: Client, engine: EngineHarness) -> None:
    gold = call("POST", "/v1/plans", {**GOLD, "trial_days": 3}).json()
    platinum = call("POST", "/v1/plans", {**GOLD, "name": "Platinum", "amount": 4999}).json()
    mandate = active(call, gold["id"])
    # Given a set-up fee added during the trial
    fee = call("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 2500, "description": "Set-up <fee>"})
    assert fee.status == 201 and fee.json()["status"] == "pending" and fee.json()["currency"] == "EUR"
    preview = call("GET", f"/v1/mandates/{mandate['id']}/schedule?count=2").json()["data"]
    assert [c["amount"] for c in preview] == [4499, 1999]
    # When the first cycle is charged
    engine.advance(days=3)
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    assert charge["status"] == "succeeded" and charge["amount"] == 4499 and charge["amount_refunded"] == 0
    assert [(li["type"], li["amount"], li["item_id"]) for li in charge["lines"]] == [
        ("plan", 1999, None),
        ("item", 2500, fee.json()["id"]),
    ]
    assert call("GET", f"/v1/items/{fee.json()['id']}").json()["charge_id"] == charge["id"]
    # And the merchant refunds part of the fee, once, whatever is retried
    headers = {"Idempotency-Key": "refund-fee"}
    created = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}, headers=headers)
    again = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}, headers=headers)
    assert created.status == again.status == 201 and created.json()["id"] == again.json()["id"]
    assert created.json()["status"] == "pending" and created.json()["reason"] == "requested_by_customer"
    engine.tick()
    engine.tick()
    refund = call("GET", f"/v1/refunds/{created.json()['id']}").json()
    assert refund["status"] == "succeeded"
    assert call("GET", f"/v1/charges/{charge['id']}").json()["amount_refunded"] == 500
    kinds = [(e["kind"], e["amount"]) for e in engine.ledger()]
    assert kinds == [("charge", 4499), ("refund", 500)]
    assert call("GET", f"/v1/refunds?charge_id={charge['id']}&status=succeeded").json()["data"][0]["id"] == refund["id"]
    # When the customer upgrades now, ten days into the month, with proration
    engine.clock.advance(days=10)
    changed = call("POST", f"/v1/mandates/{mandate['id']}/change_plan", {"plan_id": platinum["id"], "at": "now", "prorate": True})
    assert changed.status == 200 and changed.json()["plan_id"] == platinum["id"]
    preview = call("GET", f"/v1/mandates/{mandate['id']}/schedule?count=1").json()["data"]
    engine.tick()
    charges = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    upgrade = charges[0]
    assert upgrade["cycle"] == 2 and upgrade["amount"] == preview[0]["amount"]
    assert [li["type"] for li in upgrade["lines"]] == ["plan", "proration"]
    assert sum(li["amount"] for li in upgrade["lines"]) == upgrade["amount"] < 4999
    # The credit is the unused share of the plan (about 20 of 30 days), less what was refunded of that charge
    assert 1999 * 20 // 30 - 500 <= -upgrade["lines"][1]["amount"] <= 1999 * 21 // 30 - 500
    [event] = call("GET", "/v1/events?type=mandate.plan_changed").json()["data"]
    assert event["data"]["previous_attributes"] == {"plan_id": gold["id"]}
    types = {e["type"] for e in call("GET", "/v1/events?limit=100").json()["data"]}
    assert {"item.created", "refund.created", "refund.succeeded", "charge.refunded"} <= types
    # And the customer's page (a signed link to this mandate) shows the lines and the refund, escaped
    links = system.api_module.deps.approval_links(f"https://{HOST}")
    token = links.token(system.a.id, mandate["id"], engine.clock.now() + timedelta(days=1))
    html = system.gateway.request("GET", f"/customer/mandates/{token}", {"Host": HOST}).body
    assert "Set-up &lt;fee&gt;" in html and "<fee>" not in html
    assert "Refunded €5.00" in html and "Subscription, " in html and "Credit for unused time" in html


def test_a_declined_refund_fails_and_a_second_one_may_follow(system: System, call: Client, engine: EngineHarness) -> None:
    mandate = active(call, call("POST", "/v1/plans", GOLD).json()["id"], token="pm_sim_refund_fails")
    engine.tick()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    refund = call("POST", f"/v1/charges/{charge['id']}/refunds", {}).json()
    assert refund["amount"] == 1999
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 1}).status == 422  # all of it is pending
    engine.tick()
    failed = call("GET", f"/v1/refunds/{refund['id']}").json()
    assert failed["status"] == "failed" and failed["failure_code"] == "refund_declined"
    assert [e["kind"] for e in engine.ledger()] == ["charge"]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 1}).status == 201


def test_items_can_be_deleted_while_pending_and_are_refused_on_an_ended_mandate(call: Client, engine: EngineHarness) -> None:
    mandate = active(call, call("POST", "/v1/plans", {**GOLD, "trial_days": 5}).json()["id"])
    item = call("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 100, "description": "Towel"}).json()
    deleted = call("DELETE", f"/v1/items/{item['id']}")
    assert deleted.status == 200 and deleted.json()["status"] == "deleted"
    assert call("DELETE", f"/v1/items/{item['id']}").status == 409
    assert call("GET", f"/v1/items?mandate_id={mandate['id']}&status=deleted").json()["data"][0]["id"] == item["id"]
    call("POST", f"/v1/mandates/{mandate['id']}/cancel")
    refused = call("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 100, "description": "Towel"})
    assert refused.status == 409
    bad = call("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 0, "description": ""})
    assert bad.status == 422


def test_every_new_route_is_isolated_between_merchants(system: System, call: Client, engine: EngineHarness) -> None:
    # Given merchant A's charge, refund, item and mandate
    plan = call("POST", "/v1/plans", GOLD).json()
    mandate = active(call, plan["id"])
    engine.tick()
    [charge] = call("GET", "/v1/charges").json()["data"]
    refund = call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 1}).json()
    item = call("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 1, "description": "x"}).json()
    other = system.client(system.b)
    their_plan = other("POST", "/v1/plans", {**GOLD, "amount": 5}).json()
    # Then merchant B sees none of them and changes none of them
    assert other("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 1}).status == 404
    assert other("GET", f"/v1/refunds/{refund['id']}").status == 404
    assert other("GET", f"/v1/items/{item['id']}").status == 404
    assert other("DELETE", f"/v1/items/{item['id']}").status == 404
    assert other("POST", f"/v1/mandates/{mandate['id']}/items", {"amount": 1, "description": "x"}).status == 404
    assert other("POST", f"/v1/mandates/{mandate['id']}/change_plan", {"plan_id": their_plan["id"]}).status == 404
    for listing in ("/v1/refunds", f"/v1/refunds?charge_id={charge['id']}", f"/v1/refunds?mandate_id={mandate['id']}"):
        assert other("GET", listing).json()["data"] == []
    assert other("GET", f"/v1/items?mandate_id={mandate['id']}").json()["data"] == []
    # And A may not move its mandate to B's plan
    refused = call("POST", f"/v1/mandates/{mandate['id']}/change_plan", {"plan_id": their_plan["id"]})
    assert refused.status == 422 and refused.json()["error"]["param"] == "plan_id"
    assert call("GET", f"/v1/items/{item['id']}").json()["status"] == "pending"
