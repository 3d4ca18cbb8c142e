"""/v1/charges (read-only: charges are created by the billing engine)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.charge import ChargeStatus
from ...service.ports import PageRequest
from ..responses import ChargeOut, ListOut
from ..routing import Cursor, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.get("/v1/charges", responses=responses(ListOut[ChargeOut]), summary="List charges, newest first")
def list_charges(
    limit: Limit = 20,
    cursor: Cursor = None,
    mandate_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[ChargeStatus | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(
        request.api.charges.page(request.merchant_id, PageRequest(limit, cursor), mandate_id=mandate_id, status=status)
    )


@router.get("/v1/charges/<charge_id>", responses=responses(ChargeOut, 200, 404), summary="Retrieve a charge with its attempts")
def get_charge(charge_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.charges.get(request.merchant_id, charge_id))
