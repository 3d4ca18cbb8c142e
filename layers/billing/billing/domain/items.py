"""Items: one-off amounts (set-up fees, add-ons, usage) billed as lines of the mandate's next
cycle charge. The mandate lists its pending items, and the dispatcher's claim of that charge
bills them in the same transaction, so each item lands in exactly one charge. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .errors import InvalidState
from .events import EventType
from .model import Entity
from .money import Currency

ItemStatus = Literal["pending", "billed", "deleted", "void"]


class Item(Entity):
    mandate_id: str
    amount: int
    currency: Currency
    description: str
    status: ItemStatus = "pending"
    charge_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    def bill(self, charge_id: str, now: datetime) -> None:
        if self.status != "pending":
            raise InvalidState(f"Item {self.id} is {self.status}; it cannot be billed again.")
        self.status, self.charge_id, self.updated_at = "billed", charge_id, now

    def void(self, now: datetime) -> list[str]:
        """Its mandate ended before a charge could bill it: it never will be."""
        if self.status != "pending":
            return []
        self.status, self.updated_at = "void", now
        return [EventType.ITEM_VOIDED]

    def delete(self, now: datetime) -> list[str]:
        if self.status != "pending":
            raise InvalidState(f"Only a pending item can be deleted; this one is {self.status}.")
        self.status, self.updated_at = "deleted", now
        return [EventType.ITEM_DELETED]
