"""Merchant API (/v1): plans, mandates, charges, events, API keys, webhook endpoints.

Thin: the resolver, its routers (`billing/api/routes`), the error contract, the wiring. Rules
live in `billing.domain`, use cases in `billing.service`, rendering in `billing.api`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.api import errors, guard
from billing.api.routes import (
    account,
    api_keys,
    charges,
    events,
    exports,
    invoices,
    mandates,
    money,
    notifications,
    plans,
    reconciliations,
    tax_rates,
    webhooks,
)
from billing.observability import logger, metrics

deps = bootstrap.api(bootstrap.given(globals()))

app = APIGatewayRestResolver(enable_validation=True)
for resource in (
    plans,
    mandates,
    charges,
    money,
    events,
    account,
    notifications,
    api_keys,
    webhooks,
    tax_rates,
    exports,
    reconciliations,
    invoices,
):
    app.include_router(resource.router)
errors.install(app)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = guard.refusal(event)  # size, media type, JSON limits: before anything parses the body
    if refused is not None:
        return refused
    app.append_context(deps=deps)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return app.resolve(event, context)
