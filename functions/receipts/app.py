"""Receipts: numbers each merchant's succeeded charges, an invoice series with no gaps
(`service/receipts.ReceiptRequests`), issues their invoices and the credit notes asked for
(refunds, reversals, lost disputes: `service/invoices`), then asks for their receipt e-mails.

Fed by the FIFO receipt queue (one message group per merchant, so one writer per merchant and in
order). A batch's charges are grouped by merchant and each group is numbered in one transaction
with the merchant's counter. FIFO: once a group fails, it and every record after its first one
are reported failed, so nothing overtakes it; numbering is idempotent, so records redelivered
after being numbered change nothing. A record that is not a receipt request is dropped (nothing
could number it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import ReceiptRequest, parse_receipt_request

deps = bootstrap.receipts(bootstrap.given(globals()))
receipts = deps.receipts
numbering = deps.numbering


def parse(record: dict[str, Any]) -> ReceiptRequest | None:
    try:
        return parse_receipt_request(record["body"])
    except (ValidationError, KeyError, TypeError) as error:
        count = error.error_count() if isinstance(error, ValidationError) else 1
        logger.error("not a receipt request; dropped", extra={"errors": count})
        return None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    requests = [parse(r) for r in records]
    batch = receipts.handle(requests)
    metrics.add_metric(name="ReceiptsNumbered", unit=MetricUnit.Count, value=batch.numbered)
    metrics.add_metric(name="InvoicesIssued", unit=MetricUnit.Count, value=batch.invoices)
    metrics.add_metric(name="CreditNotesIssued", unit=MetricUnit.Count, value=batch.credit_notes)
    if batch.invalid:
        metrics.add_metric(name="ReceiptRequestsInvalid", unit=MetricUnit.Count, value=batch.invalid)
    if batch.retry_from is None:
        return {"batchItemFailures": []}
    # FIFO: the failed group's records and everything after them come back, in order.
    retry = [r["messageId"] for i, (r, q) in enumerate(zip(records, requests)) if i >= batch.retry_from and q is not None]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}
