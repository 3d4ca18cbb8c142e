"""/v1/tax_rates"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...service.ports import PageRequest
from ..requests import NoFields, TaxRateCreate, TaxRateUpdate
from ..responses import ListOut, TaxRateOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.post("/v1/tax_rates", responses=responses(TaxRateOut, 201, 409, 422), summary="Create a tax rate")
def create_tax_rate(body: TaxRateCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        "create_tax_rate", body, idempotency_key, 201, lambda api, merchant: api.tax_rates.create(merchant, body)
    )


@router.get("/v1/tax_rates", responses=responses(ListOut[TaxRateOut]), summary="List tax rates, newest first")
def list_tax_rates(
    limit: Limit = 20, cursor: Cursor = None, status: Annotated[Literal["active", "archived"] | None, Query()] = None
) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(request.api.tax_rates.page(request.merchant_id, PageRequest(limit, cursor), status=status))


@router.get("/v1/tax_rates/<tax_rate_id>", responses=responses(TaxRateOut, 200, 404), summary="Retrieve a tax rate")
def get_tax_rate(tax_rate_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.tax_rates.get(request.merchant_id, tax_rate_id))


@router.patch(
    "/v1/tax_rates/<tax_rate_id>",
    responses=responses(TaxRateOut, 200, 404, 422),
    summary="Rename a tax rate or change its description",
)
def update_tax_rate(tax_rate_id: str, body: TaxRateUpdate) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.tax_rates.update(request.merchant_id, tax_rate_id, body))


@router.post(
    "/v1/tax_rates/<tax_rate_id>/archive",
    responses=responses(TaxRateOut, 200, 404, 409),
    summary="Archive a tax rate (no new use; where attached it still applies)",
)
def archive_tax_rate(tax_rate_id: str, body: NoFields | None = None, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        f"archive_tax_rate:{tax_rate_id}",
        body,
        idempotency_key,
        200,
        lambda api, merchant: api.tax_rates.archive(merchant, tax_rate_id),
    )
