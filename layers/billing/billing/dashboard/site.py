"""Every page of the dashboard in one resolver, so that the function, the local runtime (which
loads the function) and the tests serve the same routes with the same error pages."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import Router

from . import list_pages, mandate_pages, owner_pages, routes, settings_pages, webhook_pages

ROUTERS: tuple[Router, ...] = (
    routes.router,
    mandate_pages.router,
    list_pages.router,
    owner_pages.router,
    webhook_pages.router,
    settings_pages.router,
)


def resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    for router in ROUTERS:
        app.include_router(router)
    routes.install(app)
    return app
