"""/v1/webhook_endpoints: a merchant's endpoints (the secret shown at creation and rotation only),
and their deliveries with a manual retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.webhooks import DeliveryStatus
from ...service.ports import PageRequest
from ...shapes.webhooks import DeletedOut, WebhookDeliveryOut, WebhookEndpointOut
from ..errors import json_response
from ..requests import NoFields, ObjectId, WebhookEndpointCreate, WebhookEndpointUpdate
from ..responses import ListOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

if TYPE_CHECKING:
    from ...service.use_cases import UseCases
    from ...service.webhooks import EndpointWithSecret

router = new_router()
BASE = "/v1/webhook_endpoints"


def _with_secret(request: MerchantRequest, operation: str, body: Any, key: str | None, status: int, make: Any) -> Response[Any]:
    """Idempotent, with the secret in this answer only: a replay shows the endpoint, no secret."""
    made: list[EndpointWithSecret] = []

    def action(api: UseCases, merchant_id: str) -> Any:
        made.append(make(api, merchant_id))
        return made[0].endpoint

    response = request.idempotent(operation, body, key, status, action)
    if not made:
        return response
    return json_response(status, {**request.present(made[0].endpoint), "secret": made[0].secret})


@router.post(
    BASE, responses=responses(WebhookEndpointOut, 201, 409, 422), summary="Create a webhook endpoint (its secret is shown once)"
)
def create_webhook_endpoint(body: WebhookEndpointCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    request = MerchantRequest(router)
    return _with_secret(
        request, "create_webhook_endpoint", body, idempotency_key, 201, lambda api, m: api.webhooks.create(m, body)
    )


@router.get(BASE, responses=responses(ListOut[WebhookEndpointOut]), summary="List webhook endpoints, newest first")
def list_webhook_endpoints(limit: Limit = 20, cursor: Cursor = None) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(request.api.webhooks.page(request.merchant_id, PageRequest(limit, cursor)))


@router.get(f"{BASE}/<endpoint_id>", responses=responses(WebhookEndpointOut, 200, 404), summary="Retrieve a webhook endpoint")
def get_webhook_endpoint(endpoint_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.webhooks.get(request.merchant_id, endpoint_id))


@router.patch(
    f"{BASE}/<endpoint_id>",
    responses=responses(WebhookEndpointOut, 200, 404, 422),
    summary="Change a webhook endpoint (URL, events, description, metadata, status)",
)
def update_webhook_endpoint(endpoint_id: str, body: WebhookEndpointUpdate) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.webhooks.update(request.merchant_id, endpoint_id, body))


@router.delete(f"{BASE}/<endpoint_id>", responses=responses(DeletedOut, 200, 404), summary="Delete a webhook endpoint")
def delete_webhook_endpoint(endpoint_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.webhooks.delete(request.merchant_id, endpoint_id))


@router.post(
    f"{BASE}/<endpoint_id>/rotate_secret",
    responses=responses(WebhookEndpointOut, 200, 404, 409),
    summary="Rotate an endpoint's secret (both signatures for 24 hours)",
)
def rotate_webhook_secret(
    endpoint_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    request = MerchantRequest(router)
    return _with_secret(
        request,
        f"rotate_webhook_secret:{endpoint_id}",
        body,
        idempotency_key,
        200,
        lambda api, m: api.webhooks.rotate_secret(m, endpoint_id),
    )


@router.get(
    f"{BASE}/<endpoint_id>/deliveries",
    responses=responses(ListOut[WebhookDeliveryOut], 200, 404),
    summary="List an endpoint's deliveries, newest first",
)
def list_webhook_deliveries(
    endpoint_id: str,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    event_id: Annotated[ObjectId | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    page = request.api.webhooks.deliveries(request.merchant_id, endpoint_id, PageRequest(limit, cursor), status, event_id)
    return request.page(page)


@router.get(
    f"{BASE}/<endpoint_id>/deliveries/<delivery_id>",
    responses=responses(WebhookDeliveryOut, 200, 404),
    summary="Retrieve a delivery with its attempts",
)
def get_webhook_delivery(endpoint_id: str, delivery_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.webhooks.delivery(request.merchant_id, endpoint_id, delivery_id))


@router.post(
    f"{BASE}/<endpoint_id>/deliveries/<delivery_id>/retry",
    responses=responses(WebhookDeliveryOut, 200, 404, 409),
    summary="Attempt a delivery again right away",
)
def retry_webhook_delivery(
    endpoint_id: str, delivery_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None
) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"retry_webhook_delivery:{delivery_id}",
        body,
        idempotency_key,
        200,
        lambda api, m: api.webhooks.retry(m, endpoint_id, delivery_id),
    )
