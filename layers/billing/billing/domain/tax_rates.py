"""The merchant's tax rates: a rate's terms (percentage, country, inclusive) never change once
created; its name and description do; archived, it is attached to nothing new (domain/tax for
what a charge does with it). Pure."""

from __future__ import annotations

from datetime import datetime

from .errors import ValidationFailed
from .events import EventType
from .lifecycles import TAX_RATE
from .lifecycles import TaxRateStatus as TaxRateStatus
from .model import Entity
from .tax import RateRef


def ensure_seller_vat_id(vat_id: str | None, param: str = "vat_id") -> None:
    """A merchant charging VAT names its VAT id on every invoice (EN 16931 BR-S-02, BR-Z-02): no rate
    is created or attached, nor a VAT id removed, that would make a rated charge without it."""
    if not vat_id:
        raise ValidationFailed(
            "A merchant charging VAT needs a VAT id: set the account's vat_id (PATCH /v1/account) before using tax rates.",
            param,
        )


class TaxRate(Entity):
    display_name: str
    percentage: str
    country: str
    inclusive: bool = True
    description: str | None = None
    status: TaxRateStatus = "active"

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def ref(self) -> RateRef:
        return RateRef(id=self.id, percentage=self.percentage, inclusive=self.inclusive, country=self.country)

    def attachable(self, param: str) -> RateRef:
        """What a plan, an item or the account keeps of this rate; an archived rate has no new use."""
        if not self.active:
            raise ValidationFailed(f"Tax rate {self.id} is archived: it cannot be attached to anything new.", param)
        return self.ref

    def update(self, now: datetime, changes: dict[str, str | None]) -> list[EventType]:
        """Only the name and the description change (a rate's terms never do)."""
        changed = False
        for field, value in changes.items():
            if field == "display_name" and value is None:
                raise ValidationFailed("display_name cannot be null.", "display_name")
            if getattr(self, field) != value:
                setattr(self, field, value)
                changed = True
        if changed:
            self.updated_at = now
        return []

    def archive(self, now: datetime) -> list[EventType]:
        self.status, self.updated_at = TAX_RATE.move(self.status, "archive"), now
        return []
