"""Gateway events applied: each normalised event from GatewayEventsQueue, at most once by its id
(`service/gateway_inbox.GatewayEventApplier`: skipped when the log says it was applied, its owner
read at the gateway when the report names only a gateway object, applied as a forward-only
merge, marked applied).

SQS batches go through Powertools' BatchProcessor: a record that fails comes back alone after
the visibility timeout, then reaches GatewayEventsDLQ (`make redrive QUEUE=gateway-events`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch import EventType as BatchEventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import count_money_events, logger, metrics
from billing.service.gateway_events import parse_gateway_event

deps = bootstrap.gateway_event_applier(bootstrap.given(globals()))
applier = deps.applier
processor = BatchProcessor(event_type=BatchEventType.SQS, logger=logger)  # type: ignore[arg-type]  # failed records are logged with their error class


class InvalidGatewayEventMessage(Exception):
    """A record that is not a gateway event (the message counts the errors, never the values)."""


def record_handler(record: dict[str, Any]) -> dict[str, Any]:
    logger.remove_keys(["gateway_event_id"])
    try:
        event = parse_gateway_event(record["body"])
    except (ValidationError, KeyError, TypeError) as error:
        count = error.error_count() if isinstance(error, ValidationError) else 1
        raise InvalidGatewayEventMessage(f"{count} invalid fields") from None
    logger.append_keys(gateway_event_id=event.id)
    handled = applier.handle(event)
    if handled.status in ("applied", "unchanged"):
        metrics.add_metric(name="GatewayEventsApplied", unit=MetricUnit.Count, value=1)
    elif handled.status == "ignored":
        metrics.add_metric(name="GatewayEventsIgnored", unit=MetricUnit.Count, value=1)
    count_money_events(handled.events, handled.amount, handled.currency)  # a debit settled days after its attempt
    if handled.disputes_opened:
        metrics.add_metric(name="DisputesOpened", unit=MetricUnit.Count, value=handled.disputes_opened)
    logger.info("gateway event handled", extra={"status": handled.status, "event_type": event.event_type})
    return {"status": handled.status, "events": handled.events}


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
