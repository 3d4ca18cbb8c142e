"""Webhook fan-out: each published event (SNS -> this SQS queue, raw delivery) becomes one
delivery per endpoint of its merchant that subscribes to its type, then a wake-up for each
(`service/webhooks.WebhookFanOut`).

The message carries what a delivery records (the event's id and type; the merchant in the
`merchant_id` attribute the publisher set): nothing is read back per event, and a merchant
without endpoints costs nothing beyond the batch's one read of endpoint counts. Running twice for
one event creates nothing twice (delivery ids derive from event and endpoint). A record that fails
comes back after the visibility timeout, and reaches the queue's DLQ after maxReceiveCount
(alarmed; `make redrive QUEUE=webhook-events`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import published_events

deps = bootstrap.webhook_fanout(bootstrap.given(globals()))
fan_out = deps.webhook_fan_out


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    valid, failed = published_events(event.get("Records", []))
    if failed:
        logger.error("not an event of this service (no merchant_id attribute or no event id)", extra={"count": len(failed)})
    created = 0
    for (message_id, message), result in zip(valid, fan_out.fan_out_all([e for _, e in valid])):
        if result.error is not None:
            logger.error(
                "fan-out failed; the event comes back",
                extra={"event_id": message.id, "merchant_id": message.merchant_id},
                exc_info=result.error,
            )
            failed.append(message_id)
        created += len(result.deliveries)
    metrics.add_metric(name="WebhookDeliveriesCreated", unit="Count", value=created)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
