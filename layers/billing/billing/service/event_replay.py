"""Publishing again the events that did not reach SNS. Every event is in the table (the outbox),
so a replay needs only its key; it is published exactly as recorded, with its own id, so a
consumer that already has it recognises it (delivery is at least once)."""

from __future__ import annotations

from ..domain.model import Event
from .ports import EventPublisher, Repository


class EventReplay:
    def __init__(self, repo: Repository, publisher: EventPublisher) -> None:
        self.repo, self.publisher = repo, publisher

    def republish(self, keys: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
        """(merchant id, event id) pairs -> how many were published, and the keys still not published.
        A key naming no stored event is dropped (there is nothing to publish)."""
        found = list(self.repo.load_many({Event: keys}).of(Event).values())  # one BatchGetItem per 100
        failed = self.publisher.publish([(e.id, e) for e in found]) if found else set()
        return len(found) - len(failed), [(e.merchant_id, e.id) for e in found if e.id in failed]
