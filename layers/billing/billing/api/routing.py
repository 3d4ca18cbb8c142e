"""What every route shares: the authenticated merchant, the service, idempotent POSTs, pages.

The handler (`functions/api/app.py`) puts the process's dependencies (`bootstrap.ApiDeps`) in the
resolver's context on each invocation; routers read them through `MerchantRequest`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from pydantic import BaseModel

from ..http import public_base_url
from ..service.event_recorder import link_of
from ..service.ports import Idempotency, Links, Page
from ..service.use_cases import UseCases
from ..settings import Settings
from .errors import Unauthenticated, json_response
from .responses import ErrorOut, render

if TYPE_CHECKING:
    from ..service.customer_portal import ReceiptView

Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page")]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255, description="Makes the POST safe to retry (24 h)")
]


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


def responses(model: Any, status: int = 200, *errors: int) -> dict[int, Any]:
    """The OpenAPI responses of a route: `model` on success, the error object on each error status."""
    error = {"description": "Error", "content": {"application/json": {"model": ErrorOut}}}
    return {status: {"description": "OK", "content": {"application/json": {"model": model}}}} | {
        s: error for s in (400, 401, *errors)
    }


class RouteDeps(Protocol):
    """What the routes use of the process's dependencies (`bootstrap.ApiDeps`), put in the
    resolver's context by the handler on each invocation."""

    @property
    def settings(self) -> Settings: ...

    @property
    def idempotency(self) -> Callable[[], Idempotency]: ...

    @property
    def approval_links(self) -> Callable[[str], Links]: ...

    @property
    def use_cases(self) -> Callable[[Links], UseCases]: ...

    @property
    def document_pdf(self) -> Callable[[ReceiptView, str], bytes]:
        """An invoice's or credit note's PDF (the customer page's, with its XML attached)."""


class MerchantRequest:
    """One merchant request as the routes see it."""

    def __init__(self, router: Router) -> None:
        self.event: APIGatewayProxyEvent = router.current_event  # type: ignore[assignment]
        self.deps: RouteDeps = router.context["deps"]
        self.lambda_context = router.lambda_context

    @cached_property
    def merchant_id(self) -> str:
        """Only ever from the authorizer's context; a request without one is refused."""
        context = self.event.get("requestContext") or {}
        merchant = (context.get("authorizer") or {}).get("merchant_id")
        if not merchant:
            raise Unauthenticated()
        return str(merchant)

    @cached_property
    def api(self) -> UseCases:
        base_url = public_base_url(self.deps.settings.public_base_url, self.event.request_context)
        return self.deps.use_cases(self.deps.approval_links(base_url))

    def present(self, obj: Any) -> dict[str, object]:
        """An object as the API returns it (with its approval link while a mandate awaits approval)."""
        return render(obj, link_of(self.api.links, obj))

    def ok(self, obj: Any) -> Response[Any]:
        return json_response(200, self.present(obj))

    def page(self, result: Page[Any], show: Callable[[Any], Any] | None = None) -> Response[Any]:
        body = {
            "object": "list",
            "data": [(show or self.present)(item) for item in result.data],
            "has_more": result.has_more,
            "next_cursor": result.next_cursor,
        }
        return json_response(200, body)

    def idempotent(
        self, operation: str, body: BaseModel | None, key: str | None, status: int, action: Callable[[UseCases, str], Any]
    ) -> Response[Any]:
        """Run `action(use_cases, merchant_id)` once per (merchant, Idempotency-Key); replays answer the stored result."""

        def perform() -> dict[str, Any]:
            return {"status": status, "body": self.present(action(self.api, self.merchant_id))}

        replayed = False
        if key is None:
            result = perform()
        else:
            request = {
                "merchant_id": self.merchant_id,
                "key": key,
                "operation": operation,
                "body": body.model_dump(mode="json", exclude_unset=True) if body is not None else None,
            }
            result, replayed = self.deps.idempotency().run(request, perform, self.lambda_context)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return json_response(result["status"], result["body"], headers)
