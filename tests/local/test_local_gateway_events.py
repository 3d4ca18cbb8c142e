"""`make local` exposes /gateway/stripe/events (for `stripe listen --forward-to`), verified with
STRIPE_WEBHOOK_SECRET; `POST /_local/tick` returns once the gateway-events queue is drained."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.local.conftest import Http, running_local
from tests.support.values import CONSENT, GOLD

SECRET = "whsec_local_test"


@pytest.fixture(scope="module")
def local_with_secret() -> Iterator[str]:
    yield from running_local({"STRIPE_WEBHOOK_SECRET": f"whsec_old_one,{SECRET}"})


def post_event(base: str, payload: str, signature: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(base + "/gateway/stripe/events", data=payload.encode(), method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    if signature:
        request.add_header("Stripe-Signature", signature)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_stripe_events_are_verified_received_and_applied_by_the_next_tick(local_with_secret: str) -> None:
    base = local_with_secret
    status, created = Http(base)("POST", "/_local/merchants", {"name": "Shop"})
    assert status == 201
    call, merchant_id = Http(base, created["api_key"]), created["merchant_id"]
    plan = call("POST", "/v1/plans", GOLD)[1]
    body = {
        "plan_id": plan["id"],
        "customer": {"reference": "c-1"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    status, mandate = call("POST", "/v1/mandates", body)
    assert status == 201, mandate
    Http(base)("POST", "/_local/tick")
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    metadata = {"merchant_id": merchant_id, "charge_id": charge["id"], "attempt": "1"}
    obj = {"id": "pi_local_1", "object": "payment_intent", "status": "succeeded", "metadata": metadata}
    payload = json.dumps(
        {
            "id": "evt_local_1",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": obj},
        }
    )
    t = int(time.time())
    signature = f"t={t},v1=" + hmac.new(SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    # Unsigned: refused
    status, answer = post_event(base, payload, None)
    assert status == 400 and answer["error"]["type"] == "invalid_request"
    # Signed with the configured secret: received, then applied by the tick (which waits for the queue)
    status, answer = post_event(base, payload, signature)
    assert status == 200 and answer["status"] == "queued", answer
    tick = Http(base)("POST", "/_local/tick")[1]
    assert tick["queues"]["GatewayEventsQueue"] == {"waiting": 0, "in_flight": 0}
    # A charge already succeeded stays succeeded (forward only)
    [again] = call("GET", f"/v1/charges?mandate_id={mandate['id']}")[1]["data"]
    assert again["status"] == "succeeded"
