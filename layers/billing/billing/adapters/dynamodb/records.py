"""How each aggregate is stored: its key, its index attributes, its body (docs/data-model.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ...domain.account import Account
from ...domain.api_keys import ApiKey
from ...domain.charge import Charge
from ...domain.disputes import Dispute
from ...domain.exports import Export
from ...domain.invoices import CreditNoteCounter, Invoice
from ...domain.items import Item
from ...domain.model import Event, Mandate, Plan
from ...domain.notifications import Notification, Suppression
from ...domain.receipts import ReceiptCounter
from ...domain.reconciliation import Reconciliation
from ...domain.refunds import Refund
from ...domain.tax_rates import TaxRate
from ...service.registry import aggregate_of
from . import keys

if TYPE_CHECKING:
    from typing import TypeAlias

    from ...domain.webhooks import WebhookDelivery, WebhookEndpoint

    Stored: TypeAlias = (
        Plan
        | Mandate
        | Charge
        | ApiKey
        | WebhookEndpoint
        | WebhookDelivery
        | Refund
        | Dispute
        | Item
        | Account
        | ReceiptCounter
        | Notification
        | Suppression
        | TaxRate
        | Export
        | Reconciliation
        | Invoice
        | CreditNoteCounter
    )

M = TypeVar("M", bound=BaseModel)

# The kinds whose module only the functions that handle webhooks load (cold start).
_WEBHOOK_KINDS = ("WEBHOOK_ENDPOINT", "WEBHOOK_DELIVERY")


def kind_of(model: type) -> str:
    """The item kind (`sk`) a domain class is stored under: its registry name."""
    return aggregate_of(model).name


def item_of(obj: Stored | Event) -> dict[str, Any]:
    kind = kind_of(type(obj))
    created = keys.sortable(obj.created_at)
    position = f"{created}#{obj.id}"
    if kind in _WEBHOOK_KINDS:
        return _webhook_item(obj, kind, position)  # type: ignore[arg-type]
    if isinstance(obj, Account | ReceiptCounter | CreditNoteCounter | Suppression):  # each in its own partition; never listed
        body = obj.model_dump(mode="json", exclude={"version"}, exclude_none=True)
        return {**keys.primary(obj.merchant_id, obj.id, kind), "entity": kind.lower(), "body": body}
    shard = keys.shard_of(obj.id, keys.LIST_SHARDS[kind])
    item: dict[str, Any] = {
        **keys.primary(obj.merchant_id, obj.id, kind),
        "entity": kind.lower(),
        # Aggregates are stored without null fields (they come back as the model's defaults):
        # smaller items on every billing write. Events keep the API object exactly.
        "body": obj.model_dump(mode="json", exclude=_unset_internals(obj), exclude_none=not isinstance(obj, Event)),
        "lpk": keys.list_pk(obj.merchant_id, kind, shard),
        "lsk": position,
    }
    if isinstance(obj, Event):
        item.update(event_type=obj.type, spk=keys.status_pk(obj.merchant_id, kind, obj.type, shard), ssk=position)
        if obj.mandate_id is not None:  # a mandate's timeline (ParentIndex), newest first
            item.update(mandate_id=obj.mandate_id, ppk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id), psk=position)
    elif isinstance(obj, Notification):  # filtered by kind (StatusIndex) and listed per mandate (ParentIndex)
        item.update(
            kind=obj.kind,
            status=obj.status,
            spk=keys.status_pk(obj.merchant_id, kind, obj.kind, shard),
            ssk=position,
            mandate_id=obj.mandate_id,
            ppk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id),
            psk=position,
        )
    elif isinstance(obj, Invoice):  # filtered by type (StatusIndex), listed per charge and per mandate
        # The type goes in `status`: projected into every index (a projection cannot change on a live table).
        item.update(
            status=obj.type,
            spk=keys.status_pk(obj.merchant_id, kind, obj.type, shard),
            ssk=position,
            charge_id=obj.charge_id,
            mandate_id=obj.mandate_id,
            ppk=keys.parent_pk(obj.merchant_id, kind, obj.charge_id),
            psk=position,
            cpk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id),
            csk=position,
        )
    else:
        item.update(status=obj.status, spk=keys.status_pk(obj.merchant_id, kind, obj.status, shard), ssk=position)
    if isinstance(obj, Mandate):
        item.update(
            plan_id=obj.plan_id,
            customer_reference=obj.customer.reference,
            ppk=keys.parent_pk(obj.merchant_id, kind, obj.plan_id),
            psk=position,
            cpk=keys.customer_pk(obj.merchant_id, obj.customer.reference),
            csk=position,
        )
    if isinstance(obj, Charge | Item):
        item.update(mandate_id=obj.mandate_id, ppk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id), psk=position)
    if isinstance(obj, Refund | Dispute):
        # Listed per charge (ParentIndex) and per mandate (the second parent index, CustomerIndex).
        item.update(
            charge_id=obj.charge_id,
            mandate_id=obj.mandate_id,
            ppk=keys.parent_pk(obj.merchant_id, kind, obj.charge_id),
            psk=position,
            cpk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id),
            csk=position,
        )
    if isinstance(obj, Mandate | Refund) and obj.dispatch_at is not None:  # sparse: only what the engine must look at
        item.update(dpk=keys.due_pk(obj.id), dsk=keys.due_sk(obj.dispatch_at, obj.merchant_id, obj.id))
    return item


def _unset_internals(obj: object) -> set[str]:
    """An event keeps its nulls (the API object exactly), except its internal fields when unset."""
    if isinstance(obj, Event) and obj.customer_has_email is None:
        return {"version", "customer_has_email"}
    return {"version"}


def _webhook_item(obj: WebhookEndpoint | WebhookDelivery, kind: str, position: str) -> dict[str, Any]:
    """Endpoints are listed per merchant (a deleted one leaves the list); deliveries per endpoint
    only, newest first, filtered by status inside the index. Both keep their nulls out."""
    from ...domain.webhooks import WebhookEndpoint

    item: dict[str, Any] = {
        **keys.primary(obj.merchant_id, obj.id, kind),
        "entity": kind.lower(),
        "status": obj.status,
        "body": obj.model_dump(mode="json", exclude={"version"}, exclude_none=True),
    }
    if isinstance(obj, WebhookEndpoint):
        if not obj.deleted:
            item.update(lpk=keys.list_pk(obj.merchant_id, kind, 0), lsk=position)
    else:
        item.update(ppk=keys.parent_pk(obj.merchant_id, kind, obj.endpoint_id), psk=position)
    return item


def load(model: type[M], item: dict[str, Any]) -> M:
    """The domain object a stored item holds, with its version."""
    obj = model.model_validate(item["body"])
    if "version" in item and hasattr(obj, "version"):
        obj.version = int(item["version"])
    return obj
