"""Writing the table: one TransactWriteItems per use case, a version check on every aggregate,
events put once (the outbox), and the charger's start marker. A concurrent writer that got
there first is a ConcurrentModification (read again, decide on fresh state; never a 500)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, cast

from botocore.exceptions import ClientError

from ...domain.errors import ConcurrentModification, InvalidState
from ...domain.model import Mandate
from ...domain.receipts import ReceiptCounter
from ...service.ports import Changes, Limit
from . import keys, records
from .codec import to_attributes

# TransactionConflict: another transaction holds one of the items; IdempotentParameterMismatch
# cannot happen with request-derived tokens, so it is not listed.
CONFLICT_CODES = frozenset({"ConditionalCheckFailedException", "TransactionConflictException"})


class Writer:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def commit(self, changes: Changes) -> None:
        aggregates = cast("list[records.Stored]", changes.put)  # item_of refuses a class the registry lacks
        operations = [self.versioned_put(obj) for obj in aggregates]
        operations += [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_attributes(records.item_of(e)),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for e in changes.events
        ]
        # One update per merchant (DynamoDB takes one operation per item in a transaction).
        by_merchant: dict[str, list[Limit]] = {}
        for limit in changes.limits:
            by_merchant.setdefault(limit.merchant_id, []).append(limit)
        limits = {len(operations) + i: group for i, group in enumerate(by_merchant.values())}
        operations += [self._limits(group) for group in by_merchant.values()]
        self.transact(operations, limits)
        for obj in aggregates:
            obj.version += 1

    def _limits(self, group: list[Limit]) -> dict[str, Any]:
        """Add each count's delta (from its `initial` if never written); a count with a maximum may
        not pass it (a count never written was checked against the list it was counted from)."""
        totals: dict[str, int] = {}
        maxima: dict[str, int] = {}
        initial: dict[str, int] = {}
        for limit in group:
            totals[limit.name] = totals.get(limit.name, 0) + limit.delta
            initial.setdefault(limit.name, limit.initial)
            if limit.maximum is not None:
                maxima[limit.name] = min(maxima.get(limit.name, limit.maximum), limit.maximum)
        names = sorted(totals)
        values: dict[str, Any] = {f":d{i}": totals[n] for i, n in enumerate(names)}
        values |= {f":i{i}": initial[n] for i, n in enumerate(names)}
        conditions = []
        for i, name in enumerate(names):
            if name in maxima and totals[name] > 0:
                values[f":m{i}"] = maxima[name] - totals[name]
                conditions.append(f"(attribute_not_exists(#n{i}) OR #n{i} <= :m{i})")
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": to_attributes(keys.limits(group[0].merchant_id)),
            "UpdateExpression": "SET " + ", ".join(f"#n{i} = if_not_exists(#n{i}, :i{i}) + :d{i}" for i in range(len(names))),
            "ExpressionAttributeNames": {f"#n{i}": n for i, n in enumerate(names)},
            "ExpressionAttributeValues": to_attributes(values),
        }
        if conditions:
            update["ConditionExpression"] = " AND ".join(conditions)
        return {"Update": update}

    def versioned_put(self, obj: records.Stored) -> dict[str, Any]:
        """The Put of an aggregate at its next version: new (attribute_not_exists) or on the version read."""
        item = {**records.item_of(obj), "version": obj.version + 1}
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

    def number_charges(self, counter: ReceiptCounter, numbers: list[tuple[str, str, int]]) -> None:
        """The counter (versioned put) and each charge's number (an update on condition that it
        exists, succeeded and has none; its version moves), in one transaction, no read."""
        operations = [self.versioned_put(counter)]
        for charge_id, number, seq in numbers:
            update = {
                "TableName": self.table,
                "Key": to_attributes(keys.primary(counter.merchant_id, charge_id, "CHARGE")),
                "UpdateExpression": "SET body.receipt_number = :n, body.receipt_seq = :s, #v = #v + :one",
                "ConditionExpression": "attribute_exists(pk) AND #st = :succeeded AND attribute_not_exists(body.receipt_number)",
                "ExpressionAttributeNames": {"#v": "version", "#st": "status"},
                "ExpressionAttributeValues": to_attributes({":n": number, ":s": seq, ":one": 1, ":succeeded": "succeeded"}),
            }
            operations.append({"Update": update})
        self.transact(operations)
        counter.version += 1

    def start_limit(self, merchant_id: str, name: str, value: int) -> None:
        """The count `name` set to `value` if it was never written (else nothing changes)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_attributes(keys.limits(merchant_id)),
                UpdateExpression="SET #n = :v",
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues=to_attributes({":v": value}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] not in CONFLICT_CODES:
                raise

    def transact(self, operations: Iterable[dict[str, Any]], limits: dict[int, list[Limit]] | None = None) -> None:
        """One TransactWriteItems. Its ClientRequestToken is derived from the request itself, so a
        retry of the same write (by botocore, after a lost answer) is idempotent in DynamoDB.
        `limits`: which operations are limit counts (their failed condition is the limit reached)."""
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
            for index, group in (limits or {}).items():
                if index < len(reasons) and reasons[index] == "ConditionalCheckFailed":
                    refused = next((limit for limit in group if limit.maximum is not None), group[0])
                    raise InvalidState(refused.message) from error
            if any(reason in ("ConditionalCheckFailed", "TransactionConflict") for reason in reasons):
                raise ConcurrentModification(str(reasons)) from error
            raise
