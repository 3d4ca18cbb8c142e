"""Webhooks end to end on moto: the API creates endpoints, the real publisher puts events on the
topic, the topic's subscription feeds the real fan-out and delivery functions, and a real HTTP
receiver on 127.0.0.1 checks every request with the `standardwebhooks` library, as a merchant's
server would. Retries follow the test clock (SQS delays and visibility too)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from billing.domain.webhooks import WebhookDelivery, WebhookEndpoint
from devtools.lambda_runtime import invoke, load_function
from devtools.moto_patches import sqs_on_clock
from devtools.sqs_source import SqsEventSource
from devtools.streams import TableStream, for_publisher
from tests.support.system import Client, ConflictingTransactions, System
from tests.support.values import GOLD


class Receiver:
    """The merchant's server: answers from a script (default 200) and keeps what it got."""

    def __init__(self, server: HTTPServer) -> None:
        self.server, self.got, self.script = server, [], []
        server.expect_request("/hooks", method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        self.got.append((dict(request.headers), request.get_data()))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, tuple):  # (status, headers)
            return Response("", status=answer[0], headers=answer[1])
        if answer == "slow":
            time.sleep(1.5)
            return Response("late", status=200)
        return Response("ok", status=answer)

    @property
    def url(self) -> str:
        return self.server.url_for("/hooks")

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request, verified as a Standard Webhooks receiver does (raises if one fails)."""
        return [Webhook(secret).verify(body, headers) for headers, body in self.got]


class Hooks:
    """The webhook pipeline's functions on moto, driven step by step on the test clock."""

    def __init__(self, system: System) -> None:
        from billing import bootstrap

        self.system, self.clock = system, system.clock
        overrides = bootstrap.Overrides(clock=self.clock)
        self.fanout = load_function("webhook_fanout", overrides)
        self.delivery = load_function("webhook_delivery", overrides)
        sqs = boto3.client("sqs")
        self.stream = TableStream(boto3.Session(), system.aws.tables["BillingTable"])
        self.events = SqsEventSource(
            sqs, system.aws.queues["WebhookEventsQueue"], lambda e: invoke(self.fanout, e, "WebhookFanOutFunction")
        )
        self.wakeups = SqsEventSource(
            sqs, system.aws.queues["WebhookQueue"], lambda e: invoke(self.delivery, e, "WebhookDeliveryFunction")
        )

    def run(self) -> None:
        """What AWS does until nothing is due: publish new events, fan out, attempt what is due."""
        records = for_publisher(self.stream.read())
        if records:
            invoke(self.system.publisher_module, {"Records": records}, "EventPublisherFunction")
        self.events.drain()
        for _ in range(50):
            if not self.wakeups.poll_once().received:
                break

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.run()


