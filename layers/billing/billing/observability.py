"""One place for observability: the structured logger, the tracer and the metrics every
function and the service layer use (Powertools; service name and namespace from the
environment the template sets). Nothing here logs message bodies, keys or card data."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
