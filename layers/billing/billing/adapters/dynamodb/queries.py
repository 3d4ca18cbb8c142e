"""Reading the table: which index answers which list (`ListQuery` plans, pure), and the reader
that runs them (newest first across shards, filters evaluated inside the index, then one
BatchGetItem for the page), plus the due-index scan of the billing engine. No Scan anywhere."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...domain.model import Event
from ...service.ports import DueRef, Page, PageRequest
from ...service.registry import aggregate_of
from . import cursor as cursors
from . import keys, records
from .codec import from_attributes, to_attributes

# A filtered list examines at most this many index entries per page, whatever the merchant's
# size: a page may then hold fewer matches than asked for (even none), with `has_more` and a
# cursor after the last entry examined (the contract's bounded filtered lists).
MAX_EXAMINED_PER_PAGE = 200


@dataclass(frozen=True)
class ListQuery:
    """One list request as an index query: the index and its key names, the partitions to
    merge, the filters the index evaluates, and what a cursor is bound to."""

    index: str
    pk: str
    sk: str
    partitions: list[str]
    bound: tuple[str | None, ...]
    filters: dict[str, str | None] = field(default_factory=dict)


def _shards(merchant_id: str, kind: str, status: str | None = None) -> list[str]:
    n = keys.LIST_SHARDS[kind]
    if status is None:
        return [keys.list_pk(merchant_id, kind, s) for s in range(n)]
    return [keys.status_pk(merchant_id, kind, status, s) for s in range(n)]


def by_status(merchant_id: str, kind: str, status: str | None, bound: tuple[str | None, ...]) -> ListQuery:
    """Everything of a kind (ListIndex), or of one status or event type (StatusIndex)."""
    if status:
        return ListQuery("StatusIndex", "spk", "ssk", _shards(merchant_id, kind, status), bound)
    return ListQuery("ListIndex", "lpk", "lsk", _shards(merchant_id, kind), bound)


def plans(merchant_id: str, status: str | None = None) -> ListQuery:
    return by_status(merchant_id, "PLAN", status, ("plans", status) if status else ("plans",))


def tax_rates(merchant_id: str, status: str | None = None) -> ListQuery:
    return by_status(merchant_id, "TAX_RATE", status, ("tax_rates", status) if status else ("tax_rates",))


def events(merchant_id: str, type: str | None = None, mandate_id: str | None = None) -> ListQuery:
    """By type (StatusIndex), or a mandate's (ParentIndex: events recorded since events carry
    their mandate; the type, projected as `event_type`, filtered inside the index)."""
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, "EVENT", mandate_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, ("events", type, mandate_id), {"event_type": type})
    return by_status(merchant_id, "EVENT", type, ("events", type) if type else ("events",))


def mandates(
    merchant_id: str, status: str | None = None, plan_id: str | None = None, customer_reference: str | None = None
) -> ListQuery:
    """The most selective index; the other filters are evaluated inside the index."""
    bound = ("mandates", status, plan_id, customer_reference)
    if customer_reference is not None:
        partitions = [keys.customer_pk(merchant_id, customer_reference)]
        return ListQuery("CustomerIndex", "cpk", "csk", partitions, bound, {"status": status, "plan_id": plan_id})
    if plan_id is not None:
        partitions = [keys.parent_pk(merchant_id, "MANDATE", plan_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": status})
    return by_status(merchant_id, "MANDATE", status, bound)


def api_keys(merchant_id: str, status: str | None = None) -> ListQuery:
    return by_status(merchant_id, "APIKEY", status, ("api_keys", status) if status else ("api_keys",))


def webhook_endpoints(merchant_id: str) -> ListQuery:
    return by_status(merchant_id, "WEBHOOK_ENDPOINT", None, ("webhook_endpoints",))


def webhook_deliveries(merchant_id: str, endpoint_id: str, status: str | None = None) -> ListQuery:
    partitions = [keys.parent_pk(merchant_id, "WEBHOOK_DELIVERY", endpoint_id)]
    bound = ("webhook_deliveries", endpoint_id, status)
    return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": status})


def _of_charges(
    kind: str, name: str, merchant_id: str, charge_id: str | None, mandate_id: str | None, status: str | None
) -> ListQuery:
    """Refunds and disputes: listed per charge (ParentIndex), per mandate (the second parent index,
    CustomerIndex) or by status."""
    bound = (name, charge_id, mandate_id, status)
    if charge_id is not None:
        partitions = [keys.parent_pk(merchant_id, kind, charge_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": status, "mandate_id": mandate_id})
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, kind, mandate_id)]
        return ListQuery("CustomerIndex", "cpk", "csk", partitions, bound, {"status": status})
    return by_status(merchant_id, kind, status, bound)


def refunds(
    merchant_id: str, charge_id: str | None = None, mandate_id: str | None = None, status: str | None = None
) -> ListQuery:
    return _of_charges("REFUND", "refunds", merchant_id, charge_id, mandate_id, status)


def disputes(
    merchant_id: str, charge_id: str | None = None, mandate_id: str | None = None, status: str | None = None
) -> ListQuery:
    return _of_charges("DISPUTE", "disputes", merchant_id, charge_id, mandate_id, status)


def billing_items(merchant_id: str, mandate_id: str | None = None, status: str | None = None) -> ListQuery:
    bound = ("items", mandate_id, status)
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, "ITEM", mandate_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": status})
    return by_status(merchant_id, "ITEM", status, bound)


def notifications(merchant_id: str, mandate_id: str | None = None, kind: str | None = None) -> ListQuery:
    bound = ("notifications", mandate_id, kind)
    if mandate_id is not None and kind is not None:
        # `kind` is not projected into ParentIndex (a projection cannot change on a live table):
        # the kind's partitions, filtered by the mandate (projected everywhere).
        return ListQuery(
            "StatusIndex", "spk", "ssk", _shards(merchant_id, "NOTIFICATION", kind), bound, {"mandate_id": mandate_id}
        )
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, "NOTIFICATION", mandate_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"kind": kind})
    return by_status(merchant_id, "NOTIFICATION", kind, bound)


def charges(merchant_id: str, mandate_id: str | None = None, status: str | None = None) -> ListQuery:
    bound = ("charges", mandate_id, status)
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, "CHARGE", mandate_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": status})
    return by_status(merchant_id, "CHARGE", status, bound)


def exports(merchant_id: str, status: str | None = None) -> ListQuery:
    return by_status(merchant_id, "EXPORT", status, ("exports", status) if status else ("exports",))


def reconciliations(merchant_id: str, status: str | None = None) -> ListQuery:
    return by_status(merchant_id, "RECONCILIATION", status, ("reconciliations", status) if status else ("reconciliations",))


def invoices(merchant_id: str, type: str | None = None, mandate_id: str | None = None, charge_id: str | None = None) -> ListQuery:
    """Per charge (ParentIndex), per mandate (CustomerIndex) or by type (StatusIndex); the type is
    stored as the item's `status`, projected into every index."""
    bound = ("invoices", type, mandate_id, charge_id)
    if charge_id is not None:
        partitions = [keys.parent_pk(merchant_id, "INVOICE", charge_id)]
        return ListQuery("ParentIndex", "ppk", "psk", partitions, bound, {"status": type, "mandate_id": mandate_id})
    if mandate_id is not None:
        partitions = [keys.parent_pk(merchant_id, "INVOICE", mandate_id)]
        return ListQuery("CustomerIndex", "cpk", "csk", partitions, bound, {"status": type})
    return by_status(merchant_id, "INVOICE", type, bound)


