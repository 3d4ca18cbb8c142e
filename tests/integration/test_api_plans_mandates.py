"""Every plan and mandate route through the real authorizer and handler, on moto."""

from __future__ import annotations

from tests.support.system import Client, System, make_mandate, make_plan


def test_plan_lifecycle(call: Client) -> None:
    # Given a new plan
    plan = make_plan(call, trial_days=14, total_cycles=12, metadata={"tier": "gold"})
    assert plan["object"] == "plan" and plan["id"].startswith("pln_") and plan["status"] == "active"
    assert plan["retry_schedule_days"] == [1, 3, 7] and plan["created_at"].endswith("Z")
    # When it is renamed, Then only name and metadata change
    patched = call("PATCH", f"/v1/plans/{plan['id']}", {"name": "Gold 2027", "metadata": {"tier": "g"}})
    assert patched.status == 200 and patched.json()["name"] == "Gold 2027" and patched.json()["amount"] == 1999
    # And price changes are refused with the field named
    refused = call("PATCH", f"/v1/plans/{plan['id']}", {"amount": 2999})
    assert refused.status == 422 and refused.json()["error"]["param"] == "amount"
    # When archived, Then it is listed under archived and takes no mandates
    assert call("POST", f"/v1/plans/{plan['id']}/archive").json()["status"] == "archived"
    assert call("POST", f"/v1/plans/{plan['id']}/archive").status == 409
    assert [p["id"] for p in call("GET", "/v1/plans?status=archived").json()["data"]] == [plan["id"]]
    assert call("GET", "/v1/plans?status=active").json()["data"] == []
    blocked = call("POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "c"}})
    assert blocked.status == 409 and blocked.json()["error"]["type"] == "invalid_state"


def test_mandate_created_with_consent_is_active_and_hides_the_token(call: Client) -> None:
    # When a mandate is created with consent and a payment method
    plan = make_plan(call, trial_days=14)
    mandate = make_mandate(call, plan["id"])
    # Then it is active, and the token is never shown again (only its last four characters)
    assert mandate["status"] == "active" and mandate["object"] == "mandate"
    assert mandate["payment_method"] == {
        "gateway": "simulated",
        "type": "card",
        "token_last4": "m_ok",
        "last4": "4242",
        "mandate_reference": None,
    }
    assert "pm_sim_ok" not in call("GET", f"/v1/mandates/{mandate['id']}").body
    assert mandate["consent"]["ip"] == "203.0.113.9" and mandate["approval_url"] is None
    assert mandate["next_charge_at"] is not None


def test_mandate_without_consent_has_a_working_signed_approval_url(system: System, call: Client) -> None:
    # When a mandate is created without consent
    plan = make_plan(call)
    mandate = make_mandate(call, plan["id"], active=False)
    # Then it awaits approval, with a signed link to the customer's page that names it and only it
    assert mandate["status"] == "pending_approval" and mandate["next_charge_at"] is None
    url = mandate["approval_url"]
    assert url.startswith(f"https://{system.gateway.host}/live/customer/mandates/")
    # The same link every time it is read; it names this mandate only.
    assert call("GET", f"/v1/mandates/{mandate['id']}").json()["approval_url"] == url
    from billing.service.links import ApprovalLinks

    key = system.api_module.deps.signing_key()
    target = ApprovalLinks(key, "x").verify(url.rsplit("/", 1)[1], system.clock.now())
    assert (target.merchant_id, target.mandate_id) == (system.a.id, mandate["id"])


def test_mandate_actions_and_their_409s(call: Client) -> None:
    # Given an active mandate
    plan = make_plan(call)
    mandate_id = make_mandate(call, plan["id"])["id"]
    # When it goes through resume, pause (with and without resume_at), a new payment method and revoke
    assert call("POST", f"/v1/mandates/{mandate_id}/resume").status == 409
    paused = call("POST", f"/v1/mandates/{mandate_id}/pause", {"resume_at": "2030-01-01T00:00:00Z"})
    assert paused.status == 200 and paused.json()["status"] == "paused" and paused.json()["resume_at"] == "2030-01-01T00:00:00Z"
    assert call("POST", f"/v1/mandates/{mandate_id}/pause").status == 409
    assert call("POST", f"/v1/mandates/{mandate_id}/resume").json()["status"] == "active"
    assert call("POST", f"/v1/mandates/{mandate_id}/pause").json()["status"] == "paused"  # without a body
    replaced = call("POST", f"/v1/mandates/{mandate_id}/payment_method", {"gateway": "simulated", "token": "pm_sim_fail_once"})
    assert replaced.status == 200 and replaced.json()["payment_method"]["token_last4"] == "once"
    revoked = call("POST", f"/v1/mandates/{mandate_id}/revoke")
    assert revoked.json()["status"] == "revoked" and revoked.json()["ended_at"] is not None
    # Then each change is allowed only where the state machine allows it (409 otherwise)
    for action in ("cancel", "revoke", "pause", "resume"):
        response = call("POST", f"/v1/mandates/{mandate_id}/{action}")
        assert response.status == 409 and response.json()["error"]["type"] == "invalid_state", action
    other = make_mandate(call, plan["id"], reference="c2")
    assert call("POST", f"/v1/mandates/{other['id']}/cancel").json()["status"] == "cancelled"


def test_schedule_preview(call: Client) -> None:
    # Given a three-payment monthly mandate starting on Jan 31
    plan = make_plan(call, interval="month", total_cycles=3, currency="JPY", amount=700)
    mandate = make_mandate(call, plan["id"], start_at="2027-01-31T09:00:00Z")
    # When its next five charges are previewed
    response = call("GET", f"/v1/mandates/{mandate['id']}/schedule?count=5")
    # Then exactly three come, at month ends; more than 36 is a 400
    assert response.status == 200
    body = response.json()
    assert body["object"] == "schedule" and body["mandate_id"] == mandate["id"]
    assert [(c["cycle"], c["due_at"], c["amount"], c["currency"]) for c in body["data"]] == [
        (1, "2027-01-31T09:00:00Z", 700, "JPY"),
        (2, "2027-02-28T09:00:00Z", 700, "JPY"),
        (3, "2027-03-31T09:00:00Z", 700, "JPY"),
    ]
    assert call("GET", f"/v1/mandates/{mandate['id']}/schedule?count=37").status == 400
    assert len(call("GET", f"/v1/mandates/{mandate['id']}/schedule").json()["data"]) == 3


def test_mandate_list_filters_combine(call: Client) -> None:
    # Given mandates of two customers on two plans, one paused and one pending
    gold, silver = make_plan(call), make_plan(call, name="Silver")
    a = make_mandate(call, gold["id"], reference="alice")
    b = make_mandate(call, silver["id"], reference="alice")
    c = make_mandate(call, gold["id"], reference="bob", active=False)
    call("POST", f"/v1/mandates/{b['id']}/pause")

    def ids(query: str) -> list[str]:
        response = call("GET", f"/v1/mandates?{query}")
        assert response.status == 200, response.body
        return [m["id"] for m in response.json()["data"]]

    # When the list is filtered by plan, customer and status, alone or together, Then exactly the matching ones come, newest first
    assert ids("") == [c["id"], b["id"], a["id"]]
    assert ids(f"plan_id={gold['id']}") == [c["id"], a["id"]]
    assert ids("customer_reference=alice") == [b["id"], a["id"]]
    assert ids("customer_reference=alice&status=paused") == [b["id"]]
    assert ids(f"customer_reference=alice&plan_id={gold['id']}") == [a["id"]]
    assert ids("status=pending_approval") == [c["id"]]
    assert ids(f"status=active&plan_id={silver['id']}") == []


def test_pagination_merges_shards_newest_first_without_gaps_or_repeats(call: Client) -> None:
    # Given 23 mandates (spread over the list index's shards)
    plan = make_plan(call)
    created = [make_mandate(call, plan["id"], reference=f"c{i}")["id"] for i in range(23)]
    # When they are read five at a time
    seen, cursor, pages = [], None, 0
    while True:
        response = call("GET", "/v1/mandates?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        body = response.json()
        seen += [m["id"] for m in body["data"]]
        pages += 1
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    # Then each comes once, newest first, in five pages
    assert seen == list(reversed(created)) and pages == 5


def test_cursor_is_bound_to_its_list_and_tampering_is_a_400(call: Client) -> None:
    # Given a cursor of the unfiltered mandate list
    plan = make_plan(call)
    for i in range(3):
        make_mandate(call, plan["id"], reference=f"c{i}")
    cursor = call("GET", "/v1/mandates?limit=1").json()["next_cursor"]
    # When it is used with another filter, or altered, Then the request is a 400 naming the cursor
    for query in (f"status=active&cursor={cursor}", "cursor=garbage", f"cursor={cursor[:-3]}", "cursor=" + "A" * 1001):
        response = call("GET", f"/v1/mandates?{query}")
        assert response.status == 400 and response.json()["error"]["param"] == "cursor", query


def test_active_mandates_are_on_the_sharded_due_index_and_pending_ones_are_not(system: System, call: Client) -> None:
    # Given an active and a pending mandate
    plan = make_plan(call)
    active = make_mandate(call, plan["id"])
    pending = make_mandate(call, plan["id"], reference="p", active=False)
    # Then only the active one is on the due index (sharded, keyed by time, merchant, mandate)
    items = {i["pk"].rsplit("#", 1)[1]: i for i in system.table_items() if i.get("entity") == "mandate"}
    assert items[active["id"]]["dpk"].startswith("DUE#")
    assert items[active["id"]]["dsk"].endswith(f"#{system.a.id}#{active['id']}")
    assert "dpk" not in items[pending["id"]]
    # And once cancelled it leaves the index
    call("POST", f"/v1/mandates/{active['id']}/cancel")
    items = {i["pk"].rsplit("#", 1)[1]: i for i in system.table_items() if i.get("entity") == "mandate"}
    assert "dpk" not in items[active["id"]]


def test_every_stored_key_of_merchant_data_begins_with_the_merchant(system: System, call: Client) -> None:
    # Given a plan, a mandate and their events
    plan = make_plan(call)
    make_mandate(call, plan["id"])
    # Then every key of every stored item begins with the merchant's id
    for item in system.table_items():
        if item["entity"] in ("plan", "mandate", "event"):
            for key in ("pk", "lpk", "spk", "ppk", "cpk"):
                if key in item:
                    assert item[key].startswith(f"M#{system.a.id}#"), (key, item[key])


def test_the_link_key_is_read_only_by_requests_that_make_or_check_a_link(system: System, call: Client) -> None:
    # Given a mandate awaiting approval, and an API whose reads of the link-signing secret are counted
    from billing import bootstrap
    from billing.adapters.secrets import secret_reader
    from billing.settings import Settings
    from devtools.lambda_runtime import load_function

    pending = make_mandate(call, make_plan(call)["id"], active=False)
    reads: list[bytes] = []
    read = secret_reader(Settings.from_env().link_signing_secret_arn)

    def counted() -> bytes:
        reads.append(read().encode())
        return reads[-1]

    system.api_module = load_function("api", bootstrap.Overrides(clock=system.clock, signing_key=counted))
    # When lists that show no mandate awaiting approval are read, Then the secret is not read
    assert call("GET", "/v1/plans").status == 200 and call("GET", "/v1/charges").status == 200
    assert reads == []
    # When the pending mandate is read, Then the secret signs its link
    assert call("GET", f"/v1/mandates/{pending['id']}").json()["approval_url"] == pending["approval_url"]
    assert len(reads) == 1
