"""One place for observability: the structured logger and the metrics every function and the
service layer use, and the X-Ray SDK tracer for the functions that trace their calls
(Powertools; service name and namespace from the environment the template sets). Nothing here
logs or traces message bodies, keys, card data or responses."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

logger = Logger()
metrics = Metrics()


@cache
def tracer() -> Tracer:
    """Subsegments for every AWS and gateway call, for the billing engine (dispatcher, charger),
    whose latency is in those calls. Its import costs ~150 ms (the X-Ray SDK builds its own
    X-Ray client), so the request-path functions rely on Lambda's and API Gateway's active
    tracing instead (decision 53). Handlers never capture responses (they hold personal data)."""
    from aws_lambda_powertools import Tracer

    return Tracer()


# A money event recorded -> the count it adds to, wherever it was recorded (the charger, or a
# gateway event applied later: a bank debit settles days after its attempt).
MONEY_EVENT_METRICS: dict[str, str] = {
    "charge.processing": "ChargesProcessing",
    "charge.succeeded": "ChargesSucceeded",
    "charge.failed": "ChargesFailed",
    "charge.retry_scheduled": "ChargeRetriesScheduled",
    "charge.reversed": "ChargesReversed",
    "refund.succeeded": "RefundsSucceeded",
    "refund.failed": "RefundsFailed",
}
# An event that moves money -> the per-currency amount metric it adds its amount to.
MONEY_AMOUNT_METRICS: dict[str, str] = {
    "charge.succeeded": "AmountCollected",
    "refund.succeeded": "AmountRefunded",
    "charge.reversed": "AmountReversed",
}


def count_money_events(events: list[str], amount: int = 0, currency: str | None = None) -> None:
    """The money-flow dashboard's counts and per-currency amounts for the events one change recorded."""
    for event in events:
        name = MONEY_EVENT_METRICS.get(event)
        if name:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        amount_metric = MONEY_AMOUNT_METRICS.get(event)
        if amount_metric and currency and amount:
            with single_metric(name=amount_metric, unit=MetricUnit.Count, value=amount) as metric:
                metric.add_dimension(name="currency", value=currency)
