"""Webhooks with `make local`: a real receiver on 127.0.0.1 gets every event, verifies it with the
`standardwebhooks` library, and retries follow the local clock (`POST /_local/tick` returns only
after every attempt due at the clock's now has been made)."""

from __future__ import annotations

from typing import Any

from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from tests.local.conftest import Http, merchant
from tests.support.values import GOLD


def test_a_receiver_gets_each_event_signed_and_a_failure_is_retried_on_the_local_clock(
    local: str, httpserver: HTTPServer
) -> None:
    got: list[tuple[dict[str, str], bytes]] = []
    answers = [503]

    def receive(request: Request) -> Response:
        got.append((dict(request.headers), request.get_data()))
        return Response("", status=answers.pop(0) if answers else 200)

    httpserver.expect_request("/hooks", method="POST").respond_with_handler(receive)
    # Given a merchant with an endpoint on a local receiver, and the local clock set
    call = merchant(local, "Hooks")
    # (plan events only: the day's reconciliation is announced too when the local clock passes 01:00)
    body = {"url": httpserver.url_for("/hooks"), "enabled_events": ["plan.created"]}
    status, endpoint = call("POST", "/v1/webhook_endpoints", body)
    assert status == 201 and endpoint["secret"].startswith("whsec_")
    assert Http(local)("POST", "/_local/clock", {"now": "2027-06-01T09:00:00Z"})[0] == 200
    # When the merchant creates a plan and the system ticks
    call("POST", "/v1/plans", GOLD)
    Http(local)("POST", "/_local/tick")
    # Then the first attempt was made (and failed with 503); the next waits 5 s of local time
    assert len(got) == 1
    Http(local)("POST", "/_local/clock", {"advance_seconds": 4})
    Http(local)("POST", "/_local/tick")
    assert len(got) == 1
    Http(local)("POST", "/_local/clock", {"advance_seconds": 1})
    Http(local)("POST", "/_local/tick")
    assert len(got) == 2
    # Both were signed with the endpoint's secret, with the same webhook-id
    events: list[dict[str, Any]] = [Webhook(endpoint["secret"]).verify(body, headers) for headers, body in got]
    assert [e["type"] for e in events] == ["plan.created", "plan.created"]
    assert got[0][0]["Webhook-Id"] == got[1][0]["Webhook-Id"] == events[0]["id"]
    status, page = call("GET", f"/v1/webhook_endpoints/{endpoint['id']}/deliveries")
    [delivery] = page["data"]
    assert delivery["status"] == "succeeded" and [a["response_status"] for a in delivery["attempts"]] == [503, 200]
