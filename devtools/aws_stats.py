"""Count what the system's own components cost in AWS terms, from botocore events:
calls per operation, DynamoDB items read and written (and request units, estimated).

Register on a boto3 session *before* the functions create their clients. Calls that touch
`excluded_tables` (the simulated gateway's ledger: it stands for an external provider) are
left out.

Write units follow DynamoDB's rules when `images` can show the item before the write (the local
emulation can): an item write costs the larger of its old and new size (1 KB units, twice in a
transaction), and each global secondary index costs one write when the item enters, leaves or
changes a projected attribute in it, two when its index key changes, nothing otherwise.
Without a before-image every index the new item has a key for is counted once (an upper bound)."""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

# GSI key attributes of BillingTable: an item carrying one is written to that index too.
_INDEX_KEYS = ("lpk", "spk", "ppk", "cpk", "dpk")


class Index:
    """One global secondary index: its key attributes and projected non-key attributes (None: ALL)."""

    def __init__(self, name: str, keys: tuple[str, ...], projected: tuple[str, ...] | None) -> None:
        self.name, self.keys, self.projected = name, keys, projected

    def writes(self, old: dict[str, Any] | None, new: dict[str, Any] | None, touched: set[str] | None = None) -> int:
        """Index writes for one item write. `touched`: for an UpdateItem, the attributes it sets
        (the new image is the old one with those changed)."""
        old_in = old is not None and all(k in old for k in self.keys)
        if touched is not None:
            if not old_in:
                return 1 if touched & set(self.keys) else 0
            if touched & set(self.keys):
                return 2
            return 1 if self.projected is None or touched & set(self.projected) else 0
        new_in = new is not None and all(k in new for k in self.keys)
        if not old_in and not new_in:
            return 0
        if old_in != new_in:
            return 1
        assert old is not None and new is not None
        if any(old.get(k) != new.get(k) for k in self.keys):
            return 2
        attributes = self.projected if self.projected is not None else tuple(set(old) | set(new))
        return 1 if any(old.get(a) != new.get(a) for a in attributes) else 0


def template_indexes(table: dict[str, Any]) -> list[Index]:
    """The GSIs of an AWS::DynamoDB::Table resource from template.yaml."""
    out = []
    for gsi in table["Properties"].get("GlobalSecondaryIndexes", []):
        keys = tuple(k["AttributeName"] for k in gsi["KeySchema"])
        projection = gsi.get("Projection", {})
        kind = projection.get("ProjectionType", "ALL")
        projected = None if kind == "ALL" else tuple(projection.get("NonKeyAttributes", []))
        out.append(Index(gsi["IndexName"], keys, projected))
    return out


def moto_images(region: str) -> Callable[[str, dict[str, Any]], dict[str, Any] | None]:
    """Before-images straight from the local emulation's backend (no AWS call, nothing counted)."""

    def image(table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        try:
            item = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_item(table, key)
        except Exception:  # noqa: BLE001 (an unknown table or key shape: no before-image)
            return None
        return item.to_json()["Attributes"] if item is not None else None

    return image


def _updated_attributes(params: dict[str, Any]) -> set[str]:
    """Top-level attribute names an UpdateExpression changes."""
    names = params.get("ExpressionAttributeNames", {})
    expression = params.get("UpdateExpression", "")
    found = set()
    for clause in re.split(r"\b(?:SET|REMOVE|ADD|DELETE)\b", expression):
        for part in clause.split(","):
            target = part.split("=")[0].strip().split(" ")[0]
            if target:
                root = re.split(r"[.\[]", target)[0]
                found.add(names.get(root, root))
    return found


def _value_bytes(value: dict[str, Any]) -> int:
    """DynamoDB's item size rules, approximately: names + values, +3 bytes per map/list element."""
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _value_bytes(v) for k, v in inner.items())
    if kind == "L":
        return 3 + sum(1 + _value_bytes(v) for v in inner)
    return len(json.dumps(inner, default=str))  # sets: close enough


def _size_kb(item: dict[str, Any]) -> float:
    """Size of an item in wire form ({"attr": {"S": ...}}) or as returned (already parsed)."""
    try:
        return sum(len(k.encode()) + _value_bytes(v) for k, v in item.items()) / 1024
    except (AttributeError, StopIteration, TypeError):
        return len(json.dumps(item, default=str)) / 1024


