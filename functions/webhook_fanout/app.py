"""Webhook fan-out: each published event (SNS -> this SQS queue, raw delivery) becomes one
delivery per endpoint of its merchant that subscribes to its type, then a wake-up for each.

The event is read back from the table by (merchant_id attribute, event id): what is delivered is
what was recorded. Running twice for one event creates nothing twice (delivery ids derive from
event and endpoint). A record that fails comes back after the visibility timeout, and reaches
the queue's DLQ after maxReceiveCount (alarmed; `make redrive QUEUE=webhook-events`).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch import EventType as BatchEventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.domain.model import Event
from billing.observability import logger, metrics

billing = bootstrap.webhook_fanout(bootstrap.given(globals()))
processor = BatchProcessor(event_type=BatchEventType.SQS, logger=logger)  # type: ignore[arg-type]  # Powertools' Logger
RECORD_KEYS = ("event_id", "merchant_id")  # one record's: never on the next record's lines


class InvalidEventMessage(Exception):
    """Not an event of this service (no merchant attribute or no event id)."""


def record_handler(record: dict[str, Any]) -> int:
    logger.remove_keys(RECORD_KEYS)
    merchant_id = ((record.get("messageAttributes") or {}).get("merchant_id") or {}).get("stringValue")
    try:
        event_id = json.loads(record["body"])["id"]
    except (ValueError, KeyError, TypeError):
        event_id = None
    if not isinstance(merchant_id, str) or not isinstance(event_id, str):
        raise InvalidEventMessage("an event message needs a merchant_id attribute and an id")
    event = billing.repository.get(Event, merchant_id, event_id)
    if event is None:
        raise InvalidEventMessage("no such event for this merchant")
    logger.append_keys(event_id=event.id, merchant_id=merchant_id)
    deliveries = billing.webhook_fan_out.fan_out(event)
    metrics.add_metric(name="WebhookDeliveriesCreated", unit="Count", value=len(deliveries))
    return len(deliveries)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
