"""The charge queue on SQS: SendMessageBatch, ten messages per call."""

from __future__ import annotations

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
            entries = {
                str(i): {"Id": str(i), "MessageBody": m.model_dump_json()} for i, m in enumerate(messages[start : start + BATCH])
            }
            for _ in range(2):
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=list(entries.values()))
                accepted += len(response.get("Successful", []))
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = {k: v for k, v in entries.items() if k in failed}
                if not entries:
                    break
            for entry in entries.values():
                logger.warning("charge message not accepted by SQS; it is re-sent when its lease ends: %s", entry["MessageBody"])
        return accepted
