"""`make local` as a merchant's developer uses it: a subprocess on a free port, driven over real
HTTP: create, tick, advance the clock, inspect; the authorizer's 401s; a failing message
reaching the DLQ after maxReceiveCount on the local clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from tests.local.conftest import Http, merchant


def test_the_authorizer_guards_every_v1_route(local: str) -> None:
    # When /v1 is called without a key or with a wrong one, Then the authorizer answers 401
    assert Http(local)("GET", "/v1/plans")[0] == 401
    status, body = Http(local, "rk_live_wrong")("GET", "/v1/plans")
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert Http(local)("GET", "/v1/nothing-here")[0] in (401, 404)


def test_a_revoked_key_is_refused_once_the_local_clock_passes_the_authorizer_cache(local: str) -> None:
    # Given a merchant's second key, used once (the authorizer's answer is now cached)
    call = merchant(local, "Revoking")
    status, created = call("POST", "/v1/api_keys")
    assert status == 201
    other = Http(local, created["secret"])
    assert other("GET", "/v1/plans")[0] == 200
    # When the merchant revokes it, Then the cached answer still stands on the local clock...
    assert call("POST", f"/v1/api_keys/{created['id']}/revoke")[0] == 200
    assert other("GET", "/v1/plans")[0] == 200
    # ...until the local clock passes the cache's time to live (300 s): then it is refused
    assert Http(local)("POST", "/_local/clock", {"advance_seconds": 301})[0] == 200
    status, body = other("GET", "/v1/plans")
    assert status == 401 and body["error"]["type"] == "authentication_error"
    assert call("GET", "/v1/plans")[0] == 200


def test_any_method_gets_the_api_s_json_answer_never_a_server_page(local: str) -> None:
    # Given a merchant
    call = merchant(local, "Methods")
    # When a route is called with methods it does not have, TRACE and made-up ones included
    for method in ("PUT", "DELETE", "TRACE", "OPTIONS", "BREW"):
        status, body = call(method, "/v1/plans")
        # Then the answer is the API's 405 with the error object (not http.server's 501 page)
        assert status == 405 and body["error"]["type"] == "invalid_request", (method, status, body)


def test_a_merchants_month_over_http(local: str) -> None:
    # Given a merchant, a test clock on March 1 and four mandates, one per simulated path
    call = merchant(local)
    status, clock = Http(local)("POST", "/_local/clock", {"now": "2027-03-01T09:00:00Z"})
    assert status == 200 and clock["now"] == "2027-03-01T09:00:00Z"
    status, plan = call(
        "POST",
        "/v1/plans",
        {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "week", "retry_schedule_days": [1, 3]},
    )
    assert status == 201
    consent = {"accepted_at": "2027-03-01T09:00:00Z", "ip": "203.0.113.9", "user_agent": "test"}
    mandates = {}
    for token in ("pm_sim_ok", "pm_sim_insufficient_funds", "pm_sim_fail_once", "pm_sim_timeout"):
        status, m = call(
            "POST",
            "/v1/mandates",
            {
                "plan_id": plan["id"],
                "customer": {"reference": token},
                "payment_method": {"gateway": "simulated", "token": token},
                "consent": consent,
            },
        )
        assert status == 201 and m["status"] == "active" and m["next_charge_at"] == "2027-03-01T09:00:00Z"
        mandates[token] = m["id"]
    # When a month passes a day at a time, with a tick each day
    status, summary = Http(local)("POST", "/_local/tick")
    assert status == 200 and summary["queues"]["ChargeQueue"] == {"waiting": 0, "in_flight": 0}
    for mandate_id in mandates.values():
        assert [c["cycle"] for c in call("GET", f"/v1/charges?mandate_id={mandate_id}")[1]["data"]] == [1]
    for _ in range(30):  # a month, a day at a time
        assert Http(local)("POST", "/_local/clock", {"advance_seconds": 86400})[0] == 200
        Http(local)("POST", "/_local/tick")
    # Then each mandate went its path
    status, page = call("GET", f"/v1/charges?mandate_id={mandates['pm_sim_ok']}&limit=100")
    assert [c["status"] for c in page["data"]] == ["succeeded"] * 5  # weekly: days 0, 7, 14, 21, 28
    status, page = call("GET", f"/v1/charges?mandate_id={mandates['pm_sim_insufficient_funds']}")
    assert [c["status"] for c in page["data"]] == ["failed"]
    assert call("GET", f"/v1/mandates/{mandates['pm_sim_insufficient_funds']}")[1]["status"] == "past_due"
    status, page = call("GET", f"/v1/charges?mandate_id={mandates['pm_sim_fail_once']}&limit=100")
    assert all(c["status"] == "succeeded" and len(c["attempts"]) == 2 for c in page["data"])
    # Exactly once at the gateway, over HTTP too
    status, ledger = Http(local)("GET", "/_local/gateway/ledger")
    mine = [e for e in ledger["entries"] if e["mandate_id"] in mandates.values() and e["status"] == "succeeded"]
    assert len(mine) == len({e["idempotency_key"] for e in mine}) == 15  # ok 5 + fail_once 5 + timeout 5
    status, events = call("GET", "/v1/events?type=charge.failed")
    assert len(events["data"]) == 1
    assert {e["kind"] for e in mine} == {"charge"}
    # Every succeeded charge got its receipt number, one series for the merchant, without gaps
    paid = [c for m in mandates.values() for c in call("GET", f"/v1/charges?mandate_id={m}&limit=100")[1]["data"]]
    numbers = sorted(int(c["receipt_number"].split("-")[1]) for c in paid if c["status"] == "succeeded")
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 15
    assert all(c["receipt_number"].startswith("R-") for c in paid if c["status"] == "succeeded")
    # A refund of the first charge reaches the simulated gateway's ledger once, as a refund
    first = call("GET", f"/v1/charges?mandate_id={mandates['pm_sim_ok']}&limit=100")[1]["data"][-1]
    status, refund = call("POST", f"/v1/charges/{first['id']}/refunds", {"amount": 500}, {"Idempotency-Key": "r1"})
    assert status == 201 and refund["status"] == "pending"
    Http(local)("POST", "/_local/tick")
    assert call("GET", f"/v1/refunds/{refund['id']}")[1]["status"] == "succeeded"
    assert call("GET", f"/v1/charges/{first['id']}")[1]["amount_refunded"] == 500
    entries = Http(local)("GET", "/_local/gateway/ledger")[1]["entries"]
    refunds = [e for e in entries if e["kind"] == "refund" and e["charge_id"] == first["id"]]
    assert [(e["amount"], e["idempotency_key"]) for e in refunds] == [(500, f"refund:{refund['id']}")]
    # A set-up fee rides on the next charge, and an upgrade now is prorated, over HTTP too
    ok = mandates["pm_sim_ok"]
    status, item = call("POST", f"/v1/mandates/{ok}/items", {"amount": 250, "description": "Set-up fee"})
    assert status == 201 and item["status"] == "pending"
    status, platinum = call("POST", "/v1/plans", {"name": "Platinum", "amount": 2999, "currency": "EUR", "interval": "week"})
    Http(local)("POST", "/_local/clock", {"advance_seconds": 86400})  # a day into a paid week
    status, changed = call("POST", f"/v1/mandates/{ok}/change_plan", {"plan_id": platinum["id"], "at": "now", "prorate": True})
    assert status == 200 and changed["plan_id"] == platinum["id"]
    Http(local)("POST", "/_local/tick")
    newest, paid = call("GET", f"/v1/charges?mandate_id={ok}&limit=2")[1]["data"]
    assert [li["type"] for li in newest["lines"]] == ["plan", "item", "proration"]
    # the last paid week (Mar 29 - Apr 5) had 4 of its 7 days left on Apr 1
    assert paid["due_at"] == "2027-03-29T09:00:00Z" and newest["due_at"] == "2027-04-01T09:00:00Z"
    assert newest["amount"] == 2999 + 250 - 1999 * 4 // 7 and newest["status"] == "succeeded"
    assert call("GET", f"/v1/items/{item['id']}")[1]["charge_id"] == newest["id"]
    # The dev endpoints tell what the system cost in AWS terms
    status, stats = Http(local)("GET", "/_local/stats")
    assert stats["aws_calls"]["dynamodb.TransactWriteItems"] > 0 and stats["dynamodb_items_read"] > 0
    assert Http(local)("POST", "/_local/stats/reset")[1]["aws_calls"] == {}
    # The test clock only goes forward
    assert Http(local)("POST", "/_local/clock", {"now": "2027-01-01T00:00:00Z"})[0] == 409


def test_a_stripe_payment_method_is_refused_where_stripe_is_not_configured(local: str) -> None:
    # Given a runtime without a Stripe key (issue 9, point 2: such mandates used to loop for ever)
    call = merchant(local, "Stripe shop")
    now = Http(local)("GET", "/_local/clock")[1]["now"]
    status, plan = call("POST", "/v1/plans", {"name": "Silver", "amount": 999, "currency": "EUR", "interval": "month"})
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "s"},
        "payment_method": {"gateway": "stripe", "token": "pm_1Q2w3E4r5T6y7U8i"},
        "consent": {"accepted_at": now},
    }
    # When a mandate on Stripe is created
    status, error = call("POST", "/v1/mandates", body)
    # Then it is refused with a clear 422 naming the field, and nothing is stored or charged
    assert status == 422 and error["error"]["param"] == "payment_method.gateway", error
    assert call("GET", "/v1/mandates")[1]["data"] == []


def test_e_mails_go_through_the_emulated_ses_and_are_listed(local: str) -> None:
    # Given a customer with an address, and a paid first charge
    call = merchant(local, "E-mail shop")
    call("PATCH", "/v1/account", {"support_email": "help@shop.test", "default_locale": "lt"})
    status, plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    consent = {"accepted_at": "2027-03-01T09:00:00Z", "ip": "203.0.113.9", "user_agent": "test"}
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "mail", "email": "jonas@example.lt"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": consent,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    Http(local)("POST", "/_local/tick")
    # Then the customer's activation and receipt e-mails are listed, in Lithuanian, replying to support
    emails = [e for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["mandate_id"] == mandate["id"]]
    assert sorted(e["kind"] for e in emails) == ["mandate_activated", "receipt"]
    assert all(e["to"] == "jonas@example.lt" and e["reply_to"] == "help@shop.test" and e["locale"] == "lt" for e in emails)
    [receipt] = [e for e in emails if e["kind"] == "receipt"]
    assert receipt["subject"].endswith(": Sąskaita faktūra R-1") and receipt["attachments"] == []
    assert "/customer/receipts/" in receipt["text"] and "<html" in receipt["html"]
    assert len(call("GET", f"/v1/notifications?mandate_id={mandate['id']}")[1]["data"]) == 2


@pytest.mark.parametrize(("locale", "trial_words"), [("en", "your trial ends on"), ("lt", "bandomasis laikotarpis baigiasi")])
def test_every_e_mail_kind_at_its_time_on_the_local_clock(local: str, locale: str, trial_words: str) -> None:
    from datetime import datetime, timedelta

    def at(moment: datetime) -> None:
        assert Http(local)("POST", "/_local/clock", {"now": f"{moment:%Y-%m-%dT%H:%M:%SZ}"})[0] == 200
        Http(local)("POST", "/_local/tick")

    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    # Given a 7-day trial whose first payment fails once, for a customer with an address
    call = merchant(local, f"Notice shop {locale}")
    now = Http(local)("GET", "/_local/clock")[1]["now"]
    plan = call(
        "POST",
        "/v1/plans",
        {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "trial_days": 7, "retry_schedule_days": [1]},
    )[1]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "notices", "email": "ona@example.lt", "locale": locale},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_fail_once"},
        "consent": {"accepted_at": now},
    }
    mandate = call("POST", "/v1/mandates", body)[1]
    trial_end = parse(mandate["next_charge_at"])

    def emails() -> list[dict]:
        return [e for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["mandate_id"] == mandate["id"]]

    def sent() -> list[tuple[str, str]]:
        return [(e["kind"], e["sent_at"]) for e in emails()]

    Http(local)("POST", "/_local/tick")
    assert [kind for kind, _ in sent()] == ["mandate_activated"]
    # When the clock reaches a minute before the notices (3 days, the default), nothing more
    at(trial_end - timedelta(days=3, minutes=1))
    assert len(sent()) == 1
    # Then at the notice time: the trial's end and the charge it brings
    notice_time = f"{trial_end - timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}"
    at(trial_end - timedelta(days=3))
    assert sorted(sent()[1:]) == [("trial_ending", notice_time), ("upcoming_charge", notice_time)]
    # And at the trial's end the payment fails (e-mail with the link), the next day it is collected (receipt)
    at(trial_end)
    assert sent()[-1] == ("payment_failed", f"{trial_end:%Y-%m-%dT%H:%M:%SZ}")
    at(trial_end + timedelta(days=1))
    assert sent()[-1][0] == "receipt"
    # And when the merchant cancels, the customer is told, once; every kind went once
    assert call("POST", f"/v1/mandates/{mandate['id']}/cancel")[0] == 200
    Http(local)("POST", "/_local/tick")
    kinds = [kind for kind, _ in sent()]
    assert sorted(kinds) == sorted(
        ["mandate_activated", "trial_ending", "upcoming_charge", "payment_failed", "receipt", "mandate_ended"]
    )
    assert all(e["locale"] == locale for e in emails())
    assert trial_words in next(e["subject"] for e in emails() if e["kind"] == "trial_ending")
    listed = call("GET", f"/v1/notifications?mandate_id={mandate['id']}&limit=20")[1]["data"]
    assert sorted(n["kind"] for n in listed) == sorted(kinds) and all(n["status"] == "sent" for n in listed)


def test_the_ses_mailbox_simulator_bounces_and_the_address_gets_no_more_mail(local: str) -> None:
    # Given a customer whose address is SES's bouncing simulator address
    call = merchant(local, "Bounce shop")
    now = Http(local)("GET", "/_local/clock")[1]["now"]
    plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "trial_days": 1})[1]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "bounce", "email": "bounce@simulator.amazonses.com"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": {"accepted_at": now},
    }
    mandate = call("POST", "/v1/mandates", body)[1]
    # When the activation e-mail goes and bounces, and the next day the first charge succeeds
    Http(local)("POST", "/_local/tick")
    Http(local)("POST", "/_local/clock", {"advance_seconds": 86400})
    Http(local)("POST", "/_local/tick")
    # Then only the activation e-mail was handed to SES; it is marked bounced and the receipt was withheld
    emails = [e["kind"] for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["mandate_id"] == mandate["id"]]
    assert emails == ["mandate_activated"]
    listed = {n["kind"]: n for n in call("GET", f"/v1/notifications?mandate_id={mandate['id']}")[1]["data"]}
    assert listed["mandate_activated"]["feedback"] == "bounce" and listed["mandate_activated"]["status"] == "failed"
    assert listed["receipt"]["status"] == "failed" and listed["receipt"]["failure"].startswith("suppressed")


def test_a_moved_test_clock_charges_nothing_until_ticked(local: str) -> None:
    # Given a card mandate on a test clock, its second cycle due in a week
    root, call = Http(local), merchant(local, "Stepwise")
    start = datetime.fromisoformat(root("GET", "/_local/clock")[1]["now"].replace("Z", "+00:00")) + timedelta(days=1)
    assert root("POST", "/_local/clock", {"now": start.strftime("%Y-%m-%dT%H:%M:%SZ")})[0] == 200
    plan = call("POST", "/v1/plans", {"name": "Weekly", "amount": 500, "currency": "EUR", "interval": "week"})[1]
    consent = {"accepted_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "ip": "203.0.113.9", "user_agent": "test"}
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "step"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": consent,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201, mandate
    assert root("POST", "/_local/tick")[0] == 200
    charges = f"/v1/charges?mandate_id={mandate['id']}"
    assert len(call("GET", charges)[1]["data"]) == 1
    # When the clock is moved past the second cycle and the runtime's background loop has time to run
    later = start + timedelta(days=8)
    assert root("POST", "/_local/clock", {"now": later.strftime("%Y-%m-%dT%H:%M:%SZ")})[0] == 200
    time.sleep(2)  # the background loop polls every 0.5 s
    # Then nothing was charged: on a test clock the schedule fires only on a tick (decision 26)
    assert len(call("GET", charges)[1]["data"]) == 1
    # When ticked, Then the cycle is charged
    assert root("POST", "/_local/tick")[0] == 200
    assert len(call("GET", charges)[1]["data"]) == 2
