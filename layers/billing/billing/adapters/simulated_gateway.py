"""The simulated payment gateway of the contract: behaviour by token, and its own ledger.

It stands for an external provider. Every answer is stored under the idempotency key it was
given (a conditional put), so the same key always answers the same result, and the ledger of
money taken (`outcome = succeeded`) proves that nothing was taken twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..domain.charge import GATEWAY_ERROR, REJECTED, GatewayResult
from ..domain.refunds import REFUND_DECLINED
from ..service.ports import AttemptRequest, Clock, GatewayTimeout, RefundRequest
from .dynamodb.codec import from_attributes, to_attributes
from .dynamodb.keys import sortable


def behaviour(token: str, attempt: int) -> GatewayResult:
    """The contract's table: what the simulated gateway answers the first time it sees a key."""
    if token in ("pm_sim_ok", "pm_sim_timeout", "pm_sim_refund_fails"):
        return GatewayResult(outcome="succeeded")
    if token == "pm_sim_insufficient_funds":
        return GatewayResult(outcome="declined", decline_code="insufficient_funds")
    if token == "pm_sim_expired_card":
        return GatewayResult(outcome="declined", decline_code="expired_card")
    if token == "pm_sim_fail_once":
        if attempt == 1:
            return GatewayResult(outcome="declined", decline_code="insufficient_funds")
        return GatewayResult(outcome="succeeded")
    if token == "pm_sim_error":
        return GatewayResult(outcome="error", decline_code=GATEWAY_ERROR)
    if token == "pm_sim_rejected":
        return REJECTED
    return GatewayResult(outcome="declined", decline_code="invalid_account")


def refund_behaviour(token: str) -> GatewayResult:
    """Refunds succeed, except of charges made with `pm_sim_refund_fails`."""
    if token == "pm_sim_refund_fails":
        return GatewayResult(outcome="declined", decline_code=REFUND_DECLINED)
    return GatewayResult(outcome="succeeded")


class SimulatedGateway:
    key_memory: timedelta | None = None  # it keeps every key for ever
    call_timeout = 5.0  # a DynamoDB put and get at most

    def __init__(self, client: Any, table_name: str, clock: Clock) -> None:
        self.client, self.table, self.clock = client, table_name, clock

    def charge(self, request: AttemptRequest) -> GatewayResult:
        result, new = self._once(request.idempotency_key, behaviour(request.token, request.attempt), "charge", request)
        if new and request.token == "pm_sim_timeout":
            raise GatewayTimeout(f"{request.idempotency_key}: took the money, then the call timed out")
        return result

    def refund(self, request: RefundRequest) -> GatewayResult:
        return self._once(request.idempotency_key, refund_behaviour(request.token), "refund", request)[0]

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
        return self._find(request.idempotency_key)

    def _once(
        self, key: str, result: GatewayResult, kind: str, request: AttemptRequest | RefundRequest
    ) -> tuple[GatewayResult, bool]:
        """Store the answer under its key (a conditional put); a key seen before answers the same
        (and False: not new)."""
        now = self.clock.now()
        reference = "sim_" + key.replace(":", "_")
        entry = {
            "idempotency_key": key,
            "kind": kind,
            "outcome": result.outcome,
            "decline_code": result.decline_code,
            "gateway_reference": reference,
            "merchant_id": request.merchant_id,
            "mandate_id": request.mandate_id,
            "charge_id": request.charge_id,
            "amount": request.money.amount,
            "currency": request.money.currency,
            "at": sortable(now),
        }
        try:
            self.client.put_item(
                TableName=self.table, Item=to_attributes(entry), ConditionExpression="attribute_not_exists(idempotency_key)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self._replay(key), False  # seen before: the same answer again
        return result.model_copy(update={"gateway_reference": reference}), True

    def _replay(self, key: str) -> GatewayResult:
        found = self._find(key)
        assert found is not None, "a key that was seen is always stored"
        return found

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        """Read-only: what was done for this attempt (the ledger is keyed by the attempt's key)."""
        return self._find(request.idempotency_key)

    def _find(self, key: str) -> GatewayResult | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes({"idempotency_key": key}), ConsistentRead=True)
        if "Item" not in response:
            return None
        item = from_attributes(response["Item"])
        return GatewayResult(
            outcome=item["outcome"], decline_code=item.get("decline_code"), gateway_reference=item.get("gateway_reference")
        )

    def ledger(self) -> list[dict[str, Any]]:
        """Money taken and given back (`kind`), oldest first. A Scan of the fake provider's own table: for tests and the
        local runtime only (no deployed function is allowed to Scan)."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table}
        while True:
            response = self.client.scan(**request)
            items += [from_attributes(i) for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        done = [i for i in items if i["outcome"] == "succeeded"]
        fields = ("idempotency_key", "merchant_id", "mandate_id", "charge_id", "amount", "currency", "at")
        return sorted(
            ({**{k: i.get(k) for k in fields}, "kind": i.get("kind", "charge")} for i in done),
            key=lambda e: (e["at"], e["idempotency_key"]),
        )
