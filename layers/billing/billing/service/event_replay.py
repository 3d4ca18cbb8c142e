"""Publishing again the events that did not reach SNS. Every event is in the table (the outbox),
so a replay needs only its key; it is published exactly as recorded, with its own id, so a
consumer that already has it recognises it (delivery is at least once). A `charge.succeeded` also
asks again for its receipt number, as the publisher does: the stream batch that went to the
dead-letter queue may be the one whose receipt request the queue refused (numbering is idempotent)."""

from __future__ import annotations

from ..domain.model import Event
from .event_publishing import asks_for_a_document, receipt_request
from .ports import EventPublisher, ReceiptRequestQueue, Repository


class EventReplay:
    def __init__(self, repo: Repository, publisher: EventPublisher, receipts: ReceiptRequestQueue | None = None) -> None:
        self.repo, self.publisher, self.receipts = repo, publisher, receipts

    def republish(self, keys: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
        """(merchant id, event id) pairs -> how many were published, and the keys still not published.
        A key naming no stored event is dropped (there is nothing to publish)."""
        found = list(self.repo.load_many({Event: keys}).of(Event).values())  # one BatchGetItem per 100
        failed = self.publisher.publish([(e.id, e) for e in found]) if found else set()
        succeeded = [e for e in found if asks_for_a_document(e)]
        if succeeded and self.receipts is not None:  # a refused request leaves its event for the next redrive
            failed |= {succeeded[i].id for i in self.receipts.send([receipt_request(e) for e in succeeded])}
        return len(found) - len(failed), [(e.merchant_id, e.id) for e in found if e.id in failed]
