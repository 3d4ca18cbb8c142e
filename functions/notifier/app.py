"""Notifier: e-mails to customers through Amazon SES, each at most once
(`service/notifications.NotificationRequests`).

Fed by the notification queue (one union of messages, `service/messages.NotificationQueueMessage`): published
events (SNS, raw, filtered to the event types that cause an e-mail; the merchant in the message
attributes), receipt e-mails (from the receipts function, once the number is given), notices
before a charge (from the dispatcher) and SES's bounce and complaint reports (configuration set ->
mail events topic, raw). Each e-mail is recorded before it is handed to SES, so a redelivered
record sends nothing twice; a report marks its e-mail and suppresses the address. A record that
fails (or is none of these) comes back, then reaches the queue's DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from billing import bootstrap
from billing.observability import logger, metrics
from billing.service.messages import MailFeedback, NotificationMessage, PublishedEvent, parse_notification_message

deps = bootstrap.notifier(bootstrap.given(globals()))
requests = deps.requests


def parse(record: dict[str, Any]) -> NotificationMessage | PublishedEvent | MailFeedback | None:
    try:
        message = parse_notification_message(record["body"])
    except (ValidationError, ValueError, KeyError, TypeError):
        return None
    if isinstance(message, PublishedEvent):  # the merchant is in the message's attributes
        attribute = (record.get("messageAttributes") or {}).get("merchant_id") or {}
        merchant_id = attribute.get("stringValue") if isinstance(attribute, dict) else None
        try:
            return message.of_merchant(merchant_id if isinstance(merchant_id, str) else None)
        except ValidationError:
            return None
    return message


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    batch = requests.handle([parse(r) for r in records])
    for name, value in batch.counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for position, error in batch.failed:
        logger.error(
            "notification record failed; it comes back",
            extra={"message_id": records[position].get("messageId"), "error": type(error).__name__},
            exc_info=error,
        )
    return {"batchItemFailures": [{"itemIdentifier": records[p]["messageId"]} for p, _ in batch.failed]}
