"""The aggregate registry: every kind of object the Repository keeps, in one table of entries.

Each entry says what the port needs to know about an aggregate: its class, the name it is
stored under, how it is keyed (by its own id, or one per merchant), its id prefix (an id
without it is never looked up), and the lists it supports (the filters each list accepts and
the attribute each one compares). The port's generic `get` / `page` / `load_many` / `commit`
(`service/ports.py`), the DynamoDB adapter and the in-memory fake all read it; how an
aggregate is laid out in a table (keys, indexes, shards) stays with the adapter.

A new aggregate is one entry here, its item layout and list plan in the adapter, and a case
in the repository contract test (which runs every entry's get and every declared filter).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal


@dataclass(frozen=True, eq=False)
class Aggregate:
    """One kind of stored object."""

    name: str  # the name it is stored under ("MANDATE")
    model_path: str  # "module:Class", imported when first needed (cold start: webhooks load only where used)
    prefix: str  # its ids' prefix ("mdt"); one kept per merchant has the merchant's id ("mch")
    key: Literal["id", "merchant"] = "id"
    versioned: bool = True  # False: written once, never updated (events)
    # List filter -> the attribute it compares (dotted for a nested one); None: never listed.
    filters: Mapping[str, str] | None = field(default_factory=dict)
    required: tuple[str, ...] = ()  # filters every list must name (deliveries are listed per endpoint)
    hidden_when: str | None = None  # a boolean attribute: while true the object is left out of lists

    @property
    def class_name(self) -> str:
        return self.model_path.partition(":")[2]

    @cached_property
    def model(self) -> type[Any]:
        module, _, name = self.model_path.partition(":")
        model: type[Any] = getattr(importlib.import_module(module), name)
        return model

    @property
    def listed(self) -> bool:
        return self.filters is not None

    def check(self, filters: Mapping[str, object]) -> None:
        """A list request's filters are those declared (a programming error otherwise)."""
        if self.filters is None:
            raise TypeError(f"{self.class_name} is never listed")
        unknown = sorted(set(filters) - set(self.filters))
        missing = [name for name in self.required if filters.get(name) is None]
        if unknown or missing:
            raise TypeError(f"{self.class_name} lists by {sorted(self.filters)}: unknown {unknown}, missing {missing}")

    def value(self, obj: object, filter_name: str) -> object:
        """The attribute a filter compares, read from an object (what the in-memory fake filters by)."""
        assert self.filters is not None
        value = obj
        for part in self.filters[filter_name].split("."):
            value = getattr(value, part)
        return value


REGISTRY: tuple[Aggregate, ...] = (
    Aggregate("PLAN", "billing.domain.model:Plan", "pln", filters={"status": "status"}),
    Aggregate(
        "MANDATE",
        "billing.domain.model:Mandate",
        "mdt",
        filters={"status": "status", "plan_id": "plan_id", "customer_reference": "customer.reference"},
    ),
    Aggregate("CHARGE", "billing.domain.charge:Charge", "chg", filters={"mandate_id": "mandate_id", "status": "status"}),
    Aggregate(
        "EVENT", "billing.domain.model:Event", "evt", versioned=False, filters={"type": "type", "mandate_id": "mandate_id"}
    ),
    Aggregate("APIKEY", "billing.domain.api_keys:ApiKey", "key", filters={"status": "status"}),
    Aggregate("WEBHOOK_ENDPOINT", "billing.domain.webhooks:WebhookEndpoint", "we", hidden_when="deleted"),
    Aggregate(
        "WEBHOOK_DELIVERY",
        "billing.domain.webhooks:WebhookDelivery",
        "wd",
        filters={"endpoint_id": "endpoint_id", "status": "status", "event_id": "event_id"},
        required=("endpoint_id",),
    ),
    Aggregate(
        "REFUND",
        "billing.domain.refunds:Refund",
        "rfd",
        filters={"charge_id": "charge_id", "mandate_id": "mandate_id", "status": "status"},
    ),
    Aggregate(
        "DISPUTE",
        "billing.domain.disputes:Dispute",
        "dsp",
        filters={"charge_id": "charge_id", "mandate_id": "mandate_id", "status": "status"},
    ),
    Aggregate(
        "RECONCILIATION", "billing.domain.reconciliation:Reconciliation", "rcn", versioned=True, filters={"status": "status"}
    ),
    Aggregate("ITEM", "billing.domain.items:Item", "itm", filters={"mandate_id": "mandate_id", "status": "status"}),
    Aggregate("TAX_RATE", "billing.domain.tax_rates:TaxRate", "txr", filters={"status": "status"}),
    # Read before its first change: the defaults, named after the merchant (get answers them).
    Aggregate("ACCOUNT", "billing.domain.account:Account", "mch", key="merchant", filters=None),
    Aggregate("RECEIPT_COUNTER", "billing.domain.receipts:ReceiptCounter", "mch", key="merchant", filters=None),
    Aggregate(
        "NOTIFICATION",
        "billing.domain.notifications:Notification",
        "ntf",
        filters={"mandate_id": "mandate_id", "kind": "kind"},
    ),
    Aggregate("SUPPRESSION", "billing.domain.notifications:Suppression", "sup", filters=None),
    Aggregate("EXPORT", "billing.domain.exports:Export", "exp", filters={"status": "status"}),
    Aggregate(
        "INVOICE",
        "billing.domain.invoices:Invoice",
        "inv",
        filters={"type": "type", "mandate_id": "mandate_id", "charge_id": "charge_id"},
    ),
    Aggregate("CREDIT_NOTE_COUNTER", "billing.domain.invoices:CreditNoteCounter", "mch", key="merchant", filters=None),
)

_BY_CLASS = {entry.class_name: entry for entry in REGISTRY}


def aggregate_of(model: type) -> Aggregate:
    """The registry entry of a class (by name: looking it up imports nothing)."""
    try:
        return _BY_CLASS[model.__name__]
    except KeyError:
        raise TypeError(f"{model.__name__} is not a registered aggregate") from None
