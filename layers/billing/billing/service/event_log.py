"""The merchant's event log: every event recorded with the change that caused it (the outbox)."""

from __future__ import annotations

from ..domain.errors import found
from ..domain.model import Event
from .ports import Page, PageRequest, Repository


class EventLog:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, merchant_id: str, event_id: str) -> Event:
        return found(self.repo.get(Event, merchant_id, event_id), "event", event_id)

    def page(self, merchant_id: str, page: PageRequest, type: str | None = None, mandate_id: str | None = None) -> Page[Event]:
        """Newest first; `mandate_id`: a mandate's timeline (the events about it or its charges,
        refunds, disputes, items and invoices)."""
        if mandate_id is None:  # the API's list, its cursors bound as before
            return self.repo.page(Event, merchant_id, page, type=type)
        return self.repo.page(Event, merchant_id, page, type=type, mandate_id=mandate_id)
