"""Charger: makes each attempt the dispatcher sent, exactly once at the gateway.

SQS batches go through Powertools' BatchProcessor: a message that fails (outcome unknown,
throttled, bad body) is reported alone and comes back after the visibility timeout, then
reaches the DLQ after maxReceiveCount. The gateway key is (charge, attempt), so whatever comes
back is replayed at the gateway, never charged again.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json, ValidationError

from billing.adapters.dynamodb import DynamoRepository
from billing.adapters.simulated_gateway import SimulatedGateway
from billing.adapters.stripe import StripeGateway, secret_key_reader
from billing.adapters.system import RandomIds, SystemClock
from billing.schemas import ChargeMessage
from billing.service.engine import ChargeOutcome, Charger
from billing.service.ports import PaymentGateway
from billing.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()

settings = Settings.from_env()
_dynamodb = boto3.client("dynamodb")
clock = SystemClock()


stripe_secret_key = secret_key_reader(settings.stripe_secret_name)


gateways: dict[str, PaymentGateway] = {"simulated": SimulatedGateway(_dynamodb, settings.gateway_ledger_table_name, clock)}
if settings.stripe_secret_name:
    gateways["stripe"] = StripeGateway(stripe_secret_key, base_url=settings.stripe_api_base)
charger = Charger(DynamoRepository(_dynamodb, settings.table_name), gateways, clock, RandomIds())
processor = BatchProcessor(event_type=EventType.SQS)


class ChargeRecord(SqsRecordModel):
    body: Json[ChargeMessage]  # type: ignore[assignment]


_preloaded: dict[str, Any] = {}


def record_handler(record: dict[str, Any]) -> dict[str, Any]:
    message = ChargeRecord.model_validate(record).body
    logger.append_keys(charge_id=message.charge_id, attempt=message.attempt, mandate_id=message.mandate_id)
    outcome = charger.process(message, _preloaded.get("batch"))
    _count(outcome)
    return {"status": outcome.status, "charge_status": outcome.charge_status}


def _count(outcome: ChargeOutcome) -> None:
    metrics.add_metric(name="GatewayTimeouts", unit=MetricUnit.Count, value=outcome.gateway_timeouts)
    if outcome.status == "duplicate":
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return
    if outcome.status != "recorded":
        return
    metrics.add_metric(name="AttemptsRecorded", unit=MetricUnit.Count, value=1)
    for event in outcome.events:
        name = {"charge.succeeded": "ChargesSucceeded", "charge.failed": "ChargesFailed", "charge.retry_scheduled": "ChargeRetriesScheduled"}.get(event)
        if name:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if "charge.succeeded" in outcome.events and outcome.currency:
        with single_metric(name="AmountCollected", unit=MetricUnit.Count, value=outcome.amount) as metric:
            metric.add_dimension(name="currency", value=outcome.currency)


def _preload(event: dict[str, Any]) -> None:
    """One BatchGetItem for every message's mandate and charge (fewer calls per charge)."""
    messages = []
    for record in event.get("Records", []):
        try:
            messages.append(ChargeRecord.model_validate(record).body)
        except ValidationError:
            continue  # reported as that record's failure by the processor
    _preloaded["batch"] = charger.preload(messages) if messages else None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _preload(event)
    try:
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    finally:
        _preloaded.clear()
