"""/v1/exports: a month of invoices, charges or mandates as a CSV file, built asynchronously
(`service/exports.py`); a ready export's link is issued afresh on each read."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.exports import ExportStatus
from ...service.ports import PageRequest
from ..errors import json_response
from ..requests import ExportCreate
from ..responses import ExportOut, ListOut
from ..routing import Cursor, IdempotencyKey, Limit, MerchantRequest, new_router, responses

router = new_router()


@router.post("/v1/exports", responses=responses(ExportOut, 202, 409, 422), summary="Export a month as a CSV file")
def create_export(body: ExportCreate, idempotency_key: IdempotencyKey = None) -> Response[Any]:
    return MerchantRequest(router).idempotent(
        "create_export", body, idempotency_key, 202, lambda api, m: api.exports.create(m, body)
    )


@router.get("/v1/exports", responses=responses(ListOut[ExportOut]), summary="List exports, newest first")
def list_exports(
    limit: Limit = 20, cursor: Cursor = None, status: Annotated[ExportStatus | None, Query()] = None
) -> Response[Any]:
    request = MerchantRequest(router)
    exports = request.api.exports
    result = exports.page(request.merchant_id, PageRequest(limit, cursor), status=status)
    return request.page(result, lambda export: ExportOut.of(export, exports.link(export)).model_dump(mode="json"))


@router.get(
    "/v1/exports/<export_id>", responses=responses(ExportOut, 200, 404), summary="Retrieve an export (a fresh link when ready)"
)
def get_export(export_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    exports = request.api.exports
    export = exports.get(request.merchant_id, export_id)
    return json_response(200, ExportOut.of(export, exports.link(export)).model_dump(mode="json"))
