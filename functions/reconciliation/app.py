"""The daily reconciliation. Two sources, one role:

- EventBridge Scheduler, daily at 01:00 UTC (after the read margin past midnight): the previous
  UTC day's fan-out, one `ReconcileRequest` per merchant onto ReconcileQueue (the merchants read
  page by page);
- ReconcileQueue: each record reconciles one merchant's day (`service/reconciliations`), stores
  the report and records `reconciliation.completed` when the result is new; the metric
  `ReconciliationMismatches` counts the differences found (its alarm fires on any).

A record that is not a request is dropped; one that fails comes back (partial batch failure),
then goes to the DLQ (redriven, it runs the same days again). Running a day again stores the
same report and records no event; a day with nothing at all is stored, never announced.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from billing import bootstrap
from billing.domain.reconciliation import MAX_DAYS_PER_RUN
from billing.observability import logger, metrics, tracer
from billing.service.messages import ReconcileRequest, parse_reconcile_request
from billing.wire import TimeIn

deps = bootstrap.reconciliation(bootstrap.given(globals()))


class Daily(BaseModel):
    """The schedule's Input (template.yaml), filled in by EventBridge Scheduler."""

    model_config = ConfigDict(extra="ignore")

    scheduled_time: TimeIn
    # Not in the schedule's Input: a catch-up of missed days (the local runtime after a clock jump,
    # an operator), every day from `since` to the day before `scheduled_time`, at most 31.
    since: date | None = None


def parse(record: dict[str, Any]) -> ReconcileRequest | None:
    try:
        return parse_reconcile_request(record["body"])
    except (ValidationError, KeyError, TypeError) as error:
        count = error.error_count() if isinstance(error, ValidationError) else 1
        logger.error("not a reconciliation request; dropped", extra={"errors": count})
        return None


def reconcile(record: dict[str, Any]) -> bool:
    """One merchant's day; False: failed, to come back."""
    request = parse(record)
    if request is None:
        return True
    try:
        runs = deps.reconciliations.run_days(request.merchant_id, request.date, request.through or request.date)
    except Exception:
        logger.exception("reconciliation failed", extra={"merchant_id": request.merchant_id, "date": str(request.date)})
        return False
    for run in runs:
        report = run.reconciliation
        metrics.add_metric(name="ReconciliationMismatches", unit=MetricUnit.Count, value=report.difference_count)
        metrics.add_metric(name="ReconciliationsCompleted", unit=MetricUnit.Count, value=1)
        logger.info(
            "reconciled",
            extra={
                "merchant_id": request.merchant_id,
                "date": str(report.date),
                "status": report.status,
                "differences": report.difference_count,
                "written": run.written,
                "announced": run.announced,
            },
        )
    return True


@logger.inject_lambda_context(clear_state=True)
@tracer().capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        failed = [r["messageId"] for r in event["Records"] if not reconcile(r)]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
    daily = Daily.model_validate(event)
    day = (daily.scheduled_time - timedelta(days=1)).date()
    first = max(min(daily.since or day, day), day - timedelta(days=MAX_DAYS_PER_RUN - 1))
    fan_out = deps.planner().plan(first, day)
    metrics.add_metric(name="ReconciliationsQueued", unit=MetricUnit.Count, value=fan_out.queued)
    summary = {"date": day.isoformat(), "merchants": fan_out.merchants, "queued": fan_out.queued}
    if first < day:
        summary["since"] = first.isoformat()
    logger.info("reconciliation fan-out", extra=summary)
    if fan_out.queued < fan_out.merchants:
        raise RuntimeError(f"only {fan_out.queued} of {fan_out.merchants} reconciliations were queued")  # retried, then DLQ
    return summary
