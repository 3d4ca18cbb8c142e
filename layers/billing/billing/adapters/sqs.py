"""SQS: the gateway queue (deployed as ChargeQueue; SendMessageBatch, ten messages per call), the queue where the event
publisher leaves the events SNS did not take (for `make redrive QUEUE=events`), and the webhook
deliveries' wake-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..observability import logger
from ..service.messages import (
    AttemptMessage,
    ExportMessage,
    NotificationMessage,
    ReceiptRequest,
    ReconcileRequest,
    RefundMessage,
    UnpublishedEventsMessage,
    WakeMessage,
)
from ..service.ports import MAX_DELAY_SECONDS

if TYPE_CHECKING:
    from ..service.gateway_events import GatewayEvent

BATCH = 10  # SQS's maximum entries per SendMessageBatch


class SqsGatewayQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, messages: list[AttemptMessage | RefundMessage]) -> int:
        """Returns how many SQS accepted. Refused entries are retried once; what is still refused
        is logged and left: its claim's lease runs out and the next dispatcher run sends it again."""
        accepted = 0
        for start in range(0, len(messages), BATCH):
            chunk = messages[start : start + BATCH]
            entries = {str(i): {"Id": str(i), "MessageBody": m.model_dump_json()} for i, m in enumerate(chunk)}
            for _ in range(2):
                response = self.client.send_message_batch(QueueUrl=self.url, Entries=list(entries.values()))
                accepted += len(response.get("Successful", []))
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = {k: v for k, v in entries.items() if k in failed}
                if not entries:
                    break
            for key in entries:  # never the body: it holds the customer's details
                message = chunk[int(key)]
                ids: dict[str, object] = (
                    {"refund_id": message.refund_id}
                    if isinstance(message, RefundMessage)
                    else {"charge_id": message.charge_id, "attempt": message.attempt}
                )
                logger.warning("gateway queue message not accepted by SQS; it is re-sent when its lease ends", extra=ids)
        return accepted


class UnpublishedEvents:
    """Where the publisher leaves the keys of events SNS refused (the events stay in the table)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def leave(self, keys: list[tuple[str, str]]) -> None:
        """(merchant id, event id) pairs, in messages of at most 100 keys."""
        for start in range(0, len(keys), 100):
            body = UnpublishedEventsMessage.of(keys[start : start + 100]).model_dump_json()
            self.client.send_message(QueueUrl=self.url, MessageBody=body)


MAX_HIDE_SECONDS = 12 * 3600 - 60  # SQS's longest visibility timeout, with a margin


class SqsWebhookQueue:
    """Wake-ups of webhook deliveries: `{"merchant_id", "delivery_id"}`, nothing else (the
    delivery's state is in the table). A wake-up that comes early is put back for the rest of
    its wait: by a new message with a delay up to 15 minutes (no receive counted), longer by
    hiding the received message (at most a few times per delivery)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def wake(self, refs: Sequence[tuple[str, str]], delay_seconds: int = 0) -> None:
        for start in range(0, len(refs), BATCH):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": WakeMessage(merchant_id=m, delivery_id=d).model_dump_json(),
                    "DelaySeconds": max(0, min(MAX_DELAY_SECONDS, delay_seconds)),
                }
                for i, (m, d) in enumerate(refs[start : start + BATCH])
            ]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):  # the caller's message stays in its own queue and comes back
                raise RuntimeError(f"SQS refused {len(response['Failed'])} webhook wake-ups")

    def hide(self, receipt_handle: str, seconds: int) -> None:
        self.client.change_message_visibility(QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)

    def later(self, ref: tuple[str, str], seconds: int, receipt_handle: str) -> bool:
        """Up to 15 minutes: a new message with that delay (the received one is done with);
        longer: the received message hidden for the wait, at most SQS's 12 hours (it comes back)."""
        if seconds <= MAX_DELAY_SECONDS:
            self.wake([ref], delay_seconds=seconds)
            return True
        self.hide(receipt_handle, min(seconds, MAX_HIDE_SECONDS))
        return False


class SqsReceiptRequests:
    """Succeeded charges to number, on the FIFO receipt queue: one message group per merchant (its
    receipts are numbered by one writer, in order), deduplicated by charge id (a redelivered event
    within SQS's five-minute window sends nothing new; after it, numbering is idempotent)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, requests: Sequence[ReceiptRequest]) -> set[int]:
        """The indexes of the requests SQS did not take (to be retried)."""
        refused: set[int] = set()
        for start in range(0, len(requests), BATCH):
            entries = [
                {
                    "Id": str(start + i),
                    "MessageBody": r.model_dump_json(exclude_none=True),
                    "MessageGroupId": r.merchant_id,
                    "MessageDeduplicationId": r.key,
                }
                for i, r in enumerate(requests[start : start + BATCH])
            ]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            refused |= {int(f["Id"]) for f in response.get("Failed", [])}
        return refused


class SqsReconcileQueue:
    """The day's reconciliation requests, one per merchant (the worker reconciles each)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, requests: Sequence[ReconcileRequest]) -> int:
        """How many SQS took (a request refused is sent again by the next run, or by hand)."""
        accepted = 0
        for start in range(0, len(requests), BATCH):
            chunk = requests[start : start + BATCH]
            entries = [{"Id": str(i), "MessageBody": r.model_dump_json()} for i, r in enumerate(chunk)]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            accepted += len(chunk) - len(response.get("Failed", []))
        return accepted


class SqsNotificationQueue:
    """E-mails to consider, for the notifier (receipts, once numbered)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, messages: Sequence[NotificationMessage]) -> None:
        for start in range(0, len(messages), BATCH):
            entries = [{"Id": str(i), "MessageBody": m.model_dump_json()} for i, m in enumerate(messages[start : start + BATCH])]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"{len(response['Failed'])} e-mail requests not accepted by SQS")


class SqsGatewayEventQueue:
    """Normalised gateway events on their way to be applied (GatewayEventsQueue), one message each
    (ids, amounts, codes: nothing personal)."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send_events(self, events: list[GatewayEvent]) -> int:
        accepted = 0
        for start in range(0, len(events), BATCH):
            entries = [{"Id": str(i), "MessageBody": e.model_dump_json()} for i, e in enumerate(events[start : start + BATCH])]
            response = self.client.send_message_batch(QueueUrl=self.url, Entries=entries)
            accepted += len(response.get("Successful", []))
        return accepted


class SqsExportQueue:
    """Exports to build, for the exporter."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self.client, self.url = client, queue_url

    def send(self, message: ExportMessage) -> None:
        self.client.send_message(QueueUrl=self.url, MessageBody=message.model_dump_json())
