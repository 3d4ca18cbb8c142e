"""The customer's hosted page (/customer/mandates/<signed token>) and receipts (/customer/receipts/<signed token>).

Thin: the resolver, the page's routes (`billing/customer_page/routes.py`: parse the form, call
`service/customer_portal`, answer a page), the wiring. Words, HTML, headers and forms live in
`billing.customer_page`, the use cases in `billing.service`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.customer_page import routes
from billing.observability import logger, metrics

deps = bootstrap.customer_page(bootstrap.given(globals()))

app = APIGatewayRestResolver()
app.include_router(routes.router)
routes.install(app)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app.append_context(deps=deps)  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated
    return app.resolve(event, context)
