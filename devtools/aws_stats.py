"""Count what the system's own components cost in AWS terms, from botocore events:
calls per operation, DynamoDB items read and written (and request units, estimated).

Register on a boto3 session *before* the functions create their clients. Calls that touch
`excluded_tables` (the simulated gateway's ledger: it stands for an external provider) are
left out."""

from __future__ import annotations

import json
import math
import threading
from collections import Counter
from typing import Any

# GSI key attributes of BillingTable: an item carrying one is written to that index too.
_INDEX_KEYS = ("lpk", "spk", "ppk", "cpk", "dpk")


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
    def __init__(self, excluded_tables: set[str] | None = None) -> None:
        self.excluded = set(excluded_tables or ())
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
            writes = []
            if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
                writes = [(params.get("Item") or params.get("Key") or {}, 1)]
            elif model.name == "TransactWriteItems":
                writes = [(op.get("Item") or op.get("Key") or {}, 2) for t in params["TransactItems"] for op in t.values()]
            elif model.name == "BatchWriteItem":
                writes = [
                    ((r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key") or {}, 1)
                    for rs in params["RequestItems"].values()
                    for r in rs
                ]
            for item, factor in writes:
                self.items_written += 1
                units = factor * max(1, math.ceil(_size_kb(item)))
                units += sum(1 for key in _INDEX_KEYS if key in item)  # index entries (an upper bound)
                self.write_units += units

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
