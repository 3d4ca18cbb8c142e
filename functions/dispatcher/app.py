"""Dispatcher: fired by EventBridge Scheduler; claims what is due and sends it to the gateway queue
(and the notices before a charge to the notification queue).

"Now" is the schedule's own time (`<aws.scheduler.scheduled-time>`), so a retried or late
invocation dispatches what was due at its tick. Overlapping runs are safe: claims are
version-checked, and an unfinished claim becomes due again when its lease ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from billing import bootstrap
from billing.observability import logger, metrics, tracer
from billing.wire import TimeIn

deps = bootstrap.dispatcher(bootstrap.given(globals()))


class Tick(BaseModel):
    """The schedule's Input (template.yaml), filled in by EventBridge Scheduler."""

    model_config = ConfigDict(extra="ignore")

    scheduled_time: TimeIn
    execution_id: str | None = None
    attempt: str | None = None


@logger.inject_lambda_context(clear_state=True, correlation_id_path="execution_id")
@tracer().capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    tick = Tick.model_validate(event)
    now: datetime = tick.scheduled_time
    report = deps.dispatcher.run(now)
    metrics.add_metric(name="DueFound", unit=MetricUnit.Count, value=report.found)
    metrics.add_metric(name="ChargesDispatched", unit=MetricUnit.Count, value=report.dispatched)
    metrics.add_metric(name="ChargesCreated", unit=MetricUnit.Count, value=report.new_charges)
    metrics.add_metric(name="AttemptsResent", unit=MetricUnit.Count, value=report.resent)
    metrics.add_metric(name="RefundsDispatched", unit=MetricUnit.Count, value=report.refunds)
    metrics.add_metric(name="NoticesDispatched", unit=MetricUnit.Count, value=report.notices)
    metrics.add_metric(name="MandatesWoundUp", unit=MetricUnit.Count, value=report.wound_up)
    metrics.add_metric(name="CreditForfeited", unit=MetricUnit.Count, value=report.forfeited)
    metrics.add_metric(name="DispatchConflicts", unit=MetricUnit.Count, value=report.conflicts)
    metrics.add_metric(name="DispatchNotSent", unit=MetricUnit.Count, value=report.not_sent)
    metrics.add_metric(name="DispatchErrors", unit=MetricUnit.Count, value=report.errors)
    metrics.add_metric(name="DispatchLagSeconds", unit=MetricUnit.Seconds, value=report.max_lag_seconds)
    # Age of the oldest attempt sent again without an outcome: every unsettled attempt comes back
    # through its lease, so this is the age of the oldest charge or refund left in an unknown state.
    metrics.add_metric(name="OldestUnsettledAttemptSeconds", unit=MetricUnit.Seconds, value=report.oldest_unsettled_seconds)
    # Bank debits still processing: looked up at the gateway; the oldest one's age in TARGET
    # business days (alarmed at 20: settlement never depends on a gateway event arriving).
    metrics.add_metric(name="SettlementLookups", unit=MetricUnit.Count, value=report.settlement_lookups)
    metrics.add_metric(name="OldestProcessingBusinessDays", unit=MetricUnit.Count, value=report.oldest_processing_business_days)
    summary = {
        "now": now.isoformat().replace("+00:00", "Z"),
        "found": report.found,
        "dispatched": report.dispatched,
        "new_charges": report.new_charges,
        "resent": report.resent,
        "refunds": report.refunds,
        "notices": report.notices,
        "wound_up": report.wound_up,
        "credit_forfeited": report.forfeited,
        "resumed": report.resumed,
        "conflicts": report.conflicts,
        "not_sent": report.not_sent,
        "errors": report.errors,
        "max_lag_seconds": report.max_lag_seconds,
        "oldest_unsettled_seconds": report.oldest_unsettled_seconds,
        "settlement_lookups": report.settlement_lookups,
        "oldest_processing_business_days": report.oldest_processing_business_days,
    }
    logger.info("dispatch run", extra=summary)
    return summary
