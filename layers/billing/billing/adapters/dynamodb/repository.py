"""`DynamoRepository`: the Repository port on the single table, generic over the aggregate
registry. Reads by primary key are GetItem; lists run the kind's `queries` plan; many keys
are one BatchGetItem; writes are one `writes` transaction per use case."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from ...domain.account import Account
from ...domain.model import Event, Mandate
from ...domain.receipts import ReceiptCounter
from ...service.ports import Changes, DueRef, Loaded, Page, PageRequest
from ...service.registry import aggregate_of
from . import keys, queries, records
from .codec import from_attributes, to_attributes
from .queries import Reader
from .writes import Writer

if TYPE_CHECKING:  # the webhook module loads only in the functions that handle webhooks (cold start)
    from ...domain.webhooks import WebhookDelivery


class DynamoRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.reader, self.writer = Reader(client, table_name), Writer(client, table_name)

    # ----------------------------------------------------------------- reads
    def get(self, model: type[records.M], merchant_id: str, object_id: str) -> records.M | None:
        found = self.reader.get(model, merchant_id, object_id)
        if found is None and model is Account:
            return cast("records.M | None", self._default_account(merchant_id))
        return found

    def _default_account(self, merchant_id: str) -> Account | None:
        return _account_of_profile(merchant_id, self.reader.profile(merchant_id))

    def page(self, model: type[records.M], merchant_id: str, page: PageRequest, **filters: str | None) -> Page[records.M]:
        aggregate = aggregate_of(model)
        aggregate.check(filters)
        if aggregate.name == "WEBHOOK_DELIVERY" and filters.get("event_id") is not None:
            return cast("Page[records.M]", self._delivery_of_event(merchant_id, **filters))
        filters.pop("event_id", None)
        return self.reader.page(model, page, queries.PLANS[aggregate.name](merchant_id, **filters))

    def _delivery_of_event(
        self, merchant_id: str, endpoint_id: str | None, event_id: str | None, status: str | None = None
    ) -> Page[WebhookDelivery]:
        """One delivery per (event, endpoint): found by its derived id (one GetItem, no query)."""
        from ...domain.webhooks import WebhookDelivery, delivery_id

        assert endpoint_id is not None and event_id is not None
        found = (
            self.reader.get(WebhookDelivery, merchant_id, delivery_id(event_id, endpoint_id))
            if keys.valid_id(event_id, "evt")
            else None
        )
        keep = found is not None and found.endpoint_id == endpoint_id and status in (None, found.status)
        return Page(data=[found] if found is not None and keep else [], has_more=False, next_cursor=None)

    def load_many(self, wanted: Mapping[type, Sequence[tuple[str, str]]]) -> Loaded:
        """Every (merchant, id) of every kind asked, in one BatchGetItem per 100 (ids not ours are
        skipped; a key asked twice is read once)."""
        keyed: dict[tuple[str, str], tuple[type, str]] = {}
        for model, refs in wanted.items():
            aggregate = aggregate_of(model)
            for merchant_id, object_id in refs:
                if keys.valid_id(object_id, aggregate.prefix):
                    primary = keys.primary(merchant_id, object_id, aggregate.name)
                    keyed[(primary["pk"], primary["sk"])] = (model, object_id)
        found = self.reader.batch_get([{"pk": pk, "sk": sk} for pk, sk in keyed]) if keyed else {}
        loaded: dict[type, dict[str, Any]] = {model: {} for model in wanted}
        for key, (model, object_id) in keyed.items():
            if key in found:
                loaded[model][object_id] = records.load(model, found[key])
        return Loaded(loaded)

    def created_between(
        self, model: type[records.M], merchant_id: str, start: datetime, end: datetime, page_size: int = 100
    ) -> Iterator[list[records.M]]:
        return self.reader.created_between(model, merchant_id, start, end, page_size)

    def events_between(
        self, merchant_id: str, start: datetime, end: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[list[Event]]:
        return self.reader.events_between(merchant_id, start, end, list(types), page_size)

    # ---------------------------------------------------------- billing engine
    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        return self.reader.due(now, per_shard)

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
        counter_kind, account_kind = records.kind_of(ReceiptCounter), records.kind_of(Account)
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
            account = records.load(Account, account_item) if account_item is not None else _account_of_profile(m, profile)
            out[m] = (records.load(ReceiptCounter, counter_item) if counter_item is not None else None, account)
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


def _account_of_profile(merchant_id: str, profile: Mapping[str, Any] | None) -> Account | None:
    """An account never changed: the defaults, with the name from the merchant's profile (None: no
    such merchant)."""
    if profile is None:
        return None
    created = datetime.fromisoformat(str(profile["created_at"]).replace("Z", "+00:00"))
    return Account.new(merchant_id, str(profile["name"]), created)
