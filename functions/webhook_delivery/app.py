"""Webhook delivery: each wake-up names one delivery; if it is due, one attempt is made (signed,
POSTed with a 10 s limit to a checked public address, recorded) and the next wake-up is set
(`service/webhooks.WebhookDeliverer.wake`).

The records of a batch are attempted side by side (a thread each), so one slow endpoint costs
its own attempt's 10 s, never another's. A wake-up that is early (or whose endpoint has all its
slots taken) goes back for the rest of its wait (re-sent with a delay, or hidden for longer
waits: the queue adapter knows SQS's limits). An error leaves the record to come back after the
visibility timeout, and after maxReceiveCount in the DLQ (alarmed; `make redrive QUEUE=webhooks`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.concurrency import build_deferred_models
from billing.service.messages import parse_wake_message
from billing.service.webhooks import WakeOutcome

deps = bootstrap.webhook_delivery(bootstrap.given(globals()))


def handle(record: dict[str, Any]) -> bool:
    """True when the record is done with (SQS may delete it)."""
    try:
        message = parse_wake_message(record["body"])
    except (ValidationError, KeyError):
        logger.error("invalid webhook wake-up message", extra={"message_id": record.get("messageId")})
        return False
    try:
        done, outcome = deps.webhook_deliverer.wake(message, record["receiptHandle"])
    except Exception:  # this record only: it comes back after the visibility timeout (the delivery is in the table)
        logger.exception("webhook attempt failed", extra={"delivery_id": message.delivery_id})
        metrics.add_metric(name="WebhookAttemptErrors", unit=MetricUnit.Count, value=1)
        return False
    _count(outcome)
    return done


def _count(outcome: WakeOutcome) -> None:
    attempt = outcome.attempted
    if attempt is None:
        return
    metrics.add_metric(name="WebhookAttemptLatency", unit=MetricUnit.Milliseconds, value=attempt.duration_ms)
    if attempt.succeeded:
        metrics.add_metric(name="WebhookAttemptsSucceeded", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="WebhookAttemptsFailed", unit=MetricUnit.Count, value=1)
    if outcome.lag is not None:
        metrics.add_metric(name="WebhookAttemptLag", unit=MetricUnit.Seconds, value=outcome.lag.total_seconds())
    if outcome.final == "succeeded":
        metrics.add_metric(name="WebhookDeliveriesSucceeded", unit=MetricUnit.Count, value=1)
    elif outcome.final == "failed":
        metrics.add_metric(name="WebhookDeliveriesFailed", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    build_deferred_models()  # before the threads: each model built once, here
    with ThreadPoolExecutor(max_workers=max(1, len(records))) as pool:
        done = list(pool.map(handle, records))
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r, ok in zip(records, done) if not ok]}
