"""/v1/invoices: the merchant's invoices and credit notes (issued by the service, read-only here)."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from ...domain.errors import NotFound
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


@router.get(
    "/v1/invoices/<invoice_id>",
    responses=responses(InvoiceOut, 200, 404),
    summary="Retrieve an invoice or credit note (JSON; ?format=pdf or ?format=xml for the document)",
)
def get_invoice(
    invoice_id: str,
    format: Annotated[
        Literal["json", "pdf", "xml"] | None,
        Query(description="pdf: the document (Factur-X: its XML attached); xml: EN 16931 CII (Factur-X EN 16931)"),
    ] = None,
) -> Response[Any]:
    request = MerchantRequest(router)
    invoice = request.api.invoices.get(request.merchant_id, invoice_id)
    headers = {"Cache-Control": "no-store"}
    if format == "xml":
        from ...shapes.einvoice import cii_xml

        headers["Content-Disposition"] = f'attachment; filename="{invoice.number}.xml"'
        return Response(status_code=200, content_type="application/xml", body=cii_xml(invoice).decode("utf-8"), headers=headers)
    if format == "pdf":
        from ...service.customer_portal import receipt_view

        view = receipt_view(request.api.repo, request.merchant_id, invoice.charge_id, invoice)
        if view is None:  # its charge is gone (never: documents are issued for numbered charges)
            raise NotFound(f"No such invoice: '{invoice_id}'.", "id")
        headers["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        pdf = request.deps.document_pdf(view, invoice.locale)
        # Encoded here and flagged (API Gateway decodes it): the resolver validates responses as
        # text, so raw bytes would not pass it.
        response = Response(status_code=200, content_type="application/pdf", body=base64.b64encode(pdf).decode(), headers=headers)
        response.base64_encoded = True
        return response
    return request.ok(invoice)
