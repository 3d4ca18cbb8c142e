"""`make redrive QUEUE=charge|schedule|events`: each dead-letter queue has a tested replay path."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from billing.adapters.dynamodb.repository import DynamoRepository
from billing.adapters.sns import SnsPublisher
from billing.service.event_replay import EventReplay
from devtools.lambda_runtime import invoke
from devtools.streams import STREAMS_ENDPOINT
from scripts.redrive import move_back, redrive_events, redrive_schedule
from tests.support.system import (
    Client,
    EngineHarness,
    System,
    charges_of,
    mandate,
    plan,
    received,
    stream_records,
    subscribe_queue,
)


def streams() -> Any:
    return boto3.client("dynamodbstreams", endpoint_url=STREAMS_ENDPOINT.format(region="eu-west-1"))


def depth(url: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_charge_dlq_moves_back_to_the_charge_queue(engine: EngineHarness) -> None:
    # Given a message that failed maxReceiveCount times and waits in the charge DLQ
    engine.sqs.send_message(QueueUrl=engine.queue.url, MessageBody='{"not": "a charge message"}')
    engine.queue.drain(retry_failed_now=True)
    dlq = engine.system.aws.queues["ChargeDLQ"]
    assert depth(dlq) == 1
    # When the operator redrives the charge queue
    result = move_back(engine.sqs, dlq, engine.queue.url, "ChargeQueue")
    # Then the message is back in the charge queue (and the DLQ is empty)
    assert result["task"] and depth(dlq) == 0 and depth(engine.queue.url) == 1


def test_a_failed_tick_is_replayed_through_the_dispatcher(engine: EngineHarness, call: Client) -> None:
    # Given a due mandate, and the scheduler's tick for now waiting in the schedule DLQ
    m = mandate(call, plan(call))
    dlq = engine.system.aws.queues["DispatchScheduleDLQ"]
    tick = {"scheduled_time": engine.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "execution_id": "x", "attempt": "1"}
    engine.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(tick))
    # When the operator redrives the schedule
    result = redrive_schedule(engine.sqs, dlq, lambda t: invoke(engine.dispatcher, t, "DispatcherFunction", 120))
    engine.queue.drain()
    # Then the tick ran: the due charge was dispatched and collected, and the DLQ is empty
    assert result == {"ticks_replayed": 1, "ticks_failed": 0} and depth(dlq) == 0
    assert charges_of(call, m["id"])[0]["status"] == "succeeded"


def test_a_tick_the_dispatcher_cannot_run_stays_in_the_dlq(engine: EngineHarness) -> None:
    dlq = engine.system.aws.queues["DispatchScheduleDLQ"]
    engine.sqs.send_message(QueueUrl=dlq, MessageBody="not json")

    # When the replay fails, Then the message is kept for the next attempt
    def failing(_: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("still broken")

    assert redrive_schedule(engine.sqs, dlq, failing) == {"ticks_replayed": 0, "ticks_failed": 1}
    assert depth(dlq) == 1


def test_events_sns_refused_are_left_for_replay_and_published_by_the_redrive(
    system: System, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SNS refusing every publication, and the events of a new plan on the stream
    subscriber = subscribe_queue(system)
    publisher = system.publisher_module.relay.topic  # the SNS adapter
    refusing = lambda **_: {"Successful": [], "Failed": [{"Id": "0", "Code": "InternalError", "SenderFault": False}]}  # noqa: E731
    monkeypatch.setattr(publisher.client, "publish_batch", refusing)
    call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    records = stream_records(system)
    # When the publisher runs, Then it leaves the event's key for replay (the stream does not retry it)
    assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
    dlq = system.aws.queues["EventPublisherDLQ"]
    assert depth(dlq) == 1 and received(subscriber) == []
    # When SNS works again and the operator redrives the events
    monkeypatch.undo()
    replay = EventReplay(
        DynamoRepository(boto3.client("dynamodb"), system.aws.tables["BillingTable"]),
        SnsPublisher(boto3.client("sns"), system.aws.topics["EventsTopic"]),
    )
    result = redrive_events(boto3.client("sqs"), dlq, replay, streams())
    # Then the event reaches SNS as recorded, and the DLQ is empty
    assert result == {"events_published": 1, "events_failed": 0, "batches_expired": 0} and depth(dlq) == 0
    [message] = received(subscriber)
    assert json.loads(message["Message"])["type"] == "plan.created"


def test_a_stream_batch_the_publisher_gave_up_on_is_read_again_from_the_stream(system: System, call: Client) -> None:
    # Given the stream's on-failure record of a batch (its shard and sequence numbers), in the DLQ
    subscriber = subscribe_queue(system)
    call("POST", "/v1/plans", {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"})
    [record] = stream_records(system)
    arn = boto3.client("dynamodb").describe_table(TableName=system.aws.tables["BillingTable"])["Table"]["LatestStreamArn"]
    shard = streams().describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    sequence = record["dynamodb"]["SequenceNumber"]
    info = {"shardId": shard, "startSequenceNumber": sequence, "endSequenceNumber": sequence, "streamArn": arn}
    dlq = system.aws.queues["EventPublisherDLQ"]
    boto3.client("sqs").send_message(QueueUrl=dlq, MessageBody=json.dumps({"DDBStreamBatchInfo": info}))
    # When the operator redrives the events
    replay = EventReplay(
        DynamoRepository(boto3.client("dynamodb"), system.aws.tables["BillingTable"]),
        SnsPublisher(boto3.client("sns"), system.aws.topics["EventsTopic"]),
    )
    result = redrive_events(boto3.client("sqs"), dlq, replay, streams())
    # Then the batch's event is published again, and the DLQ is empty
    assert result["events_published"] == 1 and depth(dlq) == 0
    assert json.loads(received(subscriber)[0]["Message"])["type"] == "plan.created"


@pytest.mark.parametrize(
    ("dlq", "queue"), [("WebhookDLQ", "WebhookQueue"), ("WebhookEventsDLQ", "WebhookEventsQueue"), ("ExportDLQ", "ExportQueue")]
)
def test_the_webhook_dlqs_move_back_to_their_queues(system: System, dlq: str, queue: str) -> None:
    # Given a message waiting in a webhook DLQ (SNS puts events it could not deliver there too)
    sqs = boto3.client("sqs")
    dlq_url, queue_url = system.aws.queues[dlq], system.aws.queues[queue]
    sqs.send_message(QueueUrl=dlq_url, MessageBody='{"merchant_id": "mch_a", "delivery_id": "wd_1"}')
    # When the operator redrives it
    result = move_back(sqs, dlq_url, queue_url, queue)
    # Then it is back in its queue
    assert result["moved_to"] == queue and depth(dlq_url) == 0 and depth(queue_url) == 1
