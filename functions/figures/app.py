"""Figures: each published event (SNS -> this SQS queue, raw delivery) keeps the dashboard's
figures of its merchant up to date (`service/figures.FigureKeeper`, docs/metrics.md).

The keeper reads the current version of each object the batch's events changed (one batch read)
and replaces its contribution to the merchant's aggregate, conditional on the version it kept
before: a copy, a late or an out-of-order event changes nothing. A merchant whose objects could
not be kept sends its records back; after maxReceiveCount they reach the queue's DLQ (alarmed;
`make redrive QUEUE=figures`), and a backfill (`scripts/backfill_figures.py`) rebuilds anything.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import PublishedEvent, parse_published_event

deps = bootstrap.figures(bootstrap.given(globals()))
keeper = deps.keeper


def parse(record: dict[str, Any]) -> PublishedEvent | None:
    attribute = (record.get("messageAttributes") or {}).get("merchant_id") or {}
    merchant_id = attribute.get("stringValue") if isinstance(attribute, dict) else None
    try:
        return parse_published_event(record["body"], merchant_id if isinstance(merchant_id, str) else None)
    except (ValidationError, ValueError, KeyError, TypeError):
        return None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    parsed = [(r, parse(r)) for r in records]
    valid = [(r, e) for r, e in parsed if e is not None and e.merchant_id is not None]
    failed = [r["messageId"] for r, e in parsed if e is None or e.merchant_id is None]
    if failed:
        logger.error("not an event of this service (no merchant_id attribute or no event id)", extra={"count": len(failed)})
    batch = keeper.keep_events([e for _, e in valid])
    failed += [valid[position][0]["messageId"] for position in batch.failed]
    metrics.add_metric(name="FiguresChanged", unit=MetricUnit.Count, value=batch.changed)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
