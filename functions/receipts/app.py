"""Receipts: numbers each merchant's succeeded charges, an invoice series with no gaps.

Fed by the FIFO receipt queue (one message group per merchant, so one writer per merchant and in
order). A batch's charges are grouped by merchant and each group is numbered in one transaction
with the merchant's counter (`service/receipts.ReceiptNumbering`). FIFO: once a group fails, it
and every record after its first one are reported failed, so nothing overtakes it; numbering is
idempotent, so records redelivered after being numbered change nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Json, StrictStr, StringConstraints, ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import NotifyMessage

billing = bootstrap.receipts(bootstrap.given(globals()))
numbering = billing.receipt_numbering


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    charge_id: Annotated[StrictStr, StringConstraints(pattern=r"^chg_[A-Za-z0-9]{1,64}$")]


class ReceiptRecord(SqsRecordModel):
    body: Json[ReceiptRequest]


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    groups: dict[str, list[tuple[int, str]]] = {}  # merchant -> (position, charge id), in order
    invalid: list[int] = []
    for position, raw in enumerate(records):
        try:
            request = ReceiptRecord.model_validate(raw).body
        except ValidationError as error:
            logger.error("not a receipt request; dropped", extra={"errors": error.error_count()})
            invalid.append(position)  # a poison message is not retried: nothing can number it
            continue
        groups.setdefault(request.merchant_id, []).append((position, request.charge_id))
    first_failure: int | None = None
    numbered = 0
    for merchant_id, wanted in groups.items():
        try:
            new, with_numbers = numbering.assign_all(merchant_id, [charge_id for _, charge_id in wanted])
            numbered += len(new)
            # Each numbered charge's receipt e-mail (again for a redelivery: the notifier sends it at most once).
            if billing.settings.notify_queue_url and with_numbers:
                billing.notify_queue.send(
                    [
                        NotifyMessage(
                            merchant_id=merchant_id, kind="receipt", mandate_id=c.mandate_id, charge_id=c.id, occasion=c.id
                        )
                        for c in with_numbers
                    ]
                )
        except Exception:
            logger.exception("receipts of merchant %s not numbered; retried", merchant_id)
            first = wanted[0][0]
            first_failure = first if first_failure is None else min(first_failure, first)
    metrics.add_metric(name="ReceiptsNumbered", unit=MetricUnit.Count, value=numbered)
    if invalid:
        metrics.add_metric(name="ReceiptRequestsInvalid", unit=MetricUnit.Count, value=len(invalid))
    if first_failure is None:
        return {"batchItemFailures": []}
    # FIFO: the failed group's records and everything after them come back, in order.
    retry = [r["messageId"] for i, r in enumerate(records) if i >= first_failure and i not in invalid]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in retry]}
