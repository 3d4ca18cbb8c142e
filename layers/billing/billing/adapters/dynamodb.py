"""DynamoDB repository: the single table behind the Repository port.

No Scan anywhere. Reads by primary key are GetItem; lists Query the sharded indexes newest
first, merge the shards, then BatchGetItem the page's items. Writes are one
TransactWriteItems per use case, with an optimistic version check on every aggregate.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from ..domain.charge import Charge
from ..domain.errors import ConcurrentModification
from ..domain.model import Event, Mandate, Plan
from ..service.ports import Changes, DueRef, Page, PageRequest
from . import cursor as cursors
from . import keys

M = TypeVar("M", bound=BaseModel)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# Attributes a list/filter index carries besides its keys, so that combined filters are
# evaluated in the index; full items are then fetched with BatchGetItem.
INDEX_PROJECTED = ["entity", "status", "plan_id", "customer_reference", "mandate_id", "event_type"]
_KIND = {Plan: "PLAN", Mandate: "MANDATE", Charge: "CHARGE", Event: "EVENT"}
# A concurrent writer got there first: read again and decide on fresh state (never a 500).
# TransactionConflict: another transaction holds one of the items; IdempotentParameterMismatch
# cannot happen with request-derived tokens, so it is not listed.
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})
Stored = Plan | Mandate | Charge


def to_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; we only ever store integers."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [plain(v) for v in value]
    return value


def from_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(_deserializer.deserialize(v)) for k, v in attributes.items()}


class DynamoRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table = table_name

    # ------------------------------------------------------------ item shape
    @staticmethod
    def item_of(obj: Plan | Mandate | Charge | Event) -> dict[str, Any]:
        kind = _KIND[type(obj)]
        created = keys.sortable(obj.created_at)
        position = f"{created}#{obj.id}"
        shards = keys.LIST_SHARDS[kind]
        shard = keys.shard_of(obj.id, shards)
        item: dict[str, Any] = {
            **keys.primary(obj.merchant_id, obj.id, kind),
            "entity": kind.lower(),
            # Aggregates are stored without null fields (they come back as the model's defaults):
            # smaller items on every billing write. Events keep the API object exactly.
            "body": obj.model_dump(mode="json", exclude={"version"}, exclude_none=not isinstance(obj, Event)),
            "lpk": keys.list_pk(obj.merchant_id, kind, shard),
            "lsk": position,
        }
        if isinstance(obj, Event):
            item.update(event_type=obj.type, spk=keys.status_pk(obj.merchant_id, kind, obj.type, shard), ssk=position)
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
            if obj.dispatch_at is not None:  # sparse: only mandates the engine must look at
                item.update(dpk=keys.due_pk(obj.id), dsk=keys.due_sk(obj.dispatch_at, obj.merchant_id, obj.id))
        if isinstance(obj, Charge):
            item.update(mandate_id=obj.mandate_id, ppk=keys.parent_pk(obj.merchant_id, kind, obj.mandate_id), psk=position)
        return item

    # ----------------------------------------------------------------- reads
    def _get(self, model: type[M], merchant_id: str, object_id: str, prefix: str) -> M | None:
        if not keys.valid_id(object_id, prefix):
            return None
        response = self.client.get_item(
            TableName=self.table, Key=to_attributes(keys.primary(merchant_id, object_id, _KIND[model])), ConsistentRead=True
        )
        if "Item" not in response:
            return None
        return self._load(model, from_attributes(response["Item"]))

    @staticmethod
    def _load(model: type[M], item: dict[str, Any]) -> M:
        obj = model.model_validate(item["body"])
        if "version" in item and hasattr(obj, "version"):
            obj.version = int(item["version"])
        return obj

    def get_plan(self, merchant_id: str, plan_id: str) -> Plan | None:
        return self._get(Plan, merchant_id, plan_id, "pln")

    def get_mandate(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        return self._get(Mandate, merchant_id, mandate_id, "mdt")

    def get_event(self, merchant_id: str, event_id: str) -> Event | None:
        return self._get(Event, merchant_id, event_id, "evt")

    def get_charge(self, merchant_id: str, charge_id: str) -> Charge | None:
        return self._get(Charge, merchant_id, charge_id, "chg")

    def list_plans(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]:
        if status:
            return self._list(
                Plan, page, "StatusIndex", "spk", "ssk", self._shards(merchant_id, "PLAN", status), {}, ("plans", status)
            )
        return self._list(Plan, page, "ListIndex", "lpk", "lsk", self._shards(merchant_id, "PLAN"), {}, ("plans",))

    def list_mandates(
        self,
        merchant_id: str,
        page: PageRequest,
        status: str | None = None,
        plan_id: str | None = None,
        customer_reference: str | None = None,
    ) -> Page[Mandate]:
        bound = ("mandates", status, plan_id, customer_reference)
        # Use the most selective index; the other filters are evaluated inside the index.
        if customer_reference is not None:
            index, pk, sk, partitions = "CustomerIndex", "cpk", "csk", [keys.customer_pk(merchant_id, customer_reference)]
            filters = {"status": status, "plan_id": plan_id}
        elif plan_id is not None:
            index, pk, sk, partitions = "ParentIndex", "ppk", "psk", [keys.parent_pk(merchant_id, "MANDATE", plan_id)]
            filters = {"status": status}
        elif status is not None:
            index, pk, sk, partitions = "StatusIndex", "spk", "ssk", self._shards(merchant_id, "MANDATE", status)
            filters = {}
        else:
            index, pk, sk, partitions = "ListIndex", "lpk", "lsk", self._shards(merchant_id, "MANDATE")
            filters = {}
        return self._list(Mandate, page, index, pk, sk, partitions, filters, bound)

    def list_events(self, merchant_id: str, page: PageRequest, type: str | None = None) -> Page[Event]:
        if type:
            return self._list(
                Event, page, "StatusIndex", "spk", "ssk", self._shards(merchant_id, "EVENT", type), {}, ("events", type)
            )
        return self._list(Event, page, "ListIndex", "lpk", "lsk", self._shards(merchant_id, "EVENT"), {}, ("events",))

    def list_charges(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, status: str | None = None
    ) -> Page[Charge]:
        bound = ("charges", mandate_id, status)
        if mandate_id is not None:
            partitions = [keys.parent_pk(merchant_id, "CHARGE", mandate_id)]
            return self._list(Charge, page, "ParentIndex", "ppk", "psk", partitions, {"status": status}, bound)
        if status is not None:
            return self._list(Charge, page, "StatusIndex", "spk", "ssk", self._shards(merchant_id, "CHARGE", status), {}, bound)
        return self._list(Charge, page, "ListIndex", "lpk", "lsk", self._shards(merchant_id, "CHARGE"), {}, bound)

    # ---------------------------------------------------------- billing engine
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
                    when, merchant_id, mandate_id = from_attributes(row)["dsk"].split("#")
                    found.append(DueRef(merchant_id, mandate_id, datetime.fromisoformat(when.replace("Z", "+00:00"))))
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            return found

        with ThreadPoolExecutor(max_workers=16) as pool:
            shards = list(pool.map(shard, range(keys.DUE_SHARDS)))
        return sorted((ref for refs in shards for ref in refs), key=lambda r: r.due_at)

    def load(
        self, mandates: list[tuple[str, str]], charges: list[tuple[str, str]]
    ) -> tuple[dict[str, Mandate], dict[str, Charge]]:
        wanted = {
            (keys.primary(m, i, kind)["pk"], kind): i
            for refs, kind, prefix in ((mandates, "MANDATE", "mdt"), (charges, "CHARGE", "chg"))
            for m, i in refs
            if keys.valid_id(i, prefix)
        }
        items = self._batch_get([{"pk": pk, "sk": kind} for pk, kind in wanted])
        found_mandates: dict[str, Mandate] = {}
        found_charges: dict[str, Charge] = {}
        for (pk, kind), object_id in wanted.items():
            item = items.get((pk, kind))
            if item is None:
                continue
            if kind == "MANDATE":
                found_mandates[object_id] = self._load(Mandate, item)
            else:
                found_charges[object_id] = self._load(Charge, item)
        return found_mandates, found_charges

    @staticmethod
    def _shards(merchant_id: str, kind: str, status: str | None = None) -> list[str]:
        n = keys.LIST_SHARDS[kind]
        if status is None:
            return [keys.list_pk(merchant_id, kind, s) for s in range(n)]
        return [keys.status_pk(merchant_id, kind, status, s) for s in range(n)]

    def _list(
        self,
        model: type[M],
        page: PageRequest,
        index: str,
        pk_name: str,
        sk_name: str,
        partitions: list[str],
        filters: dict[str, str | None],
        bound: tuple[str | None, ...],
    ) -> Page[M]:
        bound_to = cursors.fingerprint(*bound)
        after = cursors.decode(page.cursor, bound_to) if page.cursor else None
        need = page.limit + 1
        per_shard = [self._newest(index, pk_name, sk_name, p, after, need, filters) for p in partitions]
        merged = list(heapq.merge(*per_shard, key=lambda row: row[sk_name], reverse=True))
        chosen = merged[: page.limit]
        has_more = len(merged) > page.limit
        items = self._batch_get([{"pk": row["pk"], "sk": row["sk"]} for row in chosen])
        objects = [self._load(model, items[(row["pk"], row["sk"])]) for row in chosen if (row["pk"], row["sk"]) in items]
        next_cursor = cursors.encode(chosen[-1][sk_name], bound_to) if has_more else None
        return Page(items=objects, has_more=has_more, next_cursor=next_cursor)

    def _newest(
        self, index: str, pk_name: str, sk_name: str, partition: str, after: str | None, need: int, filters: dict[str, str | None]
    ) -> list[dict[str, Any]]:
        """Up to `need` index rows of one partition, newest first, strictly older than `after`."""
        names = {"#pk": pk_name}
        values: dict[str, Any] = {":pk": partition}
        condition = "#pk = :pk"
        if after is not None:
            names["#sk"], values[":after"] = sk_name, after
            condition += " AND #sk < :after"
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
        }
        active = {k: v for k, v in filters.items() if v is not None}
        if active:
            clauses = []
            for i, (attr, value) in enumerate(active.items()):
                names[f"#f{i}"], values[f":f{i}"] = attr, value
                clauses.append(f"#f{i} = :f{i}")
            request["FilterExpression"] = " AND ".join(clauses)
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = to_attributes(values)
        rows: list[dict[str, Any]] = []
        while len(rows) < need:
            request["Limit"] = need - len(rows) if not active else max(need, 25)
            response = self.client.query(**request)
            rows += [from_attributes(row) for row in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return rows[:need]

    def _batch_get(self, key_list: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        pending = [to_attributes(k) for k in key_list]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request = {self.table: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response["Responses"].get(self.table, []):
                    item = from_attributes(raw)
                    found[(item["pk"], item["sk"])] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    # ---------------------------------------------------------------- writes
    def commit(self, changes: Changes) -> None:
        aggregates: list[Stored] = [*changes.plans, *changes.mandates, *changes.charges]
        operations = [self._versioned_put(obj) for obj in aggregates]
        operations += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_attributes(self.item_of(e)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for e in changes.events
        ]
        self.transact(operations)
        for obj in aggregates:
            obj.version += 1

    def _versioned_put(self, obj: Stored) -> dict[str, Any]:
        item = {**self.item_of(obj), "version": obj.version + 1}
        put: dict[str, Any] = {"TableName": self.table, "Item": to_attributes(item)}
        if obj.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = to_attributes({":expected": obj.version})
        return {"Put": put}

    def start_attempt(self, mandate: Mandate) -> None:
        """The start marker: one conditional UpdateItem, no read. It only touches the body's
        `attempt_started_at` and the version (no index attribute changes)."""
        assert mandate.attempt_started_at is not None
        started = mandate.model_dump(mode="json", include={"attempt_started_at"})["attempt_started_at"]
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_attributes(keys.primary(mandate.merchant_id, mandate.id, "MANDATE")),
                UpdateExpression="SET #v = :next, body.attempt_started_at = :at",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "version"},
                ExpressionAttributeValues=to_attributes(
                    {":next": mandate.version + 1, ":expected": mandate.version, ":at": started}
                ),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] in CONFLICT_CODES:
                raise ConcurrentModification(error.response["Error"]["Code"]) from error
            raise
        mandate.version += 1

    def transact(self, operations: Iterable[dict[str, Any]]) -> None:
        """One TransactWriteItems. Its ClientRequestToken is derived from the request itself, so a
        retry of the same write (by botocore, after a lost answer) is idempotent in DynamoDB."""
        operations = list(operations)
        if not operations:
            return
        token = hashlib.sha256(json.dumps(operations, sort_keys=True, default=str).encode()).hexdigest()[:36]
        try:
            self.client.transact_write_items(TransactItems=operations, ClientRequestToken=token)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code in CONFLICT_CODES:
                raise ConcurrentModification(code) from error
            if code != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if any(reason in ("ConditionalCheckFailed", "TransactionConflict") for reason in reasons):
                raise ConcurrentModification(str(reasons)) from error
            raise
