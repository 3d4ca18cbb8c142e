"""Refunds and items: the merchant's money operations on charges and mandates.

A refund is created with its amount reserved on the charge in one transaction on the charge's
version, so concurrent refunds can never together pass the charge's amount; the billing engine
sends it to the gateway. An item is created (or deleted) with the mandate in one transaction on
the mandate's version, so the dispatcher's claim of the next cycle charge, which bills the
mandate's pending items on the same version, either includes it or runs after it: each item is
billed in exactly one charge.
"""

from __future__ import annotations

from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.errors import InvalidState, NotFound, found
from ..domain.events import EventType
from ..domain.items import Item
from ..domain.model import Mandate
from ..domain.refunds import Refund
from .commands import NewItem, NewRefund
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, IdGenerator, Page, PageRequest, Repository
from .tax_rates import attach


class Refunds:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, recorder: EventRecorder) -> None:
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder

    def create(
        self,
        merchant_id: str,
        charge_id: str,
        request: NewRefund,
        if_refundable: int | None = None,
        mandate_id: str | None = None,
    ) -> Refund:
        """`if_refundable`: refund only if what is left to refund is still what the form showed
        (the dashboard's guard against a form sent twice: checked on the charge's version, so two
        copies racing refund once); `mandate_id`: the charge must be that mandate's (else 404)."""
        refund_id = self.ids.new("rfd")

        def once(_: int) -> Refund:
            now = self.clock.now()
            charge = found(self.repo.get(Charge, merchant_id, charge_id), "charge", charge_id)
            if mandate_id is not None and charge.mandate_id != mandate_id:
                raise NotFound(f"No such charge: '{charge_id}'.", "id")
            if if_refundable is not None and charge.refundable != if_refundable:
                raise InvalidState("This charge changed since the form was shown (a refund was made): nothing was refunded.")
            amount = charge.reserve_refund(request.amount, now)
            refund = Refund.of(charge, refund_id, amount, now, request.reason, dict(request.metadata))
            events = self.recorder.events([(refund, [EventType.REFUND_CREATED])], now)
            self.repo.commit(Changes(put=[refund, charge], events=events))
            return refund

        return retry_on_conflict(once)

    def get(self, merchant_id: str, refund_id: str) -> Refund:
        return found(self.repo.get(Refund, merchant_id, refund_id), "refund", refund_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Refund]:
        return self.repo.page(Refund, merchant_id, page, **filters)


class Disputes:
    """Disputes as the gateway reported them (read-only: only the gateway opens and closes them)."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, merchant_id: str, dispute_id: str) -> Dispute:
        return found(self.repo.get(Dispute, merchant_id, dispute_id), "dispute", dispute_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Dispute]:
        return self.repo.page(Dispute, merchant_id, page, **filters)


class Items:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator, recorder: EventRecorder) -> None:
        self.repo, self.clock, self.ids, self.recorder = repo, clock, ids, recorder

    def create(self, merchant_id: str, mandate_id: str, request: NewItem) -> Item:
        item_id = self.ids.new("itm")
        rate = attach(self.repo, merchant_id, request.tax_rate_id, "tax_rate_id")

        def once(_: int) -> Item:
            now = self.clock.now()
            mandate = found(self.repo.get(Mandate, merchant_id, mandate_id), "mandate", mandate_id)
            mandate.add_item(item_id, request.amount, now, rate)
            item = Item(
                id=item_id,
                merchant_id=merchant_id,
                created_at=now,
                updated_at=now,
                mandate_id=mandate.id,
                amount=request.amount,
                currency=mandate.terms.currency,
                description=request.description,
                metadata=dict(request.metadata),
                tax_rate=rate,
            )
            events = self.recorder.events([(item, [EventType.ITEM_CREATED])], now)
            self.repo.commit(Changes(put=[mandate, item], events=events))
            return item

        return retry_on_conflict(once)

    def delete(self, merchant_id: str, item_id: str) -> Item:
        def once(_: int) -> Item:
            now = self.clock.now()
            item = self.get(merchant_id, item_id)
            types = item.delete(now)
            mandate = found(self.repo.get(Mandate, merchant_id, item.mandate_id), "mandate", item.mandate_id)
            mandate.remove_item(item.id)
            events = self.recorder.events([(item, types)], now)
            self.repo.commit(Changes(put=[mandate, item], events=events))
            return item

        return retry_on_conflict(once)

    def get(self, merchant_id: str, item_id: str) -> Item:
        return found(self.repo.get(Item, merchant_id, item_id), "item", item_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Item]:
        return self.repo.page(Item, merchant_id, page, **filters)
