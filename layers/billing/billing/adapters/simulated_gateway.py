"""The simulated payment gateway of the contract: behaviour by token, over time, and its own ledger.

It stands for an external provider. Every answer is stored under the idempotency key it was
given (a conditional put), so the same key always answers the same result, and the ledger of
money taken (`outcome = succeeded`) proves that nothing was taken twice.

Like a real gateway it changes payments after it answered: at charge time it writes a timeline of
future changes (a bank debit settling 3 TARGET business days later, a reversal, a dispute opened
then closed, a card replaced by the network, a bank mandate cancelled), each a `change` item of
its own table carrying `due` + `due_at` (the sparse index `Due`). `release_due(now)` reads the
changes whose time has come and reports each as a normalised `GatewayEvent` (the same inbound
path as Stripe's); `mark_reported` takes them out of the index. What the gateway answers
(`lookup`, the ledger) is its state at the clock's now, whether or not a change was reported:
settlement never depends on an event arriving.

Items of the table (hash key `idempotency_key`), told apart by `record`:
- payments (no `record`, or `payment`): one answer per idempotency key, `kind` charge|refund;
  a bank debit's carries `settles_at` and its `final_outcome`, a reversed one `reversed_at`;
- `change`: one reported change (`change` settle|reverse|dispute|method), due at `due_at`;
- `dispute`: a dispute at the gateway (`opened_at`, and `closes_at` + `result` once decided);
- `once`: a marker (a mandate's first charge already has its one-off change).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.exceptions import ClientError

from ..domain.business_days import add_business_days
from ..domain.charge import GATEWAY_ERROR, REJECTED, GatewayResult
from ..domain.disputes import DISPUTE_REASONS
from ..domain.payment_methods import simulated_type
from ..domain.reconciliation import GatewayEntry, GatewayStatus, MovementKind
from ..domain.refunds import REFUND_DECLINED
from ..service.gateway_events import DisputeFacts, GatewayEvent, MethodReport, PaymentReport
from ..service.ports import AttemptRequest, Clock, GatewayTimeout, RefundRequest
from .dynamodb.codec import from_attributes, to_attributes
from .dynamodb.keys import sortable


def behaviour(token: str, attempt: int) -> GatewayResult:
    """The contract's table: what the simulated gateway answers the first time it sees a key."""
    if token in SUCCEEDING:
        return GatewayResult(outcome="succeeded")
    if simulated_type(token) == "sepa_debit":
        return GatewayResult(outcome="processing")  # settles later: see `timeline`
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


# ------------------------------------------------------------------------- over time
SETTLEMENT_BUSINESS_DAYS = 3  # a bank debit settles 3 TARGET business days after it was made
REVERSAL_BUSINESS_DAYS = 2  # pm_sim_sepa_late_failure: returned 2 business days after it settled
DISPUTE_OPENS_AFTER = timedelta(days=5)  # pm_sim_dispute_*: disputed 5 days after the charge
DISPUTE_CLOSES_AFTER = timedelta(days=10)  # ... and decided 10 days after that
METHOD_CHANGE_AFTER = timedelta(days=1)  # card replaced / bank mandate cancelled, after the first charge
UPDATED_CARD_LAST4 = "4444"
EVIDENCE_WINDOW = timedelta(days=7)  # a card dispute's evidence is due 7 days after it opened (bank debits: none)
CHANGE_INDEX = "Due"  # the sparse index of changes not reported yet (template.yaml)
DUE = "due"  # the one partition of that index (a test gateway: a handful of changes a minute)

SUCCEEDING: frozenset[str] = frozenset(
    {"pm_sim_ok", "pm_sim_timeout", "pm_sim_refund_fails", "pm_sim_dispute_lost", "pm_sim_dispute_won", "pm_sim_card_updated"}
)


@dataclass(frozen=True)
class Change:
    """One change the gateway will report at `due_at` (`what`: settle|reverse|dispute|method)."""

    what: str
    due_at: datetime
    suffix: str = ""  # tells apart two changes of one kind on one payment
    dispute_reference: str | None = None
    last4: str | None = None
    mandate_inactive: bool = False