# Each listed kind's plan (by registry name), called with the merchant id and the list's filters.
PLANS: dict[str, Callable[..., ListQuery]] = {
    "PLAN": plans,
    "MANDATE": mandates,
    "CHARGE": charges,
    "EVENT": events,
    "APIKEY": api_keys,
    "WEBHOOK_ENDPOINT": webhook_endpoints,
    "WEBHOOK_DELIVERY": webhook_deliveries,
    "REFUND": refunds,
    "DISPUTE": disputes,
    "ITEM": billing_items,
    "TAX_RATE": tax_rates,
    "NOTIFICATION": notifications,
    "EXPORT": exports,
    "RECONCILIATION": reconciliations,
    "INVOICE": invoices,
}


class Reader:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def get(self, model: type[records.M], merchant_id: str, object_id: str) -> records.M | None:
        aggregate = aggregate_of(model)
        if not keys.valid_id(object_id, aggregate.prefix):
            return None
        key = keys.primary(merchant_id, object_id, aggregate.name)
        response = self.client.get_item(TableName=self.table, Key=to_attributes(key), ConsistentRead=True)
        if "Item" not in response:
            return None
        return records.load(model, from_attributes(response["Item"]))

    def profile(self, merchant_id: str) -> dict[str, Any] | None:
        """The merchant's profile item (name, created_at), written when the merchant was created."""
        if not keys.valid_id(merchant_id, "mch"):
            return None
        response = self.client.get_item(
            TableName=self.table, Key=to_attributes(keys.merchant_key(merchant_id)), ConsistentRead=True
        )
        return from_attributes(response["Item"]) if "Item" in response else None

    def page(self, model: type[records.M], page: PageRequest, query: ListQuery) -> Page[records.M]:
        bound_to = cursors.fingerprint(*query.bound)
        after = cursors.decode(page.cursor, bound_to) if page.cursor else None
        need = page.limit + 1
        reads = [self._newest(query, partition, after, need) for partition in query.partitions]
        merged = list(heapq.merge(*(rows for rows, _ in reads), key=lambda row: row[query.sk], reverse=True))
        chosen = merged[: page.limit]
        has_more = len(merged) > page.limit
        next_position = chosen[-1][query.sk] if has_more else None
        stopped = [position for _, position in reads if position is not None]
        if not has_more and stopped:  # the examination budget ran out before the page filled
            # Continue after the newest stop: what lies below it in another partition is read
            # again on the next page, so nothing is shown twice and nothing is skipped.
            has_more, next_position = True, max(stopped)
            chosen = [row for row in chosen if row[query.sk] > next_position]
        found = self.batch_get([{"pk": row["pk"], "sk": row["sk"]} for row in chosen])
        objects = [records.load(model, found[(row["pk"], row["sk"])]) for row in chosen if (row["pk"], row["sk"]) in found]
        next_cursor = cursors.encode(next_position, bound_to) if next_position is not None else None
        return Page(data=objects, has_more=has_more, next_cursor=next_cursor)

    def _newest(self, query: ListQuery, partition: str, after: str | None, need: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `need` index rows of one partition, newest first, strictly older than `after`; and,
        when filters run out of their examination budget first, the position examined down to."""
        names = {"#pk": query.pk}
        values: dict[str, Any] = {":pk": partition}
        condition = "#pk = :pk"
        if after is not None:
            names["#sk"], values[":after"] = query.sk, after
            condition += " AND #sk < :after"
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": query.index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
        }
        active = {k: v for k, v in query.filters.items() if v is not None}
        if active:
            clauses = []
            for i, (attr, value) in enumerate(active.items()):
                names[f"#f{i}"], values[f":f{i}"] = attr, value
                clauses.append(f"#f{i} = :f{i}")
            request["FilterExpression"] = " AND ".join(clauses)
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = to_attributes(values)
        rows: list[dict[str, Any]] = []
        examined = 0
        while len(rows) < need:
            if active:
                budget = MAX_EXAMINED_PER_PAGE - examined
                if budget <= 0:
                    return rows[:need], from_attributes(request["ExclusiveStartKey"])[query.sk]
                request["Limit"] = min(max(need, 25), budget)  # Limit counts entries examined, matched or not
            else:
                request["Limit"] = need - len(rows)
            response = self.client.query(**request)
            examined += int(response.get("ScannedCount", len(response["Items"])))
            rows += [from_attributes(row) for row in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return rows[:need], None

    def created_between(
        self, model: type[records.M], merchant_id: str, start: datetime, end: datetime, page_size: int
    ) -> Iterator[list[records.M]]:
        """The merchant's objects of a kind created in [start, end), oldest first, `page_size` at a
        time: each ListIndex shard read in key order within the range (`lsk` begins with the
        creation time: a key condition, no filter, nothing outside the month examined), merged,
        then one BatchGetItem per page. At most one index page per shard and one page of objects
        are held at a time, whatever the month's size."""
        kind = aggregate_of(model).name
        low, high = keys.sortable(start), keys.sortable(end)  # `#<id>` follows: < high excludes the end
        shards = [self._ascending(partition, low, high, page_size) for partition in _shards(merchant_id, kind)]
        rows = heapq.merge(*shards, key=lambda row: str(row["lsk"]))
        while chunk := list(itertools.islice(rows, page_size)):
            found = self.batch_get([{"pk": row["pk"], "sk": row["sk"]} for row in chunk], consistent=False)
            yield [records.load(model, found[(r["pk"], r["sk"])]) for r in chunk if (r["pk"], r["sk"]) in found]

    def events_between(
        self, merchant_id: str, start: datetime, end: datetime, types: list[str], page_size: int
    ) -> Iterator[list[Event]]:
        """The merchant's events of `types` created in [start, end), oldest first: one Query per
        ListIndex shard over the range (more only past 1 MB), the other types filtered out inside
        the index (`event_type` is projected), then one BatchGetItem per page of the ones wanted."""
        low, high = keys.sortable(start), keys.sortable(end)
        only = {"FilterExpression": "event_type IN (" + ", ".join(f":t{i}" for i in range(len(types))) + ")"}
        values = {f":t{i}": kind for i, kind in enumerate(types)}
        shards = [self._ascending(p, low, high, page_size, only, values) for p in _shards(merchant_id, "EVENT")]
        rows = heapq.merge(*shards, key=lambda row: str(row["lsk"]))
        while chunk := list(itertools.islice(rows, page_size)):
            found = self.batch_get([{"pk": row["pk"], "sk": row["sk"]} for row in chunk], consistent=False)
            yield [records.load(Event, found[(r["pk"], r["sk"])]) for r in chunk if (r["pk"], r["sk"]) in found]

    def _ascending(
        self,
        partition: str,
        low: str,
        high: str,
        page_size: int,
        extra: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "ListIndex",
            "KeyConditionExpression": "lpk = :pk AND lsk BETWEEN :low AND :high",
            "ExpressionAttributeValues": to_attributes({":pk": partition, ":low": low, ":high": high, **(values or {})}),
            "ProjectionExpression": "pk, sk, lsk",
            "ScanIndexForward": True,
            **(extra or {}),
        }
        if not extra:  # a filter's Limit counts entries examined: the range is read in 1 MB pages instead
            request["Limit"] = page_size
        while True:
            response = self.client.query(**request)
            for raw in response["Items"]:
                row = from_attributes(raw)
                if str(row["lsk"]) < high:  # BETWEEN includes `high` itself (never a real position)
                    yield row
            if "LastEvaluatedKey" not in response:
                return
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def batch_get(self, key_list: list[dict[str, str]], consistent: bool = True) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending = [to_attributes(k) for k in key_list]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request = {self.table: {"Keys": chunk, "ConsistentRead": consistent}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response["Responses"].get(self.table, []):
                    item = from_attributes(raw)
                    found[(item["pk"], item["sk"])] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        """Query every due-index shard in parallel for entries at or before `now`, oldest first.

        Items read are the due entries themselves (a key condition, no filter), so the cost is
        proportional to what is due, whatever the number of idle mandates."""
        upto = keys.sortable(now) + "#~"  # '~' sorts after every id character

        def shard(number: int) -> list[DueRef]:
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "DueIndex",
                "KeyConditionExpression": "dpk = :p AND dsk <= :upto",
                "ExpressionAttributeValues": to_attributes({":p": f"DUE#{number}", ":upto": upto}),
                "ScanIndexForward": True,
            }
            found: list[DueRef] = []
            while len(found) < per_shard:
                request["Limit"] = per_shard - len(found)
                response = self.client.query(**request)
                for row in response["Items"]:
                    when, merchant_id, object_id = from_attributes(row)["dsk"].split("#")
                    found.append(DueRef(merchant_id, object_id, datetime.fromisoformat(when.replace("Z", "+00:00"))))
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            return found

        with ThreadPoolExecutor(max_workers=16) as pool:
            shards = list(pool.map(shard, range(keys.DUE_SHARDS)))
        return sorted((ref for refs in shards for ref in refs), key=lambda r: r.due_at)
