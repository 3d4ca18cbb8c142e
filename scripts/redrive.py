"""Replay what waits in a dead-letter queue, after its cause is fixed (docs/runbook.md):

    make redrive QUEUE=charge   [STACK=recurring-payments]   # ChargeDLQ -> ChargeQueue (SQS StartMessageMoveTask)
    make redrive QUEUE=schedule [STACK=…]                    # each failed tick -> the dispatcher, invoked again
    make redrive QUEUE=events   [STACK=…]                    # events SNS refused -> published again from the table
    make redrive QUEUE=webhooks [STACK=…]                    # WebhookDLQ -> WebhookQueue (deliveries woken again)
    make redrive QUEUE=webhook-events [STACK=…]              # WebhookEventsDLQ -> WebhookEventsQueue (fanned out again)
    make redrive QUEUE=gateway-events [STACK=…]              # GatewayEventsDLQ -> GatewayEventsQueue (each applied at most once)
    make redrive QUEUE=receipts [STACK=…]                    # ReceiptDLQ -> ReceiptQueue (numbered again; idempotent)
    make redrive QUEUE=notify [STACK=…]                      # NotifyDLQ -> NotifyQueue (each e-mail still at most once)
    make redrive QUEUE=exports [STACK=…]                     # ExportDLQ -> ExportQueue (a pending export built; ready or failed: nothing)
    make redrive QUEUE=reconcile [STACK=…]                   # ReconcileDLQ -> ReconcileQueue (a day reconciled again: same report)
    make redrive QUEUE=figures  [STACK=…]                    # FiguresDLQ -> FiguresQueue (objects kept again at their version)

Every replay is safe to run twice: a gateway message is replayed at the gateway with its own key
(or found recorded and dropped), a tick dispatches what is due at its time (claims are
version-checked), an event is published again with its own id, a webhook wake-up attempts its
delivery only if it is still due, a fanned-out event creates no delivery twice. Messages are deleted only once
their replay succeeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.dynamodb.codec import from_attributes  # noqa: E402
from billing.domain.model import Event  # noqa: E402
from billing.service.event_replay import EventReplay  # noqa: E402
from billing.service.messages import UnpublishedEventsMessage  # noqa: E402


def _messages(sqs: Any, url: str) -> Any:
    """Every message of the queue, once each (received with a visibility timeout long enough for its replay)."""
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300).get("Messages", []):
        yield from batch


def move_back(sqs: Any, dlq_url: str, to_url: str, name: str) -> dict[str, Any]:
    """SQS StartMessageMoveTask from a DLQ to `to_url` (named explicitly: messages SNS could not
    deliver land in the events DLQ without a source queue of their own)."""

    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    task = sqs.start_message_move_task(SourceArn=arn(dlq_url), DestinationArn=arn(to_url))
    return {"moved_to": name, "task": task["TaskHandle"]}


def redrive_schedule(sqs: Any, dlq_url: str, invoke: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    replayed = failed = 0
    for message in _messages(sqs, dlq_url):
        try:
            tick = json.loads(message["Body"])
            summary = invoke(tick)
        except Exception as error:  # left in the queue, reported
            failed += 1
            print(f"tick not replayed ({error!r}): {message['Body'][:200]}", file=sys.stderr)
            continue
        replayed += 1
        print(f"tick {tick.get('scheduled_time')}: dispatched {summary.get('dispatched')}", file=sys.stderr)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return {"ticks_replayed": replayed, "ticks_failed": failed}


def redrive_events(sqs: Any, dlq_url: str, replay: EventReplay, streams: Any) -> dict[str, Any]:
    """Two kinds of message wait here: keys of events SNS refused (left by the publisher), and the
    position of a stream batch the publisher could not process at all (the stream's on-failure
    destination), whose events are read again from the stream while it keeps them (24 h)."""
    published, failed, expired = 0, 0, 0
    for message in _messages(sqs, dlq_url):
        body = json.loads(message["Body"])
        if UnpublishedEventsMessage.describes(body):
            keys = [(e.merchant_id, e.event_id) for e in UnpublishedEventsMessage.model_validate(body).events]
        elif "DDBStreamBatchInfo" in body:
            try:
                keys = _keys_from_stream(streams, body["DDBStreamBatchInfo"])
            except streams.exceptions.TrimmedDataAccessException:
                expired += 1
                info = body["DDBStreamBatchInfo"]
                print(
                    f"stream records expired ({info.get('approximateArrivalOfFirstRecord')} .. "
                    f"{info.get('approximateArrivalOfLastRecord')}): list those events with GET /v1/events",
                    file=sys.stderr,
                )
                continue
        else:
            print(f"not an events message, left in the queue: {message['Body'][:200]}", file=sys.stderr)
            continue
        done, still = replay.republish(keys)
        published += done
        if still:
            failed += len(still)
            continue  # kept: the whole message is replayed again next time (SNS consumers dedupe by id)
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return {"events_published": published, "events_failed": failed, "batches_expired": expired}


def _keys_from_stream(streams: Any, info: dict[str, Any]) -> list[tuple[str, str]]:
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    end, keys = int(info["endSequenceNumber"]), list[tuple[str, str]]()
    while iterator:
        page = streams.get_records(ShardIterator=iterator, Limit=1000)
        for record in page["Records"]:
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return keys
            image = from_attributes(record["dynamodb"].get("NewImage", {}))
            if record["eventName"] == "INSERT" and image.get("entity") == "event":
                event = Event.model_validate(image["body"])
                keys.append((event.merchant_id, event.id))
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "queue",
        choices=[
            "charge",
            "schedule",
            "events",
            "webhooks",
            "webhook-events",
            "gateway-events",
            "receipts",
            "notify",
            "exports",
            "reconcile",
            "figures",
        ],
    )
    parser.add_argument("--stack", default="recurring-payments", help="the deployed stack (its outputs name the queues)")
    args = parser.parse_args(argv)
    outputs = {
        o["OutputKey"]: o["OutputValue"]
        for o in boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]["Outputs"]
    }
    sqs = boto3.client("sqs")
    if args.queue == "charge":
        result = move_back(sqs, outputs["ChargeDLQUrl"], outputs["ChargeQueueUrl"], "ChargeQueue")
    elif args.queue == "webhooks":
        result = move_back(sqs, outputs["WebhookDLQUrl"], outputs["WebhookQueueUrl"], "WebhookQueue")
    elif args.queue == "webhook-events":
        result = move_back(sqs, outputs["WebhookEventsDLQUrl"], outputs["WebhookEventsQueueUrl"], "WebhookEventsQueue")
    elif args.queue == "gateway-events":
        result = move_back(sqs, outputs["GatewayEventsDLQUrl"], outputs["GatewayEventsQueueUrl"], "GatewayEventsQueue")
    elif args.queue == "notify":
        result = move_back(sqs, outputs["NotifyDLQUrl"], outputs["NotifyQueueUrl"], "NotifyQueue")
    elif args.queue == "figures":
        result = move_back(sqs, outputs["FiguresDLQUrl"], outputs["FiguresQueueUrl"], "FiguresQueue")
    elif args.queue == "reconcile":
        result = move_back(sqs, outputs["ReconcileDLQUrl"], outputs["ReconcileQueueUrl"], "ReconcileQueue")
    elif args.queue == "receipts":
        result = move_back(sqs, outputs["ReceiptDLQUrl"], outputs["ReceiptQueueUrl"], "ReceiptQueue")
    elif args.queue == "exports":
        result = move_back(sqs, outputs["ExportDLQUrl"], outputs["ExportQueueUrl"], "ExportQueue")
    elif args.queue == "schedule":
        result = redrive_schedule(sqs, outputs["DispatchScheduleDLQUrl"], _lambda_invoker(outputs["DispatcherFunctionName"]))
    else:
        from billing.adapters.dynamodb.repository import DynamoRepository
        from billing.adapters.sns import SnsPublisher
        from billing.adapters.sqs import SqsReceiptRequests

        replay = EventReplay(
            DynamoRepository(boto3.client("dynamodb"), outputs["BillingTableName"]),
            SnsPublisher(boto3.client("sns"), outputs["EventsTopicArn"]),
            SqsReceiptRequests(sqs, outputs["ReceiptQueueUrl"]),  # each charge.succeeded's receipt, as the publisher asks
        )
        result = redrive_events(sqs, outputs["EventPublisherDLQUrl"], replay, boto3.client("dynamodbstreams"))
    print(json.dumps(result, indent=2))
    return 0


def _lambda_invoker(function_name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    client = boto3.client("lambda")

    def invoke(tick: dict[str, Any]) -> dict[str, Any]:
        response = client.invoke(FunctionName=function_name, Payload=json.dumps(tick).encode())
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise RuntimeError(payload.get("errorMessage", "the dispatcher failed"))
        return dict(payload)

    return invoke


if __name__ == "__main__":
    raise SystemExit(main())
