"""Transactional outbox relay: event items arrive on the table's stream and go to SNS (and each
`charge.succeeded` to the receipt queue, where its receipt gets its number):
`service/event_publishing.EventRelay`.

Events are written in the same transaction as the state change they record, so none is lost;
this function publishes them (at least once) with `merchant_id` / `event_type` attributes.
Events SNS refuses (after botocore's own retries) are left by key in the publisher's queue
(`UNPUBLISHED_EVENTS_QUEUE_URL`, alarmed) for `make redrive QUEUE=events`; only if that fails too
are they reported as failed records, which the stream retries (and, after its retries, sends the
batch's position to the same queue).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.domain.model import Event
from billing.observability import logger, metrics
from billing.service.messages import recorded_event

deps = bootstrap.event_publisher(bootstrap.given(globals()))
relay = deps.relay


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=DynamoDBStreamEvent)
def lambda_handler(event: DynamoDBStreamEvent, context: LambdaContext) -> dict[str, Any]:
    pending: list[tuple[str, Event]] = []
    for record in event.records:
        recorded = recorded_event(record.dynamodb.new_image) if record.dynamodb else None
        if recorded is not None and record.dynamodb is not None:
            pending.append((str(record.dynamodb.sequence_number), recorded))
    relayed = relay.relay(pending)
    metrics.add_metric(name="EventsPublished", unit="Count", value=relayed.published)
    if relayed.left_for_replay:
        metrics.add_metric(name="EventsLeftForReplay", unit="Count", value=relayed.left_for_replay)
    if relayed.receipt_requests_refused:
        metrics.add_metric(name="ReceiptRequestsRefused", unit="Count", value=relayed.receipt_requests_refused)
    return {"batchItemFailures": [{"itemIdentifier": position} for position in relayed.retry]}
