"""The merchant's dashboard (/dashboard): sign-in with the Cognito user pool, sessions, the shell,
the merchant's users and mandates, the lists of charges, refunds, disputes and invoices, the owner's plans, API keys, exports, webhooks and settings.

Thin: the resolver, the dashboard's routes (`billing/dashboard/routes.py`: sessions, CSRF, roles,
pages), the wiring. Words, HTML and headers live in `billing.dashboard`, the use cases in
`billing.service.dashboard`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.dashboard import site
from billing.observability import logger, metrics

deps = bootstrap.dashboard(bootstrap.given(globals()))

app = site.resolver()


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=deps)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return app.resolve(event, context)
