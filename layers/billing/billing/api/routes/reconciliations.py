"""/v1/reconciliations: the daily reports of what the service recorded as moved against what the
gateways report (made by the daily job, read-only here)."""

from __future__ import annotations

import re
from datetime import date as Day
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.errors import ValidationFailed
from ...domain.reconciliation import ReconciliationStatus
from ...service.ports import PageRequest
from ..responses import ListOut, ReconciliationOut
from ..routing import Cursor, Limit, MerchantRequest, new_router, responses

router = new_router()
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits (\d is any Unicode digit), whole string


def day_of(value: str) -> Day:
    """`YYYY-MM-DD`, a real calendar day in the years the contract accepts (422 otherwise)."""
    try:
        day = Day.fromisoformat(value) if _DATE.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2199:
        raise ValidationFailed("date must be a day as YYYY-MM-DD (UTC).", "date")
    return day


@router.get(
    "/v1/reconciliations", responses=responses(ListOut[ReconciliationOut]), summary="List daily reconciliations, newest first"
)
def list_reconciliations(
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[ReconciliationStatus | None, Query()] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    return request.page(request.api.reconciliations.page(request.merchant_id, PageRequest(limit, cursor), status=status))


@router.get(
    "/v1/reconciliations/<date>",
    responses=responses(ReconciliationOut, 200, 404, 422),
    summary="Retrieve the reconciliation of a UTC day (YYYY-MM-DD)",
)
def get_reconciliation(date: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.reconciliations.get(request.merchant_id, day_of(date)))
