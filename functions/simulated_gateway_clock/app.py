"""The simulated gateway's clock: fired every minute by EventBridge Scheduler (only where the
simulated gateway is allowed); reports the changes of the simulated gateway's timeline that fell
due (settlements, reversals, disputes, card updates, bank cancellations) as gateway events."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from billing import bootstrap
from billing.observability import logger, metrics, tracer
from billing.wire import TimeIn

deps = bootstrap.simulated_gateway_clock(bootstrap.given(globals()))


class Tick(BaseModel):
    """The schedule's Input (template.yaml), filled in by EventBridge Scheduler."""

    model_config = ConfigDict(extra="ignore")

    scheduled_time: TimeIn


@logger.inject_lambda_context(clear_state=True)
@tracer().capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    now = Tick.model_validate(event).scheduled_time
    run = deps.clock.run(now)
    metrics.add_metric(name="SimulatedGatewayChangesReported", unit=MetricUnit.Count, value=run.sent)
    summary = {"now": now.isoformat().replace("+00:00", "Z"), "released": run.released, "sent": run.sent}
    logger.info("simulated gateway clock run", extra=summary)
    return summary
