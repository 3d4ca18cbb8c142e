"""Notifier: e-mails to customers through Amazon SES, each at most once.

Fed by the notify queue: published events (SNS, raw, filtered to the event types that cause an
e-mail; the merchant in the message attributes), receipt requests (from the receipts function,
once the number is given), notices before a charge (from the dispatcher) and SES's bounce and
complaint reports (configuration set -> mail events topic, raw). Each record is turned into
e-mails (`service/notifications`), each recorded before it is handed to SES, so a redelivered
record sends nothing twice; a report marks its e-mail and suppresses the address.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, process_partial_response
from aws_lambda_powertools.utilities.batch import EventType as BatchEventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import MailFeedback, NotifyMessage
from billing.service.notifications import ReadAhead, messages_for_event

billing = bootstrap.notifier(bootstrap.given(globals()))
notifier = billing.notifier
processor = BatchProcessor(event_type=BatchEventType.SQS, logger=logger)  # type: ignore[arg-type]  # Powertools' Logger
ahead: ReadAhead | None = None  # what the current batch's e-mails need, read in a few batch reads


def requests_of(record: SQSRecord) -> list[NotifyMessage]:
    """The e-mails a record asks for: an event from the topic (raw delivery) or a request."""
    body = json.loads(record.body)
    if isinstance(body, dict) and body.get("object") == "event":
        attribute: Any = record.message_attributes.get("merchant_id") or {}
        merchant = attribute.get("stringValue") if isinstance(attribute, dict) else getattr(attribute, "string_value", None)
        return messages_for_event({**body, "merchant_id": merchant})
    return [NotifyMessage.model_validate(body)]


def record_handler(record: SQSRecord) -> None:
    body = json.loads(record.body)
    if isinstance(body, dict) and "eventType" in body:  # SES's report on an e-mail it took
        feedback = MailFeedback.model_validate(body)
        if notifier.feedback(feedback) is not None:
            name = "EmailsBounced" if feedback.eventType == "Bounce" else "EmailsComplained"
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        return
    for message in requests_of(record):
        notification = notifier.notify(message, ahead)
        if notification is None:
            continue
        if notification.suppressed:  # withheld on purpose: not a failure to alarm on
            name = "EmailsSuppressed"
        else:
            name = "EmailsSent" if notification.status == "sent" else "EmailsFailed"
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    global ahead
    ahead = _read_ahead(event)
    try:
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    finally:
        ahead = None


def _read_ahead(event: dict[str, Any]) -> ReadAhead | None:
    """One batch read for every e-mail of the batch; a record it cannot parse fails on its own later,
    and if the read itself fails each e-mail reads what it needs."""
    messages: list[NotifyMessage] = []
    for raw in event.get("Records", []):
        try:
            record = SQSRecord(raw)
            if "eventType" not in json.loads(record.body):
                messages += requests_of(record)
        except Exception:  # noqa: S112 (reported by the record's own handling)
            continue
    try:
        return notifier.read_ahead(messages) if messages else None
    except Exception:
        logger.exception("read-ahead of the batch failed; each e-mail reads on its own")
        return None