class AwsStats:
    def __init__(
        self,
        excluded_tables: set[str] | None = None,
        images: Callable[[str, dict[str, Any]], dict[str, Any] | None] | None = None,
        indexes: dict[str, list[Index]] | None = None,
    ) -> None:
        """`images(table, key)`: the stored item before a write; `indexes`: GSIs per table name."""
        self.excluded = set(excluded_tables or ())
        self.images, self.indexes = images, indexes or {}
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.calls: Counter[str] = Counter()
            self.items_read = 0
            self.items_written = 0
            self.read_units = 0.0
            self.write_units = 0.0

    def attach(self, session: Any) -> None:
        """`session` is a boto3.Session; the clients it creates from now on are counted."""
        session.events.register("before-parameter-build", self._before)
        session.events.register("after-call", self._after)

    # ---------------------------------------------------------------- hooks
    def _tables(self, params: dict[str, Any]) -> set[str]:
        names = set()
        if "TableName" in params:
            names.add(params["TableName"])
        names.update(params.get("RequestItems", {}).keys())
        for item in params.get("TransactItems", []):
            for op in item.values():
                names.add(op.get("TableName"))
        return names

    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        if service == "dynamodb" and self._tables(params) & self.excluded:
            context["aws_stats_excluded"] = True
            return
        with self.lock:
            self.calls[f"{service}.{model.name}"] += 1
            if service != "dynamodb":
                return
            writes: list[tuple[str, str, dict[str, Any], int]] = []  # (operation, table, params, factor)
            if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
                writes = [(model.name, params["TableName"], params, 1)]
            elif model.name == "TransactWriteItems":
                kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheck"}
                writes = [(kinds[k], op["TableName"], op, 2) for t in params["TransactItems"] for k, op in t.items()]
            elif model.name == "BatchWriteItem":
                writes = [
                    ("PutItem", table, r["PutRequest"], 1) if "PutRequest" in r else ("DeleteItem", table, r["DeleteRequest"], 1)
                    for table, rs in params["RequestItems"].items()
                    for r in rs
                ]
            for operation, table, op, factor in writes:
                self.items_written += 1
                self.write_units += self._write_units(operation, table, op, factor)

    def _write_units(self, operation: str, table: str, op: dict[str, Any], factor: int) -> float:
        item = op.get("Item")
        key = op.get("Key") or item or {}  # the emulation picks the table's key attributes out of a whole item
        old = self.images(table, key) if self.images is not None and key else None
        if self.images is None or (old is None and operation != "PutItem"):
            # No before-image: the item's own size, and every index it has a key for (an upper bound).
            shown = item or old or op.get("Key") or {}
            return factor * max(1, math.ceil(_size_kb(shown))) + sum(1 for k in _INDEX_KEYS if k in shown)
        if operation == "ConditionCheck":
            return factor * max(1, math.ceil(_size_kb(old or key)))
        new = item if operation == "PutItem" else (None if operation == "DeleteItem" else old)
        touched = _updated_attributes(op) if operation == "UpdateItem" else None
        size = max(_size_kb(old) if old else 0.0, _size_kb(new) if new else 0.0)
        units = factor * max(1, math.ceil(size))
        units += sum(index.writes(old, new, touched) for index in self.indexes.get(table, []))
        return units

    def _after(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name != "dynamodb" or context.get("aws_stats_excluded"):
            return
        read = 0
        if model.name in ("Query", "Scan"):
            read = int(parsed.get("ScannedCount", parsed.get("Count", 0)))
            units = max(0.5, sum(_size_kb(i) for i in parsed.get("Items", [])) / 4 / 2)  # eventually consistent
        elif model.name == "GetItem":
            read = 1 if parsed.get("Item") else 0
            units = 1.0
        elif model.name == "BatchGetItem":
            found = [i for items in parsed.get("Responses", {}).values() for i in items]
            read = len(found)
            units = sum(max(1, math.ceil(_size_kb(i) / 4)) for i in found)
        elif model.name == "TransactGetItems":
            read = sum(1 for r in parsed.get("Responses", []) if r.get("Item"))
            units = 2.0 * read
        else:
            return
        with self.lock:
            self.items_read += read
            self.read_units += units

    # --------------------------------------------------------------- report
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "aws_calls": dict(sorted(self.calls.items())),
                "dynamodb_items_read": self.items_read,
                "dynamodb_items_written": self.items_written,
                "dynamodb_read_units": round(self.read_units, 1),
                "dynamodb_write_units": round(self.write_units, 1),
            }
