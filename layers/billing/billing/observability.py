"""One place for observability: the structured logger and the metrics every function and the
service layer use, and the X-Ray SDK tracer for the functions that trace their calls
(Powertools; service name and namespace from the environment the template sets). Nothing here
logs or traces message bodies, keys, card data or responses."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

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