@dataclass(frozen=True)
class Timeline:
    """What becomes of one payment after the gateway answered it, in the gateway's own world."""

    settles_at: datetime | None = None  # a processing bank debit: when it settles...
    final: GatewayResult | None = None  # ... and how
    reversed_at: datetime | None = None
    reversal_code: str | None = None
    dispute: dict[str, Any] | None = None  # reason, opened_at, closes_at, result
    changes: tuple[Change, ...] = ()
    once: str | None = None  # a one-off change of the mandate's first charge (only the first one gets it)


def timeline(token: str, now: datetime, result: GatewayResult) -> Timeline:
    """The contract's table over time: what the gateway will do with a payment it answered at `now`."""
    if result.outcome == "processing":
        settles = add_business_days(now, SETTLEMENT_BUSINESS_DAYS)
        settle = Change("settle", settles)
        if token == "pm_sim_sepa_insufficient_funds":
            return Timeline(settles, GatewayResult(outcome="declined", decline_code="insufficient_funds"), changes=(settle,))
        ok = GatewayResult(outcome="succeeded")
        if token == "pm_sim_sepa_late_failure":
            back = add_business_days(settles, REVERSAL_BUSINESS_DAYS)
            return Timeline(settles, ok, back, "insufficient_funds", changes=(settle, Change("reverse", back)))
        if token == "pm_sim_sepa_revoked":
            cancelled = Change("method", settles + METHOD_CHANGE_AFTER, mandate_inactive=True)
            return Timeline(settles, ok, changes=(settle, cancelled), once="mandate_inactive")
        return Timeline(settles, ok, changes=(settle,))
    if result.outcome != "succeeded":
        return Timeline()
    if token in ("pm_sim_dispute_lost", "pm_sim_dispute_won"):
        opens, closes = now + DISPUTE_OPENS_AFTER, now + DISPUTE_OPENS_AFTER + DISPUTE_CLOSES_AFTER
        lost = token == "pm_sim_dispute_lost"
        dispute = {
            "reason": "fraudulent" if lost else "product_not_received",
            "opened_at": opens,
            "closes_at": closes,
            "result": "lost" if lost else "won",
        }
        return Timeline(dispute=dispute, changes=(Change("dispute", opens, "opened"), Change("dispute", closes, "closed")))
    if token == "pm_sim_card_updated":
        return Timeline(changes=(Change("method", now + METHOD_CHANGE_AFTER, last4=UPDATED_CARD_LAST4),), once="card_updated")
    return Timeline()


class NoSuchPayment(LookupError):
    """The gateway has no such succeeded charge, or no such dispute (a local endpoint's 404)."""


class NotPossible(ValueError):
    """The gateway refuses the change in the state it is in (a local endpoint's 409)."""


def _time(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) if value else None


def _opt(moment: datetime | None) -> str | None:
    return sortable(moment) if moment is not None else None


def ledger_key(merchant_id: str, what: str) -> str:
    return f"{merchant_id}#{what}"


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key)


