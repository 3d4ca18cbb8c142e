"""The dashboard's figures with `make local`: the runtime runs the figures consumer, so what the
merchant does and what the engine collects shows in the figures after a tick
(`GET /_local/figures/{merchant_id}`: the overview, as kept from the events so far)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.local.conftest import Http
from tests.support.values import CONSENT

pytestmark = pytest.mark.slow


def go(root: Http, moment: datetime) -> None:
    assert root("POST", "/_local/clock", {"now": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})[0] == 200
    assert root("POST", "/_local/tick")[0] == 200


def figures(root: Http, merchant_id: str) -> dict[str, Any]:
    status, body = root("GET", f"/_local/figures/{merchant_id}")
    assert status == 200, body
    return {c["currency"]: c for c in body["currencies"]}


def test_the_figures_follow_what_happens_on_the_local_clock(local: str) -> None:
    root = Http(local)
    status, created = root("POST", "/_local/merchants", {"name": "Figures"})
    assert status == 201
    call = Http(local, created["api_key"])
    now = datetime.fromisoformat(root("GET", "/_local/clock")[1]["now"].replace("Z", "+00:00"))
    start = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    go(root, start)
    # Given a quarterly plan and two mandates on it, charged
    plan = call("POST", "/v1/plans", {"name": "Q", "amount": 3000, "currency": "EUR", "interval": "month", "interval_count": 3})
    body = {"plan_id": plan[1]["id"], "customer": {"reference": "c-1"}, "consent": CONSENT}
    body["payment_method"] = {"gateway": "simulated", "token": "pm_sim_ok"}
    ids = [call("POST", "/v1/mandates", body)[1]["id"] for _ in range(2)]
    go(root, start + timedelta(minutes=1))
    # Then the figures show them: 2 x 3000 / 3 a month, 6000 collected
    eur = figures(root, created["merchant_id"])["EUR"]
    assert (eur["mrr"], eur["active"], eur["new"], eur["collected"]) == (2000, 2, 2, 6000)
    # When one is cancelled and the other's charge refunded in part
    assert call("POST", f"/v1/mandates/{ids[0]}/cancel")[0] == 200
    [charge] = call("GET", f"/v1/charges?mandate_id={ids[1]}")[1]["data"]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500})[0] == 201
    go(root, start + timedelta(minutes=5))
    # Then they show that too
    eur = figures(root, created["merchant_id"])["EUR"]
    assert (eur["mrr"], eur["active"], eur["ended"], eur["refunded"], eur["churn_rate"]) == (1000, 1, 1, 500, "0.5000")
    # And another merchant's figures are empty
    assert figures(root, "mch_nobody") == {}
