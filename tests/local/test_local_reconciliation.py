"""The daily reconciliation in `make local`, over HTTP on the local clock: a day is reconciled on
the first tick after 01:00 UTC the next day, a payment the service never asked for is listed, and
reconciling the day again by hand changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.local.conftest import Http, merchant
from tests.support.values import CONSENT

pytestmark = pytest.mark.slow


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go(root: Http, moment: datetime) -> dict[str, Any]:
    assert root("POST", "/_local/clock", {"now": iso(moment)})[0] == 200
    status, summary = root("POST", "/_local/tick")
    assert status == 200, summary
    return dict(summary)


def test_a_day_is_reconciled_after_midnight_on_the_local_clock(local: str) -> None:
    root, call = Http(local), merchant(local, "Books")
    now = datetime.fromisoformat(root("GET", "/_local/clock")[1]["now"].replace("Z", "+00:00"))
    day = (now + timedelta(days=2)).date()
    morning = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)

    # Given a charge on the day, and a payment the gateway took that nobody here asked for
    go(root, morning)
    plan = call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})[1]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c-1"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201, mandate
    go(root, morning + timedelta(minutes=1))
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    assert charge["status"] == "succeeded"
    payment = {"mandate_id": mandate["id"], "amount": 777, "currency": "EUR", "at": iso(morning + timedelta(hours=2))}
    assert root("POST", "/_local/gateway/ledger", payment)[0] == 201

    # When the clock passes midnight, then 01:00 UTC
    go(root, morning + timedelta(hours=14, minutes=30))  # 00:30 the next day
    assert call("GET", f"/v1/reconciliations/{day.isoformat()}")[0] == 404
    summary = go(root, morning + timedelta(hours=15, minutes=5))  # 01:05

    # Then the day was reconciled on that tick: the unrequested payment is listed
    assert any(run["date"] == day.isoformat() for run in summary["reconciliations"]), summary["reconciliations"]
    status, report = call("GET", f"/v1/reconciliations/{day.isoformat()}")
    assert status == 200 and report["status"] == "mismatched", report
    [difference] = report["differences"]
    assert (difference["kind"], difference["gateway_amount"], difference["charge_id"]) == ("missing_here", 777, None)
    [eur] = report["totals"]
    assert eur["recorded"]["charges"] == 1999 and eur["gateway"]["charges"] == 1999 + 777

    # And reconciling the day again by hand stores the same report and announces nothing new
    assert root("POST", "/_local/reconcile", {"date": day.isoformat()})[0] == 200
    assert call("GET", f"/v1/reconciliations/{day.isoformat()}")[1] == report
    events = call("GET", "/v1/events?type=reconciliation.completed")[1]["data"]
    assert [e["data"]["object"]["date"] for e in events].count(day.isoformat()) == 1
    # (the days before, with nothing moved, were reconciled too: matched and empty)
    quiet = call("GET", f"/v1/reconciliations/{(day - timedelta(days=1)).isoformat()}")[1]
    assert (quiet["status"], quiet["totals"], quiet["differences"]) == ("matched", [], [])
    assert root("POST", "/_local/reconcile", {"date": "not a day"})[0] == 422


def test_a_clock_jump_over_days_reconciles_each_day_and_announces_only_the_days_with_money(local: str) -> None:
    root, call = Http(local), merchant(local, "Jumps")
    now = datetime.fromisoformat(root("GET", "/_local/clock")[1]["now"].replace("Z", "+00:00"))
    day = (now + timedelta(days=2)).date()
    morning = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)

    # Given a charge on the day
    go(root, morning)
    plan = call("POST", "/v1/plans", {"name": "Silver", "amount": 900, "currency": "EUR", "interval": "month"})[1]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c-2"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    assert call("POST", "/v1/mandates", body)[0] == 201
    go(root, morning + timedelta(minutes=1))

    # When the clock jumps to 01:05 three days later, one tick
    summary = go(root, morning + timedelta(days=2, hours=15, minutes=5))  # 01:05 on day + 3

    # Then that tick reconciled the three days, in one run
    days = [(day + timedelta(days=n)).isoformat() for n in range(3)]
    [run] = summary["reconciliations"]
    assert (run["since"], run["date"]) == (days[0], days[2]), run
    reports = [call("GET", f"/v1/reconciliations/{d}") for d in days]
    assert [status for status, _ in reports] == [200, 200, 200]
    assert [r["status"] for _, r in reports] == ["matched"] * 3
    [eur] = reports[0][1]["totals"]
    assert eur["recorded"]["charges"] == eur["gateway"]["charges"] == 900
    assert reports[1][1]["totals"] == reports[2][1]["totals"] == []
    # And only the day with money was announced: a day with nothing sends no event
    events = call("GET", "/v1/events?type=reconciliation.completed")[1]["data"]
    assert [e["data"]["object"]["date"] for e in events] == [days[0]]