class SimulatedGateway:
    key_memory: timedelta | None = None  # it keeps every key for ever
    call_timeout = 5.0  # a DynamoDB put and get at most

    def __init__(self, client: Any, table_name: str, clock: Clock) -> None:
        self.client, self.table, self.clock = client, table_name, clock

    # ------------------------------------------------------------------ the gateway's API
    def charge(self, request: AttemptRequest) -> GatewayResult:
        first = behaviour(request.token, request.attempt)
        result, new = self._once(request.idempotency_key, first, "charge", request)
        # Written on every call, each change once (a call that failed after storing the payment
        # is asked again with its key: its timeline is written then, from the stored time).
        stored = self._get(request.idempotency_key) if not new else None
        at = _time(stored.get("at")) if stored is not None else None
        self._schedule(request, timeline(request.token, at or self.clock.now(), first))
        if new and request.token == "pm_sim_timeout":
            raise GatewayTimeout(f"{request.idempotency_key}: took the money, then the call timed out")
        return result

    def refund(self, request: RefundRequest) -> GatewayResult:
        return self._once(request.idempotency_key, refund_behaviour(request.token), "refund", request)[0]

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
        return self._find(request.idempotency_key)

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        """Read-only: the attempt's state at the clock's now (a bank debit: `processing` until its
        settlement time, then how it settled), found by the attempt's key."""
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
            "record": "payment",
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
            "ledger_pk": ledger_key(request.merchant_id, "payment"),  # the Ledger index: a merchant's payments by time
        }
        if isinstance(request, AttemptRequest):
            entry["token"], entry["attempt"] = request.token, request.attempt
            plan = timeline(request.token, now, result)
            if plan.final is not None:
                entry["settles_at"], entry["final_outcome"] = _opt(plan.settles_at), plan.final.outcome
                entry["final_decline_code"] = plan.final.decline_code
            entry["reversed_at"], entry["reversal_code"] = _opt(plan.reversed_at), plan.reversal_code
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

    def _find(self, key: str) -> GatewayResult | None:
        item = self._get(key)
        if item is None or item.get("record", "payment") != "payment":
            return None
        outcome, code = self._state(item, self.clock.now())
        return GatewayResult.model_validate(
            {"outcome": outcome, "decline_code": code, "gateway_reference": item.get("gateway_reference")}
        )

    @staticmethod
    def _state(item: dict[str, Any], now: datetime) -> tuple[str, str | None]:
        """A payment's outcome at `now` (a bank debit settles at its time, reported or not)."""
        settles_at = _time(item.get("settles_at"))
        if item["outcome"] == "processing" and settles_at is not None and now >= settles_at:
            return str(item["final_outcome"]), item.get("final_decline_code")
        return str(item["outcome"]), item.get("decline_code")

    def _get(self, key: str) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes({"idempotency_key": key}), ConsistentRead=True)
        return from_attributes(response["Item"]) if "Item" in response else None

    # ------------------------------------------------------------------ the timeline
    def _schedule(self, request: AttemptRequest, plan: Timeline) -> None:
        """Write what will become of a payment just answered: its dispute, its changes to report."""
        changes = list(plan.changes)
        if plan.once is not None and not self._first(plan.once, request.mandate_id, request.idempotency_key):
            changes = [c for c in changes if c.what != "method"]  # only the mandate's first charge
        reference = None
        if plan.dispute is not None:
            reference = "dp_sim_" + _safe(request.idempotency_key)
            self._put_dispute(reference, request.idempotency_key, request, plan.dispute, bank_debit=False, once=True)
        for change in changes:
            self._put_change(request.idempotency_key, request, change, reference, once=True)

    def _first(self, what: str, mandate_id: str, payment_key: str) -> bool:
        """Whether this payment is the mandate's first of its kind (the same payment asked again is)."""
        marker = {"idempotency_key": f"once:{what}:{mandate_id}", "record": "once", "payment_key": payment_key}
        if self._put_once(marker):
            return True
        found = self._get(marker["idempotency_key"])
        return found is not None and found.get("payment_key") == payment_key

    def _put_once(self, item: dict[str, Any]) -> bool:
        """Put an item that must be written once (False: it already was)."""
        try:
            self.client.put_item(
                TableName=self.table, Item=to_attributes(item), ConditionExpression="attribute_not_exists(idempotency_key)"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _put_change(
        self, payment_key: str, request: Any, change: Change, dispute_reference: str | None, once: bool = False
    ) -> None:
        key = ":".join(part for part in ("change", payment_key, change.what, change.suffix) if part)
        item = {
            "idempotency_key": key,
            "record": "change",
            "change": change.what,
            "payment_key": payment_key,
            "merchant_id": request.merchant_id,
            "mandate_id": request.mandate_id,
            "charge_id": request.charge_id,
            "attempt": getattr(request, "attempt", None),
            "dispute_reference": dispute_reference or change.dispute_reference,
            "last4": change.last4,
            "mandate_inactive": change.mandate_inactive or None,
            "payment_method": getattr(request, "token", None),  # the method it is about (a report on a replaced one is ignored)
            "due": DUE,
            "due_at": sortable(change.due_at),
        }
        if once:  # a change already written (and maybe reported since) is never written again
            self._put_once(item)
            return
        self.client.put_item(TableName=self.table, Item=to_attributes(item))

    def _put_dispute(
        self, reference: str, payment_key: str, payment: Any, dispute: dict[str, Any], *, bank_debit: bool, once: bool = False
    ) -> None:
        item = {
            "idempotency_key": f"dispute:{reference}",
            "record": "dispute",
            "reference": reference,
            "payment_key": payment_key,
            "merchant_id": payment.merchant_id,
            "mandate_id": payment.mandate_id,
            "charge_id": payment.charge_id,
            "amount": payment.money.amount if hasattr(payment, "money") else payment.amount,
            "currency": payment.money.currency if hasattr(payment, "money") else payment.currency,
            "reason": dispute["reason"],
            "opened_at": sortable(dispute["opened_at"]),
            "closes_at": _opt(dispute.get("closes_at")),
            "result": dispute.get("result"),
            "bank_debit": bank_debit or None,
            # The Ledger index: a merchant's disputes by the time they were opened.
            "ledger_pk": ledger_key(payment.merchant_id, "dispute") if payment.merchant_id else None,
            "at": sortable(dispute["opened_at"]),
        }
        if once:
            self._put_once(item)
            return
        self.client.put_item(TableName=self.table, Item=to_attributes(item))

    @staticmethod
    def _dispute_status(item: dict[str, Any], now: datetime) -> str | None:
        """needs_response while open, then won/lost; None before it is opened."""
        opened, closes = _time(item["opened_at"]), _time(item.get("closes_at"))
        assert opened is not None
        if now < opened:
            return None
        if closes is not None and now >= closes:
            return str(item["result"])
        return "needs_response"

    # ------------------------------------------------------------------ reporting
    def release_due(self, now: datetime, limit: int = 100) -> list[GatewayEvent]:
        """The changes due at `now` not reported yet (oldest first, at most `limit`), each as the
        gateway event that reports it (ids unique per change: a change reported twice is applied
        once). They stay due until `mark_reported`."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": CHANGE_INDEX,
            "KeyConditionExpression": "#due = :due AND due_at <= :now",
            "ExpressionAttributeNames": {"#due": "due"},
            "ExpressionAttributeValues": to_attributes({":due": DUE, ":now": sortable(now)}),
            "Limit": limit,
        }
        items = [from_attributes(i) for i in self.client.query(**request)["Items"]]
        events = []
        for keys in items:
            change = self._get(keys["idempotency_key"])  # the index holds the keys; the item, all of it
            if change is None or "due" not in change:
                continue
            event = self._event(change, now)
            if event is not None:
                events.append(event)
            else:  # nothing left to report (its payment or dispute is gone): out of the index
                self._reported(change["idempotency_key"])
        return events

    def mark_reported(self, events: list[GatewayEvent]) -> None:
        """Take reported changes out of the due index (the event id is the change's key)."""
        for event in events:
            self._reported(event.id)

    def _reported(self, key: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_attributes({"idempotency_key": key}),
            UpdateExpression="REMOVE #due SET reported_at = :at",
            ConditionExpression="attribute_exists(idempotency_key)",
            ExpressionAttributeNames={"#due": "due"},
            ExpressionAttributeValues=to_attributes({":at": sortable(self.clock.now())}),
        )

    def _event(self, change: dict[str, Any], now: datetime) -> GatewayEvent | None:
        due_at = _time(change["due_at"])
        assert due_at is not None
        base: dict[str, Any] = {
            "id": change["idempotency_key"],
            "gateway": "simulated",
            "created": due_at,
            "merchant_id": change.get("merchant_id"),
            "mandate_id": change.get("mandate_id"),
        }
        what = change["change"]
        if what in ("settle", "reverse"):
            payment = self._get(change["payment_key"])
            if payment is None:
                return None
            outcome, code = self._state(payment, now)
            if what == "reverse":
                outcome, code = "reversed", payment.get("reversal_code")
            names = {"succeeded": "payment_intent.succeeded", "reversed": "charge.reversed"}
            report = PaymentReport(
                charge_id=change["charge_id"],
                attempt=int(change["attempt"]),
                outcome=outcome,  # type: ignore[arg-type]
                decline_code=code,
                gateway_reference=payment.get("gateway_reference"),
            )
            return GatewayEvent(**base, event_type=names.get(outcome, "payment_intent.payment_failed"), payment=report)
        if what == "dispute":
            dispute = self._get(f"dispute:{change['dispute_reference']}")
            status = self._dispute_status(dispute, now) if dispute is not None else None
            if dispute is None or status is None:
                return None
            opened = _time(dispute["opened_at"])
            assert opened is not None
            facts = DisputeFacts(
                reference=dispute["reference"],
                charge_id=dispute["charge_id"],
                amount=int(dispute["amount"]),
                currency=dispute["currency"],
                reason=dispute["reason"],
                status=status,  # type: ignore[arg-type]
                evidence_due_by=None if dispute.get("bank_debit") else opened + EVIDENCE_WINDOW,
            )
            name = "charge.dispute.closed" if status in ("won", "lost") else "charge.dispute.created"
            return GatewayEvent(**base, event_type=name, dispute=facts)
        if change.get("mandate_inactive"):
            method = MethodReport(
                mandate_id=change["mandate_id"], mandate_inactive=True, payment_method=change.get("payment_method")
            )
            return GatewayEvent(**base, event_type="mandate.updated", method=method)
        method = MethodReport(
            mandate_id=change["mandate_id"], last4=change.get("last4"), payment_method=change.get("payment_method")
        )
        return GatewayEvent(**base, event_type="payment_method.automatically_updated", method=method)

    # ------------------------------------------------------------------ reconciliation (GatewayLedger)
    def _ledger(self, merchant_id: str, what: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "Ledger",
            "KeyConditionExpression": "ledger_pk = :ledger AND #at BETWEEN :since AND :until",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": to_attributes(
                {":ledger": ledger_key(merchant_id, what), ":since": sortable(since), ":until": sortable(until)}
            ),
        }
        while True:
            response = self.client.query(**request)
            items += [from_attributes(i) for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def ledger_entries(
        self, merchant_id: str, payments_since: datetime, disputes_since: datetime, until: datetime
    ) -> list[GatewayEntry]:
        """The merchant's money moves as the gateway dates them, at the clock's now: a charge when
        it settled (a bank debit) or was answered (a card), its reversal, a refund, a dispute (lost:
        when it closed). Read from the `Ledger` index by the time each payment started (disputes:
        opened), so a bank debit settled or returned days later is found in the read window."""
        now = self.clock.now()
        out: list[GatewayEntry] = []
        for item in self._ledger(merchant_id, "payment", payments_since, until):
            outcome, _ = self._state(item, now)
            status: GatewayStatus = (
                "succeeded" if outcome == "succeeded" else "processing" if outcome == "processing" else "failed"
            )
            at, settles_at = _time(item["at"]), _time(item.get("settles_at"))
            assert at is not None
            reference = str(item.get("gateway_reference") or "sim_" + _safe(str(item["idempotency_key"])))
            key, charge_id = str(item["idempotency_key"]), item.get("charge_id")

            def entry(
                kind: MovementKind, status: GatewayStatus, moved_at: datetime, refund_id: str | None = None
            ) -> GatewayEntry:
                return GatewayEntry(
                    kind,
                    status,
                    currency=str(item["currency"]),
                    amount=int(item["amount"]),
                    at=moved_at,
                    gateway_reference=reference,
                    charge_id=charge_id,
                    refund_id=refund_id,
                )

            if item.get("kind", "charge") == "refund":
                out.append(entry("refund", status, at, key.removeprefix("refund:") if key.startswith("refund:") else None))
                continue
            reversed_at = _time(item.get("reversed_at"))
            returned = reversed_at is not None and now >= reversed_at
            out.append(
                entry("charge", "succeeded" if returned else status, settles_at if settles_at and now >= settles_at else at)
            )
            if reversed_at is not None and returned:
                out.append(entry("reversal", "succeeded", reversed_at))
        for item in self._ledger(merchant_id, "dispute", disputes_since, until):
            state = self._dispute_status(item, now)
            if state is None:
                continue
            closes = _time(item.get("closes_at"))
            opened = _time(item["opened_at"])
            assert opened is not None
            settled: GatewayStatus = "succeeded" if state == "lost" else "failed" if state == "won" else "processing"
            out.append(
                GatewayEntry(
                    "dispute",
                    settled,
                    currency=str(item["currency"]),
                    amount=int(item["amount"]),
                    at=closes if state == "lost" and closes is not None else opened,
                    gateway_reference=str(item["reference"]),
                    charge_id=item.get("charge_id"),
                )
            )
        return out

    # ------------------------------------------------------------------ tests and the local runtime
    def _scan(self) -> list[dict[str, Any]]:
        """Every item of the fake provider's own table: for tests and the local runtime only (no
        deployed function is allowed to Scan)."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.table}
        while True:
            response = self.client.scan(**request)
            items += [from_attributes(i) for i in response["Items"]]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items

    def entries(self) -> list[dict[str, Any]]:
        """The ledger at the clock's now, oldest first: charges, refunds, reversals and disputes,
        each `processing`, `succeeded` or `failed` (only `succeeded` entries are money moved;
        refunds, reversals and lost disputes carry the positive amount returned)."""
        now = self.clock.now()
        out: list[dict[str, Any]] = []
        fields = ("idempotency_key", "merchant_id", "mandate_id", "charge_id", "amount", "currency", "at")
        for item in self._scan():
            record = item.get("record", "payment")
            if record == "payment":
                outcome, _ = self._state(item, now)
                status = {"succeeded": "succeeded", "processing": "processing"}.get(outcome, "failed")
                out.append({**{k: item.get(k) for k in fields}, "kind": item.get("kind", "charge"), "status": status})
                reversed_at = _time(item.get("reversed_at"))
                if reversed_at is not None and now >= reversed_at:
                    reversal = {k: item.get(k) for k in fields}
                    reversal.update(idempotency_key=f"{item['idempotency_key']}:reversal", at=sortable(reversed_at))
                    out.append({**reversal, "kind": "reversal", "status": "succeeded"})
            elif record == "dispute":
                state = self._dispute_status(item, now)
                if state is None:
                    continue
                status = {"lost": "succeeded", "won": "failed"}.get(state, "processing")
                dispute = {k: item.get(k) for k in fields} | {"idempotency_key": item["idempotency_key"], "at": item["opened_at"]}
                out.append({**dispute, "kind": "dispute", "status": status, "gateway_reference": item["reference"]})
        return sorted(out, key=lambda e: (e["at"], e["idempotency_key"]))

    def ledger(self) -> list[dict[str, Any]]:
        """Money moved (`succeeded` entries), oldest first."""
        return [e for e in self.entries() if e["status"] == "succeeded"]

    def open_dispute(self, charge_id: str, reason: str) -> dict[str, Any]:
        """The customer's bank disputes a succeeded charge now (a bank debit's dispute is `lost` at
        once: a refund claim is unconditional); reported like any other change."""
        if reason not in DISPUTE_REASONS:
            raise ValueError("reason: one of " + ", ".join(DISPUTE_REASONS))
        now = self.clock.now()
        items = self._scan()
        paid = [
            i
            for i in items
            if i.get("record", "payment") == "payment"
            and i.get("kind", "charge") == "charge"
            and i.get("charge_id") == charge_id
            and self._state(i, now)[0] == "succeeded"
        ]
        if not paid:
            raise NoSuchPayment(f"No succeeded charge {charge_id} at the simulated gateway.")
        payment = paid[-1]
        if any(i.get("record") == "dispute" and i.get("charge_id") == charge_id for i in items):
            raise NotPossible(f"Charge {charge_id} is already disputed.")
        reversed_at = _time(payment.get("reversed_at"))
        if reversed_at is not None and now >= reversed_at:
            raise NotPossible(f"Charge {charge_id} was reversed: there is nothing to dispute.")
        bank_debit = simulated_type(str(payment.get("token", ""))) == "sepa_debit"
        reference = "dp_sim_" + uuid.uuid4().hex[:20]
        dispute = {"reason": reason, "opened_at": now}
        if bank_debit:
            dispute |= {"closes_at": now, "result": "lost"}
        facts = _Payment(payment)
        self._put_dispute(reference, payment["idempotency_key"], facts, dispute, bank_debit=bank_debit)
        self._put_change(f"dispute:{reference}", facts, Change("dispute", now, "opened"), reference)
        return self.dispute(reference)

    def close_dispute(self, reference: str, result: str) -> dict[str, Any]:
        """Decide an open card dispute now (`won` or `lost`); reported like any other change."""
        now = self.clock.now()
        item = self._get(f"dispute:{reference}")
        if item is None or self._dispute_status(item, now) is None:
            raise NoSuchPayment(f"No dispute {reference} at the simulated gateway.")
        if self._dispute_status(item, now) in ("won", "lost"):
            raise NotPossible(f"Dispute {reference} is closed already.")
        self.client.update_item(
            TableName=self.table,
            Key=to_attributes({"idempotency_key": item["idempotency_key"]}),
            UpdateExpression="SET closes_at = :now, #result = :result",
            ExpressionAttributeNames={"#result": "result"},
            ExpressionAttributeValues=to_attributes({":now": sortable(now), ":result": result}),
        )
        self._put_change(f"dispute:{reference}", _Payment(item), Change("dispute", now, "closed"), reference)
        return self.dispute(reference)

    def dispute(self, reference: str) -> dict[str, Any]:
        item = self._get(f"dispute:{reference}")
        if item is None:
            raise NoSuchPayment(f"No dispute {reference} at the simulated gateway.")
        fields = ("reference", "charge_id", "mandate_id", "amount", "currency", "reason", "opened_at")
        return {k: item.get(k) for k in fields} | {
            "gateway_reference": item["reference"],
            "status": self._dispute_status(item, self.clock.now()),
        }

    def record_unrequested(
        self, mandate_id: str, amount: int, currency: str, at: datetime, merchant_id: str | None = None
    ) -> dict[str, Any]:
        """A payment this service never asked for (for reconciliation tests): money taken at `at`,
        for the merchant named or else the one the gateway knows the mandate of."""
        key = "unrequested:" + uuid.uuid4().hex
        if merchant_id is None:
            merchant_id = next(
                (str(i["merchant_id"]) for i in self._scan() if i.get("mandate_id") == mandate_id and i.get("merchant_id")),
                None,
            )
        item = {
            "idempotency_key": key,
            "record": "payment",
            "kind": "charge",
            "outcome": "succeeded",
            "gateway_reference": "sim_" + _safe(key),
            "mandate_id": mandate_id,
            "amount": amount,
            "currency": currency,
            "at": sortable(at),
            "merchant_id": merchant_id,
            "ledger_pk": ledger_key(merchant_id, "payment") if merchant_id else None,
        }
        self.client.put_item(TableName=self.table, Item=to_attributes({k: v for k, v in item.items() if v is not None}))
        return {k: item.get(k) for k in ("idempotency_key", "mandate_id", "amount", "currency", "at")} | {
            "kind": "charge",
            "status": "succeeded",
            "charge_id": None,
        }


class SimulatedLedger:
    """The simulated gateway's `GatewayLedger` (reconciliation)."""

    def __init__(self, gateway: SimulatedGateway) -> None:
        self.gateway = gateway

    def entries(
        self, merchant_id: str, payments_since: datetime, disputes_since: datetime, until: datetime
    ) -> list[GatewayEntry]:
        return self.gateway.ledger_entries(merchant_id, payments_since, disputes_since, until)


@dataclass(frozen=True)
class _Payment:
    """A stored payment (or dispute) as what a change and a dispute are written from."""

    item: dict[str, Any]

    @property
    def merchant_id(self) -> str | None:
        return self.item.get("merchant_id")

    @property
    def mandate_id(self) -> str | None:
        return self.item.get("mandate_id")

    @property
    def charge_id(self) -> str | None:
        return self.item.get("charge_id")

    @property
    def amount(self) -> int:
        return int(self.item["amount"])

    @property
    def currency(self) -> str:
        return str(self.item["currency"])
