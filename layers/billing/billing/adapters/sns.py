"""Publishing recorded events to the SNS topic, ten per call."""

from __future__ import annotations

import json
from typing import Any

from ..domain.model import Event
from ..shapes import EventOut

SNS_BATCH = 10


class SnsPublisher:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client, self.topic_arn = client, topic_arn

    def publish(self, events: list[tuple[str, Event]]) -> set[str]:
        """Publish (id, event) pairs; returns the ids that failed."""
        failed: set[str] = set()
        for start in range(0, len(events), SNS_BATCH):
            chunk = events[start : start + SNS_BATCH]
            entries = [
                {
                    "Id": str(i),
                    "Message": json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":")),
                    "MessageAttributes": {
                        "merchant_id": {"DataType": "String", "StringValue": event.merchant_id},
                        "event_type": {"DataType": "String", "StringValue": event.type},
                    },
                }
                for i, (_, event) in enumerate(chunk)
            ]
            response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
            failed |= {chunk[int(f["Id"])][0] for f in response.get("Failed", [])}
        return failed
