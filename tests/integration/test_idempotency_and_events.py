"""Idempotency-Key on every POST, and events recorded with each change and published to SNS."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from devtools.lambda_runtime import invoke
from tests.support.system import Client, System, make_mandate, make_plan, received, stream_records, subscribe_queue
from tests.support.values import GOLD


def count_items(system: System, entity: str) -> int:
    return sum(1 for i in system.table_items() if i.get("entity") == entity)


# ----------------------------------------------------------------- idempotency
def test_same_key_same_body_replays_the_first_response_and_changes_nothing(system: System, call: Client) -> None:
    # When the same POST is sent twice with one Idempotency-Key
    first = call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "k-1"})
    again = call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "k-1"})
    # Then the second answer is the first one, marked as a replay, and one plan exists
    assert (first.status, again.status) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert count_items(system, "plan") == 1 and count_items(system, "event") == 1


def test_same_key_different_body_is_an_idempotency_error(system: System, call: Client) -> None:
    # Given a key used for one plan
    call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "k-2"})
    # When it is sent with another body, Then it is a 409 and nothing is created
    response = call("POST", "/v1/plans", {**GOLD, "amount": 2999}, headers={"Idempotency-Key": "k-2"})
    assert response.status == 409 and response.json()["error"]["type"] == "idempotency_error"
    assert count_items(system, "plan") == 1


def test_same_key_on_another_endpoint_is_an_idempotency_error(system: System, call: Client) -> None:
    # Given a key used to create a plan
    plan = call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "k-3"}).json()
    # When it is sent to another endpoint, Then it is a 409
    response = call("POST", f"/v1/plans/{plan['id']}/archive", headers={"Idempotency-Key": "k-3"})
    assert response.status == 409 and response.json()["error"]["type"] == "idempotency_error"


def test_keys_are_scoped_to_the_merchant(system: System) -> None:
    # When two merchants use the same key, Then each gets its own plan
    a = system.client(system.a)("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "shared"})
    b = system.client(system.b)("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "shared"})
    assert (a.status, b.status) == (201, 201) and a.json()["id"] != b.json()["id"]


def test_action_replay_returns_200_again_instead_of_409(call: Client) -> None:
    # Given an active mandate
    mandate = make_mandate(call, make_plan(call)["id"])
    # When its cancel is sent twice with one key, Then both are 200 with the same answer
    first = call("POST", f"/v1/mandates/{mandate['id']}/cancel", headers={"Idempotency-Key": "cancel-1"})
    again = call("POST", f"/v1/mandates/{mandate['id']}/cancel", headers={"Idempotency-Key": "cancel-1"})
    assert (first.status, again.status) == (200, 200) and again.json() == first.json()
    # And a new cancel (another key) is a 409: the mandate is already cancelled
    assert call("POST", f"/v1/mandates/{mandate['id']}/cancel", headers={"Idempotency-Key": "cancel-2"}).status == 409


def test_failed_request_is_not_stored_so_the_key_can_be_retried(call: Client) -> None:
    # Given a request that failed (404) with a key
    response = call(
        "POST", "/v1/mandates", {"plan_id": "pln_missing", "customer": {"reference": "c"}}, headers={"Idempotency-Key": "k-4"}
    )
    assert response.status == 404
    plan = make_plan(call)
    # Same key, corrected request: the failed attempt left nothing behind. (Different body, but
    # nothing was stored for the key, so it is a first request, not a conflict.)
    # When the corrected request is sent with the same key, Then it runs
    retried = call(
        "POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "c"}}, headers={"Idempotency-Key": "k-4"}
    )
    assert retried.status == 201


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_malformed_keys_are_400(call: Client, key: str) -> None:
    # When a key is empty or longer than 255 characters, Then it is a 400 naming the header
    response = call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": key})
    assert response.status == 400 and response.json()["error"]["param"] == "Idempotency-Key"


def test_concurrent_requests_with_one_key_create_one_plan(system: System, call: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the first request is stopped inside its work (the key's record is IN_PROGRESS)
    inside, release = threading.Event(), threading.Event()
    from billing.service.plans import Plans

    original = Plans.create

    def slow_create(self: Any, *args: Any) -> Any:
        inside.set()
        release.wait(10)
        return original(self, *args)

    monkeypatch.setattr(Plans, "create", slow_create)
    results: dict[str, Any] = {}
    first = threading.Thread(
        target=lambda: results.update(first=call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "race"}))
    )
    first.start()
    assert inside.wait(10)
    # When a second request with the same key arrives meanwhile, Then it is told it is in flight
    second = call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "race"})
    release.set()
    first.join(10)
    assert second.status == 409 and "in flight" in second.json()["error"]["message"]
    assert results["first"].status == 201
    # And afterwards the key replays the one plan that was created
    assert call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "race"}).json()["id"] == results["first"].json()["id"]
    assert count_items(system, "plan") == 1


def test_threads_racing_on_one_key_never_create_two_plans(system: System, call: Client) -> None:
    # When six threads send one POST with one key at once
    responses = []
    threads = [
        threading.Thread(
            target=lambda: responses.append(call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "stampede"}))
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    # Then one plan is created; the others see it (201) or see it in flight (409)
    assert {r.status for r in responses} <= {201, 409}
    assert len({r.json()["id"] for r in responses if r.status == 201}) == 1
    assert count_items(system, "plan") == 1


# ---------------------------------------------------------------------- events
def test_every_state_change_is_an_event_readable_and_filterable(call: Client) -> None:
    # Given a plan and a mandate taken through every change
    plan = make_plan(call)
    call("PATCH", f"/v1/plans/{plan['id']}", {"name": "Gold 2"})
    mandate = make_mandate(call, plan["id"])
    for action in ("pause", "resume", "cancel"):
        call("POST", f"/v1/mandates/{mandate['id']}/{action}")
    call("POST", f"/v1/plans/{plan['id']}/archive")
    # Then each change is one event, in order, filterable by type and readable by id
    events = call("GET", "/v1/events?limit=100").json()["data"]
    assert [e["type"] for e in reversed(events)] == [
        "plan.created",
        "plan.updated",
        "mandate.created",
        "mandate.activated",
        "mandate.paused",
        "mandate.resumed",
        "mandate.cancelled",
        "plan.archived",
    ]
    cancelled = call("GET", "/v1/events?type=mandate.cancelled").json()["data"]
    assert len(cancelled) == 1 and cancelled[0]["data"]["object"]["status"] == "cancelled"
    single = call("GET", f"/v1/events/{cancelled[0]['id']}").json()
    assert single == cancelled[0] and single["object"] == "event"


def test_recorded_events_are_published_to_sns_with_merchant_and_type_attributes(system: System, call: Client) -> None:
    # Given a queue subscribed to the topic, and the events of a plan and a mandate
    queue = subscribe_queue(system)
    plan = make_plan(call)
    make_mandate(call, plan["id"])
    records = stream_records(system)
    assert len(records) == 3
    # When the table stream runs through the event publisher
    result = invoke(
        system.publisher_module, {"Records": [{**r, "eventSource": "aws:dynamodb"} for r in records]}, "EventPublisherFunction"
    )
    assert result == {"batchItemFailures": []}
    # Then each event reaches SNS once, with its merchant and type as attributes, as the API shows it
    published = received(queue)
    assert sorted(json.loads(m["Message"])["type"] for m in published) == ["mandate.activated", "mandate.created", "plan.created"]
    for message in published:
        assert message["MessageAttributes"]["merchant_id"]["Value"] == system.a.id
        assert message["MessageAttributes"]["event_type"]["Value"] == json.loads(message["Message"])["type"]
    api_events = {e["id"]: e for e in call("GET", "/v1/events").json()["data"]}
    for message in published:
        body = json.loads(message["Message"])
        assert api_events[body["id"]] == body  # the same object as GET /v1/events returns


def test_publish_failures_are_left_for_replay_or_else_reported_per_record(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SNS failing the publication of one event
    event = json.loads(open("events/event_publisher_stream.json").read())
    publisher = system.publisher_module.relay.topic  # the SNS adapter

    def failing(**_: Any) -> dict:
        return {"Successful": [], "Failed": [{"Id": "0", "Code": "InternalError", "SenderFault": False}]}

    monkeypatch.setattr(publisher.client, "publish_batch", failing)
    # When the publisher runs, Then the event's key is left for replay and the batch is done
    assert invoke(system.publisher_module, event, "EventPublisherFunction") == {"batchItemFailures": []}
    left = boto3.client("sqs").receive_message(QueueUrl=system.aws.queues["EventPublisherDLQ"])["Messages"]
    assert (
        json.loads(left[0]["Body"])["events"][0]["event_id"]
        == event["Records"][0]["dynamodb"]["NewImage"]["body"]["M"]["id"]["S"]
    )

    # When leaving it fails too, Then exactly that record is reported failed (the stream retries it)
    def refusing(**_: Any) -> dict:
        raise RuntimeError("SQS is down too")

    monkeypatch.setattr(system.publisher_module.relay.unpublished.client, "send_message", refusing)
    result = invoke(system.publisher_module, event, "EventPublisherFunction")
    assert result == {"batchItemFailures": [{"itemIdentifier": "111000000000000000001"}]}


def test_the_sample_stream_event_publishes(system: System) -> None:
    # When the repository's sample stream event is invoked, Then its event reaches SNS
    queue = subscribe_queue(system)
    event = json.loads(open("events/event_publisher_stream.json").read())
    assert invoke(system.publisher_module, event, "EventPublisherFunction") == {"batchItemFailures": []}
    [message] = received(queue)
    assert json.loads(message["Message"])["data"]["object"]["amount"] == 1999
