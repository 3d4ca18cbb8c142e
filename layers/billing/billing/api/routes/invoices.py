"""/v1/invoices: the merchant's invoices and credit notes (issued by the service, read-only here)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.invoices import InvoiceType
from ...service.ports import PageRequest
from ..responses import InvoiceOut, ListOut
from ..routing import Cursor, Limit, MerchantRequest, new_router, responses

router = new_router()
ParentId = Annotated[str | None, Query(max_length=100)]


@router.get("/v1/invoices", responses=responses(ListOut[InvoiceOut]), summary="List invoices and credit notes, newest first")
def list_invoices(
    limit: Limit = 20,
    cursor: Cursor = None,
    type: Annotated[InvoiceType | None, Query()] = None,
    mandate_id: ParentId = None,
    charge_id: ParentId = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    filters = {"type": type, "mandate_id": mandate_id, "charge_id": charge_id}
    return request.page(request.api.invoices.page(request.merchant_id, PageRequest(limit, cursor), **filters))


@router.get("/v1/invoices/<invoice_id>", responses=responses(InvoiceOut, 200, 404), summary="Retrieve an invoice or credit note")
def get_invoice(invoice_id: str) -> Response[Any]:
    request = MerchantRequest(router)
    return request.ok(request.api.invoices.get(request.merchant_id, invoice_id))
