"""Events as recorded: each carries its object as the API returns it (a snapshot at commit time).

The services record events; how an object looks in the API (its public shape) is
`billing.shapes`, which the HTTP layer shows too: one module both import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..domain.api_keys import ApiKey
from ..domain.charge import Charge
from ..domain.events import EventType
from ..domain.model import Event, Mandate, Plan
from ..shapes import render
from .ports import IdGenerator, Links

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..domain.disputes import Dispute
    from ..domain.exports import Export
    from ..domain.invoices import Invoice
    from ..domain.items import Item
    from ..domain.refunds import Refund
    from ..domain.webhooks import WebhookEndpoint

    Recorded: TypeAlias = Plan | Mandate | Charge | ApiKey | WebhookEndpoint | Refund | Dispute | Item | Export | Invoice


def link_of(links: Links, obj: object) -> str | None:
    """The customer link an object shows: a mandate's approval link, a charge's receipt."""
    if isinstance(obj, Mandate):
        return links.approval_url(obj)
    if isinstance(obj, Charge):
        return links.receipt_url(obj)
    if type(obj).__name__ == "Invoice":  # by name: the module is not loaded where no invoice is
        return links.invoice_url(obj)  # type: ignore[arg-type]
    return None


class NoLinks:
    """For components that never show a mandate awaiting approval (the billing engine)."""

    def approval_url(self, mandate: Mandate) -> str | None:
        return None

    def receipt_url(self, charge: Charge) -> str | None:
        return None

    def invoice_url(self, invoice: Invoice) -> str | None:
        return None


class EventRecorder:
    def __init__(self, ids: IdGenerator, links: Links | None = None) -> None:
        self.ids, self.links = ids, links or NoLinks()

    def snapshot(self, obj: Recorded) -> dict[str, object]:
        return render(obj, link_of(self.links, obj))

    def events(
        self,
        changes: Sequence[tuple[Recorded, Sequence[EventType]]],
        now: datetime,
        extra: Mapping[str, Mapping[str, object]] | None = None,
    ) -> list[Event]:
        """Events of one change, one microsecond apart so they list in the order they happened.

        Each carries the final state of its object in this change; `extra` adds data by event
        type (`previous_attributes`: the changed fields' old values, as the API showed them).
        A `charge.succeeded` also says, internally, whether the customer of the change's mandate
        has an e-mail address (what its receipt needs and the API object does not show), however
        the charge settled: at the gateway (charger) or with nothing to collect (dispatcher)."""
        out: list[Event] = []
        mandate = next((o for o, _ in changes if isinstance(o, Mandate)), None)
        has_email = bool(mandate.customer.email) if mandate is not None else None
        for obj, types in changes:
            if not types:
                continue
            snapshot = self.snapshot(obj)
            for t in types:
                out.append(
                    Event(
                        id=self.ids.new("evt"),
                        merchant_id=obj.merchant_id,
                        type=t,
                        created_at=now + timedelta(microseconds=len(out)),
                        data={"object": snapshot, **(extra or {}).get(t, {})},
                        customer_has_email=has_email if t == EventType.CHARGE_SUCCEEDED else None,
                    )
                )
        return out
