"""The transactional outbox's relay: events recorded with their state change (table stream) go
to the events topic, at least once, and each `charge.succeeded` to the receipt queue (where its
receipt gets its number), carrying what the receipt needs and the event item already has (its
mandate, whether the customer has an e-mail address): the receipts function reads no charge and
no mandate on its usual path.

Events the topic refuses (after botocore's own retries) are left by key for replay
(`make redrive QUEUE=events`); only if that fails too are they answered as failed, for the stream
to deliver again. Receipt requests the queue refuses are failed too (their topic copy may then go
twice, which subscribers deduplicate by event id; numbering is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..domain.events import EventType
from ..domain.model import Event
from ..observability import logger
from .messages import ReceiptRequest
from .ports import EventPublisher, ReceiptRequestQueue, UnpublishedEventsLog

if TYPE_CHECKING:
    from ..domain.invoices import CorrectionKind, RestoringKind


@dataclass
class Relayed:
    published: int = 0
    left_for_replay: int = 0
    receipt_requests_refused: int = 0
    retry: list[str] = field(default_factory=list)  # the stream positions to be delivered again


class EventRelay:
    def __init__(self, topic: EventPublisher, unpublished: UnpublishedEventsLog, receipts: ReceiptRequestQueue | None) -> None:
        self.topic, self.unpublished, self.receipts = topic, unpublished, receipts

    def relay(self, pending: list[tuple[str, Event]]) -> Relayed:
        """`pending`: (stream position, event) in stream order."""
        out = Relayed()
        if not pending:
            return out
        failed = self.topic.publish(pending)
        out.published = len(pending) - len(failed)
        retry = self._request_receipts(pending, out)
        if failed:
            refused = [(e.merchant_id, e.id) for position, e in pending if position in failed]
            logger.warning("events not published; left for replay", extra={"count": len(refused)})
            out.left_for_replay = len(refused)
            try:
                self.unpublished.leave(refused)
            except Exception:  # noqa: BLE001 (the stream delivers them again)
                logger.exception("could not leave the events for replay; the stream retries them")
                retry |= failed
        out.retry = sorted(retry)
        return out

    def _request_receipts(self, pending: list[tuple[str, Event]], out: Relayed) -> set[str]:
        """Each succeeded charge to the receipt queue; the positions of those it did not take."""
        succeeded = [(position, e) for position, e in pending if asks_for_a_document(e)]
        if not succeeded or self.receipts is None:
            return set()
        requests = [receipt_request(e) for _, e in succeeded]
        try:
            refused = self.receipts.send(requests)
        except Exception:  # noqa: BLE001 (the stream delivers them again)
            logger.exception("could not request receipt numbers; the stream retries them")
            refused = set(range(len(requests)))
        out.receipt_requests_refused = len(refused)
        return {succeeded[i][0] for i in refused}


def asks_for_a_document(event: Event) -> bool:
    """A succeeded charge (its receipt number and invoice), what a credit note answers (a succeeded
    refund, a reversal, a lost dispute), or a failed refund (one that failed after it had
    succeeded has a credit note to undo: the receipts function finds out)."""
    if event.type in (
        EventType.CHARGE_SUCCEEDED,
        EventType.REFUND_SUCCEEDED,
        EventType.CHARGE_REVERSED,
        EventType.REFUND_FAILED,
    ):
        return True
    obj = event.data.get("object")
    return event.type == EventType.DISPUTE_CLOSED and isinstance(obj, dict) and obj.get("status") == "lost"


def receipt_request(event: Event) -> ReceiptRequest:
    """A charge.succeeded event's receipt request (its object is the charge as the API showed it),
    or a credit note's request (refund.succeeded, charge.reversed, a lost dispute's dispute.closed)."""
    obj = event.data["object"]
    if event.type != EventType.CHARGE_SUCCEEDED:
        kinds: dict[str, CorrectionKind | RestoringKind] = {
            EventType.REFUND_SUCCEEDED: "refund",
            EventType.CHARGE_REVERSED: "reversal",
            EventType.REFUND_FAILED: "refund_failed",
        }
        kind = kinds.get(event.type, "dispute")
        charge_id = str(obj["id"]) if kind == "reversal" else str(obj["charge_id"])
        return ReceiptRequest(
            merchant_id=event.merchant_id,
            charge_id=charge_id,
            correction=kind,
            source_id=str(obj["id"]),
            collection=_reversed_collection(obj) if kind == "reversal" else None,
        )
    charge = obj
    mandate_id = charge.get("mandate_id")
    return ReceiptRequest(
        merchant_id=event.merchant_id,
        charge_id=str(charge["id"]),
        mandate_id=mandate_id if isinstance(mandate_id, str) and mandate_id.startswith("mdt_") else None,
        customer_has_email=event.customer_has_email,
    )


def _reversed_collection(charge: dict[str, object]) -> int | None:
    """Which collection of the charge a charge.reversed event returned: its n-th reversed attempt
    (each reversal returns the latest collection); None for the first (as before it was counted)."""
    attempts = charge.get("attempts")
    n = sum(1 for a in attempts if isinstance(a, dict) and a.get("reversed_at")) if isinstance(attempts, list) else 0
    return n if n > 1 else None
