"""SQS: the charge queue (SendMessageBatch, ten messages per call), and the queue where the
event publisher leaves the events SNS did not take (for `make redrive QUEUE=events`)."""

from __future__ import annotations

import json
from typing import Any

from ..observability import logger
from ..service.messages import AttemptMessage

BATCH = 10  # SQS's maximum entries per SendMessageBatch


class SqsChargeQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, messages: list[AttemptMessage]) -> int:
        """Returns how many SQS accepted. Refused entries are retried once; what is still refused
        is logged and left: its claim's lease runs out and the next dispatcher run sends it again."""
        accepted = 0
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            entries = {str(i): {"Id": str(i), "MessageBody": m.model_dump_json()} for i, m in enumerate(chunk)}
            for _ in range(2):
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=list(entries.values()))
                accepted += len(response.get("Successful", []))
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = {k: v for k, v in entries.items() if k in failed}
                if not entries:
                    break
            for key in entries:  # never the body: it holds the customer's details
                message = chunk[int(key)]
                logger.warning(
                    "charge message not accepted by SQS; it is re-sent when its lease ends",
                    extra={"charge_id": message.charge_id, "attempt": message.attempt},
                )
        return accepted


UNPUBLISHED = "unpublished_events"


class UnpublishedEvents:
    """Where the publisher leaves the keys of events SNS refused (the events stay in the table)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def leave(self, keys: list[tuple[str, str]]) -> None:
        """(merchant id, event id) pairs, in messages of at most 100 keys."""
        for start in range(0, len(keys), 100):
            body = {"kind": UNPUBLISHED, "events": [{"merchant_id": m, "event_id": e} for m, e in keys[start : start + 100]]}
            self.client.send_message(QueueUrl=self.url, MessageBody=json.dumps(body))
