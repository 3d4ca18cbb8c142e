"""Transactional outbox relay: event items arrive on the table's stream and go to SNS (and each
`charge.succeeded` to the receipt queue, where its receipt gets its number).

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
from billing.domain.events import EventType
from billing.domain.model import Event
from billing.observability import logger, metrics
from billing.wire import plain

billing = bootstrap.event_publisher(bootstrap.given(globals()))
publisher = billing.publisher


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@event_source(data_class=DynamoDBStreamEvent)
def lambda_handler(event: DynamoDBStreamEvent, context: LambdaContext) -> dict[str, Any]:
    pending: list[tuple[str, Event]] = []
    for record in event.records:
        image = plain(record.dynamodb.new_image) if record.dynamodb else {}
        if image.get("entity") != "event":
            continue  # the template's filter already drops these; kept for local runs
        pending.append((str(record.dynamodb.sequence_number), Event.model_validate(image["body"])))  # type: ignore[union-attr]
    failed = publisher.publish(pending) if pending else set()
    metrics.add_metric(name="EventsPublished", unit="Count", value=len(pending) - len(failed))
    # Receipt requests SQS did not take: the stream delivers those records again.
    retry = [{"itemIdentifier": seq} for seq in sorted(_request_receipts(pending))]
    if not failed:
        return {"batchItemFailures": retry}
    refused = [(e.merchant_id, e.id) for seq, e in pending if seq in failed]
    logger.warning("events not published; left for replay", extra={"count": len(refused)})
    metrics.add_metric(name="EventsLeftForReplay", unit="Count", value=len(refused))
    try:
        billing.unpublished_events.leave(refused)
    except Exception:
        logger.exception("could not leave the events for replay; the stream retries them")
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in sorted(failed | {r["itemIdentifier"] for r in retry})]}
    return {"batchItemFailures": retry}


def _request_receipts(pending: list[tuple[str, Event]]) -> set[str]:
    """Each succeeded charge to the receipt queue; the sequence numbers of those SQS did not take
    (the stream delivers them again: their SNS copy may then go twice, which subscribers and
    webhooks deduplicate by event id; numbering is idempotent)."""
    succeeded = [(seq, event) for seq, event in pending if event.type == EventType.CHARGE_SUCCEEDED]
    if not succeeded or not billing.settings.receipt_queue_url:
        return set()
    refs = [(event.merchant_id, str(event.data["object"]["id"])) for _, event in succeeded]
    try:
        refused = billing.receipt_requests.send(refs)
    except Exception:
        logger.exception("could not request receipt numbers; the stream retries them")
        refused = set(range(len(refs)))
    if refused:
        metrics.add_metric(name="ReceiptRequestsRefused", unit="Count", value=len(refused))
    return {succeeded[i][0] for i in refused}
