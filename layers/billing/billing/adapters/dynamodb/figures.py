"""The dashboard's figures in the single table (docs/metrics.md, `service/figures.FigureStore`).

- What is kept of an object: beside the object, `pk = M#<merchant>#<object id>`, `sk = FIGURES`:
  the version kept, its contribution (JSON) and the definitions' number it was made under.
- A currency's totals: `pk = M#<merchant>#FIGURES`, `sk = T#<currency>` (one Query finds every
  currency's), and its days: `pk = M#<merchant>#FIGURES#<currency>`, `sk = D<yyyy-mm-dd>` (what
  happened that day) or `U<yyyy-mm-dd>` (charges due that day); a Query by key range reads each
  range the overview needs. Counters are numbers moved by `ADD`.

The new contributions of a batch's objects and the sum of their changes to the buckets are one
TransactWriteItems (at most 100 items; the service groups them), each put conditional on the
version kept before: a concurrent keeper of one of them makes it fail (False: the service reads
again), and nothing is ever added twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ...domain.figures import TOTALS, Counters
from ...service.figures import Keep
from . import keys
from .codec import from_attributes, to_attributes

KEPT_SK = "FIGURES"
NOT_KEPT_REASONS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def totals_pk(merchant_id: str) -> str:
    return f"M#{merchant_id}#FIGURES"


def days_pk(merchant_id: str, currency: str) -> str:
    return f"M#{merchant_id}#FIGURES#{currency}"


def bucket_key(merchant_id: str, currency: str, bucket: str) -> dict[str, str]:
    if bucket == TOTALS:
        return {"pk": totals_pk(merchant_id), "sk": f"{TOTALS}#{currency}"}
    return {"pk": days_pk(merchant_id, currency), "sk": bucket}


def kept_key(merchant_id: str, object_id: str) -> dict[str, str]:
    return {"pk": f"M#{merchant_id}#{object_id}", "sk": KEPT_SK}


class DynamoFigureStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def kept(self, merchant_id: str, object_ids: Sequence[str]) -> dict[str, tuple[int, Counters, int]]:
        wanted = [i for i in object_ids if any(keys.valid_id(i, p) for p in ("mdt", "chg", "rfd", "dsp"))]
        out: dict[str, tuple[int, Counters, int]] = {}
        pending = [to_attributes(kept_key(merchant_id, i)) for i in wanted]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: dict[str, Any] = {self.table: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                response = self.client.batch_get_item(RequestItems=request)
                for raw in response["Responses"].get(self.table, []):
                    item = from_attributes(raw)
                    contribution = {(c, b, n): int(v) for c, b, n, v in json.loads(item["contribution"])}
                    kept = (int(item["version"]), contribution, int(item.get("definition", 0)))
                    out[item["pk"].rpartition("#")[2]] = kept
                request = response.get("UnprocessedKeys") or {}
        return out

    def keep(self, merchant_id: str, keeps: Sequence[Keep], change: Counters) -> bool:
        operations: list[dict[str, Any]] = [self._put(merchant_id, keep) for keep in keeps]
        by_bucket: dict[tuple[str, str], dict[str, int]] = {}
        for (currency, bucket, counter), value in sorted(change.items()):
            by_bucket.setdefault((currency, bucket), {})[counter] = value
        for currency in {c for c, _ in by_bucket}:  # the totals item names the currency for `buckets`
            by_bucket.setdefault((currency, TOTALS), {"seen": 0})
        for (currency, bucket), counters in by_bucket.items():
            names = {f"#c{i}": name for i, name in enumerate(counters)}
            values = {f":c{i}": value for i, value in enumerate(counters.values())}
            operations.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": to_attributes(bucket_key(merchant_id, currency, bucket)),
                        "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": to_attributes(values),
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=operations)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
            if code == "TransactionCanceledException" and reasons & NOT_KEPT_REASONS:
                return False
            raise
        return True

    def _put(self, merchant_id: str, keep: Keep) -> dict[str, Any]:
        kept = {
            **kept_key(merchant_id, keep.object_id),
            "version": keep.version,
            "definition": keep.definition,
            "contribution": json.dumps(sorted([*k, v] for k, v in keep.contribution.items()), separators=(",", ":")),
        }
        put: dict[str, Any] = {"TableName": self.table, "Item": to_attributes(kept)}
        if keep.previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :previous"
            put["ExpressionAttributeValues"] = to_attributes({":previous": keep.previous})
        return {"Put": put}

    def buckets(self, merchant_id: str, ranges: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
        out: dict[tuple[str, str], dict[str, int]] = {}
        for item in self._query({"pk": totals_pk(merchant_id)}):
            out[(item["sk"].partition("#")[2], TOTALS)] = _counters(item)
        for currency, _ in list(out):
            for between in ranges:
                for item in self._query({"pk": days_pk(merchant_id, currency)}, between):
                    out[(currency, item["sk"])] = _counters(item)
        return out

    def _query(self, key: dict[str, str], between: tuple[str, str] | None = None) -> list[dict[str, Any]]:
        condition = "pk = :pk" + (" AND sk BETWEEN :first AND :last" if between else "")
        values = {":pk": key["pk"], **({":first": between[0], ":last": between[1]} if between else {})}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attributes(values),
        }
        found: list[dict[str, Any]] = []
        while True:
            response = self.client.query(**request)
            found += [from_attributes(raw) for raw in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _counters(item: dict[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in item.items() if k not in ("pk", "sk")}
