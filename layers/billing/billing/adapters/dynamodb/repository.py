"""`DynamoRepository`: the Repository port on the single table. Reads by primary key are
GetItem; lists run a `queries` plan; writes are one `writes` transaction per use case."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ...domain.account import Account
from ...domain.api_keys import ApiKey
from ...domain.charge import Charge
from ...domain.items import Item
from ...domain.model import Event, Mandate, Plan
from ...domain.notifications import Notification, Suppression
from ...domain.receipts import ReceiptCounter
from ...domain.refunds import Refund
from ...service.ports import Changes, DueRef, Page, PageRequest
from . import items, keys, queries
from .codec import from_attributes, to_attributes
from .queries import Reader
from .writes import Writer

if TYPE_CHECKING:
    from ...domain.webhooks import WebhookDelivery, WebhookEndpoint


class DynamoRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.reader, self.writer = Reader(client, table_name), Writer(client, table_name)

    # ----------------------------------------------------------------- reads
    def get_plan(self, merchant_id: str, plan_id: str) -> Plan | None:
        return self.reader.get(Plan, merchant_id, plan_id, "pln")

    def get_mandate(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        return self.reader.get(Mandate, merchant_id, mandate_id, "mdt")

    def get_event(self, merchant_id: str, event_id: str) -> Event | None:
        return self.reader.get(Event, merchant_id, event_id, "evt")

    def get_charge(self, merchant_id: str, charge_id: str) -> Charge | None:
        return self.reader.get(Charge, merchant_id, charge_id, "chg")

    def list_plans(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]:
        return self.reader.page(Plan, page, queries.plans(merchant_id, status))

    def list_mandates(
        self,
        merchant_id: str,
        page: PageRequest,
        status: str | None = None,
        plan_id: str | None = None,
        customer_reference: str | None = None,
    ) -> Page[Mandate]:
        return self.reader.page(Mandate, page, queries.mandates(merchant_id, status, plan_id, customer_reference))

    def list_events(self, merchant_id: str, page: PageRequest, type: str | None = None) -> Page[Event]:
        return self.reader.page(Event, page, queries.events(merchant_id, type))

    def list_charges(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, status: str | None = None
    ) -> Page[Charge]:
        return self.reader.page(Charge, page, queries.charges(merchant_id, mandate_id, status))

    def get_api_key(self, merchant_id: str, key_id: str) -> ApiKey | None:
        return self.reader.get(ApiKey, merchant_id, key_id, "key")

    def list_api_keys(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[ApiKey]:
        return self.reader.page(ApiKey, page, queries.api_keys(merchant_id, status))

    def get_account(self, merchant_id: str) -> Account | None:
        """Stored once changed; before that, the defaults with the name from the merchant's profile."""
        stored = self.reader.get(Account, merchant_id, merchant_id, "mch")
        if stored is not None:
            return stored
        profile = self.reader.profile(merchant_id)
        if profile is None:
            return None
        created = datetime.fromisoformat(str(profile["created_at"]).replace("Z", "+00:00"))
        return Account.new(merchant_id, str(profile["name"]), created)

    def get_notification(self, merchant_id: str, notification_id: str) -> Notification | None:
        return self.reader.get(Notification, merchant_id, notification_id, "ntf")

    def get_suppression(self, merchant_id: str, suppression_id: str) -> Suppression | None:
        return self.reader.get(Suppression, merchant_id, suppression_id, "sup")

    def list_notifications(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, kind: str | None = None
    ) -> Page[Notification]:
        return self.reader.page(Notification, page, queries.notifications(merchant_id, mandate_id, kind))

    def get_receipt_counter(self, merchant_id: str) -> ReceiptCounter | None:
        return self.reader.get(ReceiptCounter, merchant_id, merchant_id, "mch")

    def get_refund(self, merchant_id: str, refund_id: str) -> Refund | None:
        return self.reader.get(Refund, merchant_id, refund_id, "rfd")

    def list_refunds(
        self,
        merchant_id: str,
        page: PageRequest,
        charge_id: str | None = None,
        mandate_id: str | None = None,
        status: str | None = None,
    ) -> Page[Refund]:
        return self.reader.page(Refund, page, queries.refunds(merchant_id, charge_id, mandate_id, status))

    def get_item(self, merchant_id: str, item_id: str) -> Item | None:
        return self.reader.get(Item, merchant_id, item_id, "itm")

    def list_items(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, status: str | None = None
    ) -> Page[Item]:
        return self.reader.page(Item, page, queries.billing_items(merchant_id, mandate_id, status))

    def load_objects(self, kind: type[items.M], refs: list[tuple[str, str]]) -> dict[str, items.M]:
        """Refunds, items, notifications or suppressions by (merchant, id), in one BatchGetItem
        (ids not ours are skipped)."""
        stored_as = items.kind_of(kind)
        prefix = {Refund: "rfd", Item: "itm", Notification: "ntf", Suppression: "sup"}[kind]
        wanted = {keys.primary(m, i, stored_as)["pk"]: i for m, i in refs if keys.valid_id(i, prefix)}
        found = self.reader.batch_get([{"pk": pk, "sk": stored_as} for pk in wanted])
        return {i: items.load(kind, found[(pk, stored_as)]) for pk, i in wanted.items() if (pk, stored_as) in found}

    # Webhook objects: their module is imported here, by the functions that handle them (cold start).
    def get_webhook_endpoint(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        from ...domain.webhooks import WebhookEndpoint

        return self.reader.get(WebhookEndpoint, merchant_id, endpoint_id, "we")

    def list_webhook_endpoints(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]:
        from ...domain.webhooks import WebhookEndpoint

        return self.reader.page(WebhookEndpoint, page, queries.webhook_endpoints(merchant_id))

    def get_webhook_delivery(self, merchant_id: str, delivery_id: str) -> WebhookDelivery | None:
        from ...domain.webhooks import WebhookDelivery

        return self.reader.get(WebhookDelivery, merchant_id, delivery_id, "wd")

    def list_webhook_deliveries(
        self, merchant_id: str, endpoint_id: str, page: PageRequest, status: str | None = None, event_id: str | None = None
    ) -> Page[WebhookDelivery]:
        from ...domain.webhooks import WebhookDelivery, delivery_id

        if event_id is not None:  # one delivery per (event, endpoint), found by its derived id
            found = (
                self.get_webhook_delivery(merchant_id, delivery_id(event_id, endpoint_id))
                if keys.valid_id(event_id, "evt")
                else None
            )
            matches = [found] if found and found.endpoint_id == endpoint_id and status in (None, found.status) else []
            return Page(items=matches, has_more=False, next_cursor=None)
        return self.reader.page(WebhookDelivery, page, queries.webhook_deliveries(merchant_id, endpoint_id, status))

    # ---------------------------------------------------------- billing engine
    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        return self.reader.due(now, per_shard)

    def load(
        self, mandates: list[tuple[str, str]], charges: list[tuple[str, str]]
    ) -> tuple[dict[str, Mandate], dict[str, Charge]]:
        """Mandates and charges by (merchant, id), in one BatchGetItem (ids not ours are skipped)."""
        wanted = {
            (keys.primary(m, i, kind)["pk"], kind): i
            for refs, kind, prefix in ((mandates, "MANDATE", "mdt"), (charges, "CHARGE", "chg"))
            for m, i in refs
            if keys.valid_id(i, prefix)
        }
        found = self.reader.batch_get([{"pk": pk, "sk": kind} for pk, kind in wanted])
        found_mandates: dict[str, Mandate] = {}
        found_charges: dict[str, Charge] = {}
        for (pk, kind), object_id in wanted.items():
            item = found.get((pk, kind))
            if item is None:
                continue
            if kind == "MANDATE":
                found_mandates[object_id] = items.load(Mandate, item)
            else:
                found_charges[object_id] = items.load(Charge, item)
        return found_mandates, found_charges

    def load_events(self, refs: list[tuple[str, str]]) -> list[Event]:
        wanted = [keys.primary(m, e, "EVENT") for m, e in refs if keys.valid_id(e, "evt")]
        found = self.reader.batch_get(wanted)
        return [items.load(Event, found[(k["pk"], k["sk"])]) for k in wanted if (k["pk"], k["sk"]) in found]

    def ended_mandates(self) -> Iterator[tuple[str, str]]:
        """(merchant id, mandate id) of every ended mandate: an operator's one-off backfill (a Scan,
        with the operator's credentials: no function's role may scan)."""
        pages = self.reader.client.get_paginator("scan").paginate(
            TableName=self.reader.table,
            FilterExpression="entity = :mandate AND #status IN (:cancelled, :revoked, :completed)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_attributes(
                {":mandate": "mandate", ":cancelled": "cancelled", ":revoked": "revoked", ":completed": "completed"}
            ),
            ProjectionExpression="pk",
        )
        for page in pages:
            for raw in page["Items"]:
                _, merchant_id, mandate_id = str(from_attributes(raw)["pk"]).split("#", 2)
                yield merchant_id, mandate_id

    # ---------------------------------------------------------------- writes
    def commit(self, changes: Changes) -> None:
        self.writer.commit(changes)

    def start_attempt(self, mandate: Mandate) -> None:
        self.writer.start_attempt(mandate)

    def load_receipt_series(self, merchant_ids: list[str]) -> dict[str, tuple[ReceiptCounter | None, Account | None]]:
        mine = [m for m in dict.fromkeys(merchant_ids) if keys.valid_id(m, "mch")]
        counter_kind, account_kind = items.kind_of(ReceiptCounter), items.kind_of(Account)
        wanted = [keys.primary(m, m, kind) for m in mine for kind in (counter_kind, account_kind)]
        found = self.reader.batch_get(wanted + [keys.merchant_key(m) for m in mine])
        out: dict[str, tuple[ReceiptCounter | None, Account | None]] = {}
        for m in mine:
            counter_key, account_key, profile_key = (
                keys.primary(m, m, counter_kind),
                keys.primary(m, m, account_kind),
                keys.merchant_key(m),
            )
            counter_item = found.get((counter_key["pk"], counter_key["sk"]))
            account_item = found.get((account_key["pk"], account_key["sk"]))
            profile = found.get((profile_key["pk"], profile_key["sk"]))
            account = items.load(Account, account_item) if account_item is not None else None
            if account is None and profile is not None:  # the defaults, as get_account gives them
                created = datetime.fromisoformat(str(profile["created_at"]).replace("Z", "+00:00"))
                account = Account.new(m, str(profile["name"]), created)
            out[m] = (items.load(ReceiptCounter, counter_item) if counter_item is not None else None, account)
        return out

    def number_charges(self, counter: ReceiptCounter, numbers: list[tuple[str, str, int]]) -> None:
        self.writer.number_charges(counter, numbers)

    def limit_counts(self, merchant_ids: list[str], name: str) -> dict[str, int | None]:
        wanted = {keys.limits(m)["pk"]: m for m in merchant_ids if keys.valid_id(m, "mch")}
        found = self.reader.batch_get([keys.limits(m) for m in wanted.values()])
        out: dict[str, int | None] = dict.fromkeys(merchant_ids)
        for pk, merchant_id in wanted.items():
            value = (found.get((pk, keys.limits(merchant_id)["sk"])) or {}).get(name)
            out[merchant_id] = int(value) if value is not None else None
        return out

    def start_limit(self, merchant_id: str, name: str, value: int) -> None:
        self.writer.start_limit(merchant_id, name, value)
