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

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import published_events

deps = bootstrap.figures(bootstrap.given(globals()))
keeper = deps.keeper


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    valid, failed = published_events(event.get("Records", []))
    if failed:
        logger.error("not an event of this service (no merchant_id attribute or no event id)", extra={"count": len(failed)})
    batch = keeper.keep_events([e for _, e in valid])
    failed += [valid[position][0] for position in batch.failed]
    metrics.add_metric(name="FiguresChanged", unit=MetricUnit.Count, value=batch.changed)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