@pytest.fixture
def local_config(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local runtime's configuration: receivers on http://127.0.0.1 are allowed."""
    monkeypatch.setenv("ALLOW_LOOPBACK_WEBHOOKS", "true")


@pytest.fixture
def hooks(local_config: None, system: System) -> Iterator[Hooks]:
    system.clock.current = system.clock.now().replace(microsecond=0)  # a test clock from here on
    with sqs_on_clock(lambda: system.clock.now().timestamp()):
        yield Hooks(system)


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Receiver:
    return Receiver(httpserver)


def endpoint(call: Client, url: str, **fields: Any) -> dict[str, Any]:
    response = call("POST", "/v1/webhook_endpoints", {"url": url, **fields})
    assert response.status == 201, response.body
    return response.json()


def deliveries(call: Client, endpoint_id: str, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    response = call("GET", f"/v1/webhook_endpoints/{endpoint_id}/deliveries?{params}")
    assert response.status == 200, response.body
    return response.json()["data"]


def test_every_subscribed_event_arrives_signed_and_the_delivery_is_listed(hooks: Hooks, receiver: Receiver, call: Client) -> None:
    # Given an endpoint for every event, and another for mandate events only
    every = endpoint(call, receiver.url)
    endpoint(call, receiver.url, enabled_events=["mandate.created"])
    # When the merchant creates a plan and the pipeline runs
    plan = call("POST", "/v1/plans", GOLD).json()
    hooks.run()
    # Then the receiver got plan.created once, verifiable with the endpoint's secret
    [event] = receiver.verified(every["secret"])
    assert event["type"] == "plan.created" and event["data"]["object"]["id"] == plan["id"]
    headers, body = receiver.got[0]
    assert headers["Webhook-Id"] == event["id"] and headers["Content-Type"] == "application/json"
    # ... exactly as GET /v1/events/{id} shows it
    assert json.loads(body) == call("GET", f"/v1/events/{event['id']}").json()
    # And the delivery is listed with its attempt
    [delivery] = deliveries(call, every["id"])
    assert delivery["status"] == "succeeded" and delivery["event_id"] == event["id"]
    assert [(a["response_status"], a["error"]) for a in delivery["attempts"]] == [(200, None)]
    assert deliveries(call, every["id"], event_id=event["id"]) == [delivery]
    assert deliveries(call, every["id"], status="failed") == []


def test_failed_attempts_are_retried_on_the_schedule_of_the_local_clock(hooks: Hooks, receiver: Receiver, call: Client) -> None:
    # Given an endpoint that answers 500, then 404, then 204
    made = endpoint(call, receiver.url)
    receiver.script = [500, 404, 204]
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    assert len(receiver.got) == 1
    # When the clock reaches each next attempt (5 s, then 5 min)
    hooks.advance(seconds=4)
    assert len(receiver.got) == 1  # not yet
    hooks.advance(seconds=1)
    assert len(receiver.got) == 2
    [pending] = deliveries(call, made["id"])
    assert pending["status"] == "pending" and pending["next_attempt_at"] is not None
    hooks.advance(minutes=5)
    # Then the third attempt succeeds, each signed with its own time and the same webhook-id
    assert len(receiver.got) == 3
    ids = {h["Webhook-Id"] for h, _ in receiver.got}
    assert len(ids) == 1 and len(receiver.verified(made["secret"])) == 3
    [done] = deliveries(call, made["id"])
    assert done["status"] == "succeeded"
    assert [(a["response_status"], a["error"]) for a in done["attempts"]] == [
        (500, "http_status"),
        (404, "http_status"),
        (204, None),
    ]


def test_a_redirect_is_not_followed_and_a_refused_connection_is_a_connection_error(
    hooks: Hooks, receiver: Receiver, call: Client
) -> None:
    redirected = endpoint(call, receiver.url, enabled_events=["plan.created"])
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"})]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    refused = endpoint(call, f"http://127.0.0.1:{closed_port}/hooks", enabled_events=["plan.created"])
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    assert len(receiver.got) == 1  # the redirect's target was never asked
    [r] = deliveries(call, redirected["id"])
    assert [(a["response_status"], a["error"]) for a in r["attempts"]] == [(302, "http_status")]
    [c] = deliveries(call, refused["id"])
    assert [(a["response_status"], a["error"]) for a in c["attempts"]] == [(None, "connection_error")]


def test_an_answer_after_the_time_allowed_is_a_timeout(
    hooks: Hooks, receiver: Receiver, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.domain import webhooks

    monkeypatch.setattr(webhooks, "ATTEMPT_TIMEOUT_SECONDS", 0.5)  # the contract's 10 s, shortened for the test
    made = endpoint(call, receiver.url)
    receiver.script = ["slow"]
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    [d] = deliveries(call, made["id"])
    assert d["status"] == "pending" and d["attempts"][0]["error"] == "timeout"


def test_a_crash_between_the_post_and_its_record_redelivers_with_the_same_webhook_id(
    hooks: Hooks, receiver: Receiver, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the delivery function dies after the POST, before it records the attempt
    made = endpoint(call, receiver.url)
    repository = hooks.delivery.deps.webhook_deliverer.repo
    commit = repository.commit
    crashes = [1]

    def crash_once(changes: Any) -> None:
        if (written := changes.of(WebhookDelivery)) and written[0].attempts and crashes:
            crashes.pop()
            raise RuntimeError("the process died")
        commit(changes)

    monkeypatch.setattr(repository, "commit", crash_once)
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    assert len(receiver.got) == 1
    [pending] = deliveries(call, made["id"])
    assert pending["attempts"] == []
    # When the wake-up comes back after the queue's visibility timeout
    hooks.advance(seconds=361)
    # Then the event is sent again with the same webhook-id, and recorded
    assert len(receiver.got) == 2 and receiver.got[0][0]["Webhook-Id"] == receiver.got[1][0]["Webhook-Id"]
    [done] = deliveries(call, made["id"])
    assert done["status"] == "succeeded" and len(done["attempts"]) == 1


def test_rotation_signs_with_both_secrets_for_24_hours(hooks: Hooks, receiver: Receiver, call: Client) -> None:
    made = endpoint(call, receiver.url)
    rotated = call("POST", f"/v1/webhook_endpoints/{made['id']}/rotate_secret")
    assert rotated.status == 200 and rotated.json()["secret"] != made["secret"]
    assert "secret" not in call("GET", f"/v1/webhook_endpoints/{made['id']}").json()
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    assert receiver.verified(made["secret"]) == receiver.verified(rotated.json()["secret"])
    hooks.clock.advance(hours=24, seconds=1)
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    headers, body = receiver.got[-1]
    Webhook(rotated.json()["secret"]).verify(body, headers)
    assert len(headers["Webhook-Signature"].split(" ")) == 1


def test_a_manual_retry_attempts_again_and_a_deleted_endpoint_gets_nothing_more(
    hooks: Hooks, receiver: Receiver, call: Client
) -> None:
    made = endpoint(call, receiver.url)
    receiver.script = [500]
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    [d] = deliveries(call, made["id"])
    retried = call("POST", f"/v1/webhook_endpoints/{made['id']}/deliveries/{d['id']}/retry")
    assert retried.status == 200 and retried.json()["status"] == "pending"
    hooks.run()
    assert len(receiver.got) == 2
    assert call("POST", f"/v1/webhook_endpoints/{made['id']}/deliveries/{d['id']}/retry").status == 409
    # A deleted endpoint: its pending deliveries stop
    receiver.script = [500]
    call("POST", "/v1/plans", GOLD)
    hooks.run()
    assert len(receiver.got) == 3
    deleted = call("DELETE", f"/v1/webhook_endpoints/{made['id']}")
    assert deleted.status == 200 and deleted.json() == {"id": made["id"], "object": "webhook_endpoint", "deleted": True}
    hooks.advance(minutes=1)
    assert len(receiver.got) == 3
    assert call("GET", f"/v1/webhook_endpoints/{made['id']}").status == 404


def test_merchants_never_see_each_others_endpoints_deliveries_or_events(hooks: Hooks, receiver: Receiver, system: System) -> None:
    a, b = system.client(system.a), system.client(system.b)
    made = endpoint(a, receiver.url)
    b("POST", "/v1/plans", GOLD)  # B's event
    hooks.run()
    assert receiver.got == []
    a("POST", "/v1/plans", GOLD)
    hooks.run()
    [d] = deliveries(a, made["id"])
    for method, path in [
        ("GET", f"/v1/webhook_endpoints/{made['id']}"),
        ("PATCH", f"/v1/webhook_endpoints/{made['id']}"),
        ("DELETE", f"/v1/webhook_endpoints/{made['id']}"),
        ("POST", f"/v1/webhook_endpoints/{made['id']}/rotate_secret"),
        ("GET", f"/v1/webhook_endpoints/{made['id']}/deliveries"),
        ("GET", f"/v1/webhook_endpoints/{made['id']}/deliveries/{d['id']}"),
        ("POST", f"/v1/webhook_endpoints/{made['id']}/deliveries/{d['id']}/retry"),
    ]:
        response = b(method, path, {"description": "mine"} if method == "PATCH" else None)
        assert response.status == 404, (method, path, response.body)
    assert b("GET", "/v1/webhook_endpoints").json()["data"] == []


def test_endpoints_api_limits(hooks: Hooks, receiver: Receiver, call: Client) -> None:
    assert call("POST", "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": []}).status == 422
    bad = call("POST", "/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["charge.nope"]})
    assert bad.status == 422 and bad.json()["error"]["param"] == "enabled_events.0"
    for _ in range(16):
        endpoint(call, receiver.url)
    over = call("POST", "/v1/webhook_endpoints", {"url": receiver.url})
    assert over.status == 409 and over.json()["error"]["type"] == "invalid_state"
    listed = call("GET", "/v1/webhook_endpoints?limit=100").json()["data"]
    assert len(listed) == 16 and all("secret" not in e for e in listed)
    changed = call(
        "PATCH", f"/v1/webhook_endpoints/{listed[0]['id']}", {"enabled_events": ["charge.failed"], "status": "disabled"}
    )
    assert (
        changed.status == 200 and changed.json()["status"] == "disabled" and changed.json()["enabled_events"] == ["charge.failed"]
    )


# ----------------------------------------------------------------------------- the deployed configuration
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest/meta-data/",  # the metadata service
        "https://[fe80::1]/hooks",
        "https://[64:ff9b::a00:7]/hooks",  # NAT64 of 10.0.0.7
        "https://[::ffff:0:a9fe:a9fe]/hooks",  # IPv4-translated metadata service
        "https://localhost/hooks",  # a name that resolves to loopback
        "http://127.0.0.1:8080/hooks",  # the local runtime's exception does not apply when deployed
        "http://shop.example/hooks",
    ],
)
def test_the_deployed_configuration_refuses_non_public_destinations(system: System, call: Client, url: str) -> None:
    response = call("POST", "/v1/webhook_endpoints", {"url": url})
    assert response.status == 422 and response.json()["error"]["param"] == "url", response.body


def test_a_name_resolving_to_an_ipv6_form_of_a_private_address_is_refused_at_creation(system: System, call: Client) -> None:
    # Given a name that resolves to the metadata service behind NAT64's well-known prefix
    system.api_module.deps.webhook_ports().destinations.resolver = lambda host, port: ["64:ff9b::a9fe:a9fe"]
    # When an endpoint is created with it, Then it is a 422 naming the URL
    response = call("POST", "/v1/webhook_endpoints", {"url": "https://hooks.nat64.test/hooks"})
    assert response.status == 422 and response.json()["error"]["param"] == "url", response.body


@pytest.mark.parametrize(
    "private",
    ["10.1.2.3", "64:ff9b::a01:203", "64:ff9b:1::a01:203", "::a01:203", "::ffff:0:a01:203", "2002:a01:203::1"],
)
def test_a_name_that_turns_private_after_creation_is_blocked_at_delivery(system: System, call: Client, private: str) -> None:
    # Given an endpoint whose name does not resolve at creation (accepted), on the deployed configuration
    made = endpoint(call, "https://hooks.rebinding.test/hooks")
    system.clock.current = system.clock.now().replace(microsecond=0)
    with sqs_on_clock(lambda: system.clock.now().timestamp()):
        hooks = Hooks(system)
        # When the name resolves to a private address (10.1.2.3, or an IPv6 form of it) at delivery time (DNS rebinding)
        hooks.delivery.deps.webhook_ports().destinations.resolver = lambda host, port: [private]
        call("POST", "/v1/plans", GOLD)
        hooks.run()
    # Then no connection is made and the attempt says why
    [d] = deliveries(call, made["id"])
    assert [(a["response_status"], a["error"]) for a in d["attempts"]] == [(None, "blocked_destination")]
    assert d["status"] == "pending" and d["next_attempt_at"] is not None  # tried again later, checked again then


def test_a_replayed_create_shows_the_same_endpoint_without_its_secret(hooks: Hooks, receiver: Receiver, call: Client) -> None:
    headers = {"Idempotency-Key": "hooks-v1"}
    first = call("POST", "/v1/webhook_endpoints", {"url": receiver.url}, headers=headers)
    again = call("POST", "/v1/webhook_endpoints", {"url": receiver.url}, headers=headers)
    assert first.status == again.status == 201 and first.json()["secret"].startswith("whsec_")
    assert again.json()["id"] == first.json()["id"] and "secret" not in again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(call("GET", "/v1/webhook_endpoints").json()["data"]) == 1


def test_a_server_answering_a_byte_at_a_time_is_cut_off_at_the_time_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a server that accepts, then sends its status line a byte every 0.2 s (each read is quick,
    # their sum is not)
    from billing.adapters.webhook_http import PublicDestinations, UrllibSender

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def drip() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 100:
            if stop.is_set():
                break
            connection.send(bytes([byte]))
            time.sleep(0.2)
        connection.close()

    threading.Thread(target=drip, daemon=True).start()
    sender = UrllibSender(PublicDestinations(allow_loopback_http=True))
    # When an attempt allows 0.5 s
    started = time.monotonic()
    result = sender.post(f"http://127.0.0.1:{server.getsockname()[1]}/hooks", {}, b"{}", 0.5)
    stop.set()
    server.close()
    # Then it ends as a timeout within the time allowed (plus the sender's one-second margin)
    assert result.error == "timeout" and result.response_status is None
    assert time.monotonic() - started < 2.0


def test_racing_creations_never_pass_sixteen_endpoints(
    hooks: Hooks, receiver: Receiver, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a merchant with 14 endpoints, and creations racing so that each one's early check
    # (the list it read) still saw room: that check is out of the way here
    for _ in range(14):
        endpoint(call, receiver.url)
    from billing.domain import webhooks

    monkeypatch.setattr(webhooks, "ensure_room_for_one_more", lambda endpoints: None)
    # When four more are created
    answers = [call("POST", "/v1/webhook_endpoints", {"url": receiver.url}) for _ in range(4)]
    # Then the count written with each creation lets two through and refuses the rest
    assert [a.status for a in answers] == [201, 201, 409, 409]
    assert answers[-1].json()["error"]["type"] == "invalid_state" and "16" in answers[-1].json()["error"]["message"]
    listed = call("GET", "/v1/webhook_endpoints?limit=100").json()["data"]
    assert len(listed) == 16
    # And a deletion frees exactly one place
    call("DELETE", f"/v1/webhook_endpoints/{listed[0]['id']}")
    assert [call("POST", "/v1/webhook_endpoints", {"url": receiver.url}).status for _ in range(2)] == [201, 409]


def test_creations_conflicting_on_the_merchants_count_both_succeed(
    hooks: Hooks, receiver: Receiver, system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given another creation holding the merchant's count in its transaction when this one commits
    # (DynamoDB cancels this one with TransactionConflict)
    from billing.api.requests import WebhookEndpointCreate

    billing = system.api_module.deps
    other = billing.use_cases(billing.approval_links("https://shop.test")).webhooks
    new = WebhookEndpointCreate.model_validate({"url": receiver.url})
    writer = billing.repository.writer
    faulty = ConflictingTransactions(writer.client, times=1, race=lambda: other.create(system.a.id, new))
    monkeypatch.setattr(writer, "client", faulty)
    # When the merchant creates an endpoint
    response = call("POST", "/v1/webhook_endpoints", {"url": receiver.url})
    # Then the creation is redone on fresh state: 201 (not a 500), and both endpoints exist
    assert response.status == 201, response.body
    listed = call("GET", "/v1/webhook_endpoints?limit=100").json()["data"]
    assert len(listed) == 2 and response.json()["id"] in [e["id"] for e in listed]
    # And the secret shown opens what was stored for this endpoint
    stored = billing.repository.get(WebhookEndpoint, system.a.id, response.json()["id"])
    box = billing.webhook_ports().box
    assert box.open(stored.sealed_secret, system.a.id, stored.id) == response.json()["secret"]


def test_a_secret_sealed_for_one_endpoint_opens_for_no_other_endpoint_or_merchant(aws: Any) -> None:
    # Given a secret sealed with the webhook key for merchant A's endpoint (KMS on the emulation)
    from botocore.exceptions import ClientError

    from billing.adapters.kms import KmsSecretBox

    box = KmsSecretBox(boto3.client("kms"), aws.keys["WebhookSecretsKey"])
    sealed = box.seal("whsec_c2VjcmV0", "mch_a", "we_1")
    assert "whsec" not in sealed and box.open(sealed, "mch_a", "we_1") == "whsec_c2VjcmV0"
    # When it is copied to another endpoint's item, or another merchant's, Then it does not open
    for merchant, endpoint_id in (("mch_a", "we_2"), ("mch_b", "we_1")):
        with pytest.raises(ClientError):
            box.open(sealed, merchant, endpoint_id)
