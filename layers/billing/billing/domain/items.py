"""Items: one-off amounts (set-up fees, add-ons, usage) billed as lines of the mandate's next
cycle charge. The mandate lists its pending items, and the dispatcher's claim of that charge
bills them in the same transaction, so each item lands in exactly one charge. Pure."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from .events import EventType
from .lifecycles import ITEM
from .lifecycles import ItemStatus as ItemStatus
from .model import Entity
from .money import Currency
from .tax import RateRef


class Item(Entity):
    mandate_id: str
    amount: int
    currency: Currency
    description: str
    status: ItemStatus = "pending"
    charge_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    tax_rate: RateRef | None = None  # its own rate (None: the plan's when billed)

    def bill(self, charge_id: str, now: datetime) -> None:
        self.status, self.charge_id, self.updated_at = ITEM.move(self.status, "bill", id=self.id), charge_id, now

    def void(self, now: datetime) -> list[EventType]:
        """Its mandate ended before a charge could bill it: it never will be."""
        if not ITEM.allows(self.status, "void"):
            return []
        self.status, self.updated_at = ITEM.move(self.status, "void"), now
        return [EventType.ITEM_VOIDED]

    def delete(self, now: datetime) -> list[EventType]:
        self.status, self.updated_at = ITEM.move(self.status, "delete"), now
        return [EventType.ITEM_DELETED]
