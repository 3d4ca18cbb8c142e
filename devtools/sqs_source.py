"""An SQS -> Lambda event source mapping on the emulation, with the semantics the charger
relies on: batches of the template's size, the SQS event shape, ReportBatchItemFailures
(only the failed messages come back), visibility timeouts, and the queue's redrive policy
(a message received maxReceiveCount times moves to the DLQ)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    batches: int = 0
    failed_ids: list[str] = field(default_factory=list)


class SqsEventSource:
    def __init__(
        self,
        client: Any,
        queue_url: str,
        handler: Callable[[dict[str, Any]], dict[str, Any] | None],
        batch_size: int = 10,
        region: str = "eu-west-1",
    ) -> None:
        self.client, self.url, self.handler, self.batch_size = client, queue_url, handler, batch_size
        self.arn = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.region = region

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The event Lambda receives from an SQS event source mapping."""
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        name: {
                            "stringValue": value.get("StringValue"),
                            "dataType": value["DataType"],
                            "stringListValues": [],
                            "binaryListValues": [],
                        }
                        for name, value in m.get("MessageAttributes", {}).items()
                    },
                    "md5OfBody": hashlib.md5(m["Body"].encode()).hexdigest(),  # noqa: S324 (SQS's own checksum)
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": self.region,
                }
                for m in messages
            ]
        }

    def poll_once(self, retry_failed_now: bool = False) -> Delivery:
        """Receive one batch, invoke, delete what succeeded. Failed messages stay invisible for
        the queue's visibility timeout (or become visible at once with `retry_failed_now`)."""
        response = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=self.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        )
        messages = response.get("Messages", [])
        out = Delivery(received=len(messages))
        if not messages:
            return out
        out.batches = 1
        try:
            result = self.handler(self.event(messages)) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception:  # the whole batch failed: every message comes back
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.client.delete_message_batch(
                QueueUrl=self.url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            )
        for m in messages:
            if m["MessageId"] in failed and retry_failed_now:
                self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
        out.succeeded, out.failed, out.failed_ids = len(done), len(failed), sorted(failed)
        return out

    def drain(self, retry_failed_now: bool = False, max_batches: int = 10_000) -> Delivery:
        total = Delivery()
        for _ in range(max_batches):
            step = self.poll_once(retry_failed_now)
            if not step.received:
                break
            total.received += step.received
            total.succeeded += step.succeeded
            total.failed += step.failed
            total.batches += step.batches
            total.failed_ids += step.failed_ids
        return total
