"""Charger: makes each attempt (and each refund) the dispatcher sent, exactly once at the gateway.

SQS batches go through Powertools' BatchProcessor: a message that fails (outcome unknown,
throttled, bad body, too little time left) is reported alone, logged with its error class, and
comes back after the visibility timeout, then reaches the DLQ after maxReceiveCount. The
gateway key is (charge, attempt), so whatever comes back is replayed at the gateway or looked
up, never charged again. An attempt starts only when the invocation has time for its gateway
call and the write, so one slow call never kills the batch.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch import EventType as BatchEventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json, ValidationError

from billing import bootstrap
from billing.observability import count_money_events, logger, metrics, tracer
from billing.service.charger import ChargeOutcome, OutcomeUnknown
from billing.service.messages import GatewayMessage, RefundMessage

deps = bootstrap.charger(bootstrap.given(globals()))
charger = deps.charger
processor = BatchProcessor(event_type=BatchEventType.SQS, logger=logger)  # type: ignore[arg-type]  # failed records are logged with their error class
RECORD_KEYS = ("charge_id", "attempt", "mandate_id", "refund_id")  # one record's: never on the next record's lines


class ChargeRecord(SqsRecordModel):
    """A gateway queue record: its body one of the queue's messages, told by its `type`."""

    body: Json[GatewayMessage]


class InvalidChargeMessage(Exception):
    """A record that is not a charge message; the message names the fields, never their values."""


def record_handler(record: dict[str, Any], lambda_context: LambdaContext | None = None) -> dict[str, Any]:
    """One SQS record (BatchProcessor passes the invocation's context: the time budget comes from it).
    Its ids are logged with its lines, its failure's included (logged after this returns)."""
    logger.remove_keys(RECORD_KEYS)
    try:
        message = ChargeRecord.model_validate(record).body
    except ValidationError as error:
        # The fields' paths, without the message kind (body.attempt.charge_id -> body.charge_id)
        fields = sorted({".".join(str(p) for i, p in enumerate(e["loc"]) if i != 1) for e in error.errors()})[:5]
        raise InvalidChargeMessage(f"{error.error_count()} invalid fields: {', '.join(fields)}") from None
    remaining = (lambda: lambda_context.get_remaining_time_in_millis() / 1000) if lambda_context is not None else None
    if isinstance(message, RefundMessage):
        logger.append_keys(refund_id=message.refund_id)
    else:
        logger.append_keys(charge_id=message.charge_id, attempt=message.attempt, mandate_id=message.mandate_id)
    try:
        if isinstance(message, RefundMessage):
            outcome = charger.process_refund(message, remaining)
        else:
            outcome = charger.process(message, remaining)
    except Exception as error:
        metrics.add_metric(name="ChargeRecordsFailed", unit=MetricUnit.Count, value=1)
        if isinstance(error, OutcomeUnknown):
            metrics.add_metric(name="OutcomesUnknown", unit=MetricUnit.Count, value=1)
        raise
    _count(outcome)
    return {"status": outcome.status, "charge_status": outcome.charge_status}


def _count(outcome: ChargeOutcome) -> None:
    metrics.add_metric(name="GatewayTimeouts", unit=MetricUnit.Count, value=outcome.gateway_timeouts)
    if outcome.looked_up:
        metrics.add_metric(name="AttemptsLookedUp", unit=MetricUnit.Count, value=1)
    if outcome.failure_code == "gateway_rejected" and outcome.charge_status == "failed":
        metrics.add_metric(name="ChargesRejected", unit=MetricUnit.Count, value=1)
    if outcome.status == "duplicate":
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return
    if outcome.status != "recorded":
        return
    metrics.add_metric(name="AttemptsRecorded", unit=MetricUnit.Count, value=1)
    count_money_events(outcome.events, outcome.amount, outcome.currency)


@logger.inject_lambda_context(clear_state=True)
@tracer().capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
