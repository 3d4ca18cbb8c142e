"""/v1/charges/{id}/refunds, /v1/refunds, /v1/disputes and /v1/items: the merchant's money
operations (items are created on their mandate: `POST /v1/mandates/{id}/items`, in `mandates.py`;
disputes are opened and closed only by the gateway, so they are read-only here)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.disputes import DisputeStatus
from ...domain.items import ItemStatus
from ...domain.refunds import RefundStatus
from ...service.ports import PageRequest
from ..requests import RefundCreate
from ..responses import DisputeOut, ItemOut, ListOut, RefundOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

router = new_router()
ParentId = Annotated[str | None, Query(max_length=100)]


@router.post("/v1/charges/<charge_id>/refunds", responses=responses(RefundOut, 201, 404, 409, 422), summary="Refund a charge")
def create_refund(charge_id: str, body: RefundCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"create_refund:{charge_id}", body, idempotency_key, 201, lambda api, m: api.refunds.create(m, charge_id, body)
    )


@router.get("/v1/refunds", responses=responses(ListOut[RefundOut]), summary="List refunds, newest first")
def list_refunds(
    limit: Limit = 20,
    cursor: Cursor = None,
    charge_id: ParentId = None,
    mandate_id: ParentId = None,
    status: Annotated[RefundStatus | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    filters = {"charge_id": charge_id, "mandate_id": mandate_id, "status": status}
    return request.page(request.api.refunds.page(request.merchant_id, PageRequest(limit, cursor), **filters))


@router.get("/v1/refunds/<refund_id>", responses=responses(RefundOut, 200, 404), summary="Retrieve a refund")
def get_refund(refund_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.refunds.get(request.merchant_id, refund_id))


@router.get("/v1/disputes", responses=responses(ListOut[DisputeOut]), summary="List disputes, newest first")
def list_disputes(
    limit: Limit = 20,
    cursor: Cursor = None,
    charge_id: ParentId = None,
    mandate_id: ParentId = None,
    status: Annotated[DisputeStatus | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    filters = {"charge_id": charge_id, "mandate_id": mandate_id, "status": status}
    return request.page(request.api.disputes.page(request.merchant_id, PageRequest(limit, cursor), **filters))


@router.get("/v1/disputes/<dispute_id>", responses=responses(DisputeOut, 200, 404), summary="Retrieve a dispute")
def get_dispute(dispute_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.disputes.get(request.merchant_id, dispute_id))


@router.get("/v1/items", responses=responses(ListOut[ItemOut]), summary="List items, newest first")
def list_items(
    limit: Limit = 20,
    cursor: Cursor = None,
    mandate_id: ParentId = None,
    status: Annotated[ItemStatus | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(
        request.api.items.page(request.merchant_id, PageRequest(limit, cursor), mandate_id=mandate_id, status=status)
    )


@router.get("/v1/items/<item_id>", responses=responses(ItemOut, 200, 404), summary="Retrieve an item")
def get_item(item_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.items.get(request.merchant_id, item_id))


@router.delete("/v1/items/<item_id>", responses=responses(ItemOut, 200, 404, 409), summary="Delete a pending item")
def delete_item(item_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.items.delete(request.merchant_id, item_id))
