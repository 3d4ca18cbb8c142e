"""The merchant's dashboard (/dashboard): sign-in with the Cognito user pool, sessions, the shell,
the merchant's users and mandates, the lists of charges, refunds, disputes and invoices, the owner's plans, API keys, exports, webhooks and settings.

Thin: the resolver, the dashboard's routes (`billing/dashboard/routes.py`: sessions, CSRF, roles,
pages), the wiring. Words, HTML and headers live in `billing.dashboard`, the use cases in
`billing.service.dashboard`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.dashboard import list_pages, mandate_pages, owner_pages, routes, settings_pages, webhook_pages
from billing.observability import logger, metrics

deps = bootstrap.dashboard(bootstrap.given(globals()))

app = APIGatewayRestResolver()
app.include_router(routes.router)
app.include_router(mandate_pages.router)
app.include_router(list_pages.router)
app.include_router(owner_pages.router)
app.include_router(webhook_pages.router)
app.include_router(settings_pages.router)
routes.install(app)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=deps)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return app.resolve(event, context)
