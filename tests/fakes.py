"""In-memory fakes of the service layer's ports (no AWS, no network, no real clock)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from billing.adapters.dynamodb import cursor as cursors
from billing.adapters.dynamodb.keys import DUE_SHARDS, sortable
from billing.domain.account import Account
from billing.domain.charge import Charge, GatewayResult
from billing.domain.errors import ConcurrentModification, IdempotencyConflict, InvalidState
from billing.domain.model import Event, Mandate
from billing.domain.receipts import ReceiptCounter
from billing.domain.refunds import Refund
from billing.service.gateway_events import GatewayEvent
from billing.service.messages import AttemptMessage, ExportMessage, NotificationMessage, RefundMessage
from billing.service.ports import (
    AttemptRequest,
    Changes,
    DueRef,
    GatewayTimeout,
    Loaded,
    Page,
    PageRequest,
    RefundRequest,
)
from billing.service.registry import aggregate_of

S = TypeVar("S", bound=BaseModel)


class FakeClock:
    """A test clock. `FakeClock(None)` follows real time until `current` is set or advanced."""

    def __init__(self, now: datetime | None = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)) -> None:
        self._current = now

    @property
    def current(self) -> datetime:
        return self._current or datetime.now(timezone.utc)

    @current.setter
    def current(self, moment: datetime) -> None:
        self._current = moment

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):024d}"

    def secret(self) -> str:
        return f"secret{next(self._counter):038d}"


class FakeLinks:
    def approval_url(self, mandate: Mandate) -> str | None:
        return f"https://pay.example/{mandate.id}" if mandate.status == "pending_approval" else None

    def receipt_url(self, charge: Charge) -> str | None:
        return f"https://pay.example/receipts/{charge.id}" if charge.receipt_number else None

    def invoice_url(self, invoice: Any) -> str | None:
        return f"https://pay.example/receipts/{invoice.charge_id if invoice.type == 'invoice' else invoice.id}"


def _key(merchant_id: str, object_id: str, kind: type) -> tuple[str, str]:
    """Where an object is kept: by id, as DynamoDB's pk; the merchant's own singletons (account,
    receipt counter) share the merchant id as their id and differ by kind, as DynamoDB's sk."""
    if aggregate_of(kind).key == "merchant":
        return merchant_id, f"{object_id}#{kind.__name__}"
    return merchant_id, object_id


class InMemoryRepository:
    """The Repository port in memory, generic over the aggregate registry like the DynamoDB one."""

    def __init__(self, merchants: Iterable[str] | None = None) -> None:
        """`merchants`: those with a profile (as `make merchant` writes it), whose unchanged account
        reads as the defaults; None: every merchant (the unit tests' worlds). DynamoDB answers None
        for a merchant without one, and so does this with the merchants named."""
        self.merchants = None if merchants is None else set(merchants)
        self.items: dict[tuple[str, str], Any] = {}
        self.commits: list[Changes] = []
        self.fail_next_commit_with: Exception | None = None
        self.before_start: Any = None  # a hook run just before a start marker is checked (a racing API call)
        self.conflicts_left = 0  # the next commits fail as a DynamoDB TransactionConflict would
        self.starts: list[tuple[str, int]] = []  # (mandate id, version it was started at)
        self.limits: dict[tuple[str, str], int] = {}  # (merchant, name) -> count
        self.event_reads = 0  # range reads of the events (`events_between`)

    def _get(self, merchant_id: str, object_id: str, kind: type) -> Any:
        obj = self.items.get(_key(merchant_id, object_id, kind))
        return copy.deepcopy(obj) if isinstance(obj, kind) else None

    def get(self, model: type[S], merchant_id: str, object_id: str) -> S | None:
        found: S | None = self._get(merchant_id, object_id, model)
        if found is None and model is Account and (self.merchants is None or merchant_id in self.merchants):
            # its defaults, named after its id
            return cast(S, Account.new(merchant_id, merchant_id, datetime(2026, 1, 1, tzinfo=timezone.utc)))
        return found

    def page(self, model: type[S], merchant_id: str, page: PageRequest, **filters: str | None) -> Page[S]:
        aggregate = aggregate_of(model)
        aggregate.check(filters)
        active = {name: value for name, value in filters.items() if value is not None}

        def keep(obj: Any) -> bool:
            if aggregate.hidden_when and getattr(obj, aggregate.hidden_when):
                return False
            return all(aggregate.value(obj, name) == value for name, value in active.items())

        rows = sorted(
            (o for (m, _), o in self.items.items() if m == merchant_id and isinstance(o, model) and keep(o)),
            key=lambda o: f"{sortable(o.created_at)}#{o.id}",
            reverse=True,
        )
        bound_to = cursors.fingerprint(aggregate.name, sorted(active.items()))
        if page.cursor:
            after = cursors.decode(page.cursor, bound_to)
            rows = [o for o in rows if f"{sortable(o.created_at)}#{o.id}" < after]
        chosen = rows[: page.limit]
        has_more = len(rows) > page.limit
        next_cursor = cursors.encode(f"{sortable(chosen[-1].created_at)}#{chosen[-1].id}", bound_to) if has_more else None
        return Page([copy.deepcopy(o) for o in chosen], has_more, next_cursor)

    def load_many(self, wanted: Mapping[type, Sequence[tuple[str, str]]]) -> Loaded:
        return Loaded(
            {model: {i: o for m, i in refs if (o := self._get(m, i, model)) is not None} for model, refs in wanted.items()}
        )

    def created_between(
        self, model: type[S], merchant_id: str, start: datetime, end: datetime, page_size: int = 100
    ) -> Iterator[list[S]]:
        """As DynamoDB: created in [start, end), oldest first, lazily page by page."""
        aggregate_of(model)
        rows = sorted(
            (o for (m, _), o in self.items.items() if m == merchant_id and isinstance(o, model) and start <= o.created_at < end),
            key=lambda o: f"{sortable(o.created_at)}#{o.id}",
        )
        for at in range(0, len(rows), page_size):
            yield [copy.deepcopy(o) for o in rows[at : at + page_size]]

    def events_between(
        self, merchant_id: str, start: datetime, end: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[list[Event]]:
        """As DynamoDB: one range read of the events (counted in `event_reads`), oldest first."""
        self.event_reads += 1
        for page in self.created_between(Event, merchant_id, start, end, page_size):
            if kept := [e for e in page if e.type in types]:
                yield kept

    def refunds(self, merchant_id: str | None = None) -> list[Refund]:
        found = [o for o in self.items.values() if isinstance(o, Refund) and merchant_id in (None, o.merchant_id)]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        found = [
            DueRef(m.merchant_id, m.id, m.dispatch_at)
            for m in self.items.values()
            if isinstance(m, Mandate | Refund) and m.dispatch_at is not None and m.dispatch_at <= now
        ]
        return sorted(found, key=lambda r: (r.due_at, r.object_id))[: per_shard * DUE_SHARDS]

    def charges(self, merchant_id: str | None = None) -> list[Charge]:
        found = [o for o in self.items.values() if isinstance(o, Charge) and merchant_id in (None, o.merchant_id)]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    def load_receipt_series(self, merchant_ids: list[str]) -> dict[str, tuple[ReceiptCounter | None, Account | None]]:
        return {m: (self.get(ReceiptCounter, m, m), self.get(Account, m, m)) for m in merchant_ids}

    def number_charges(self, counter: ReceiptCounter, numbers: list[tuple[str, str, int]]) -> None:
        """As DynamoDB's transaction: every charge exists, succeeded and has no number, or nothing is written."""
        charges = []
        for charge_id, number, seq in numbers:
            charge = self.get(Charge, counter.merchant_id, charge_id)
            if charge is None or charge.status != "succeeded" or charge.receipt_number is not None:
                raise ConcurrentModification(charge_id)
            charge.receipt_number, charge.receipt_seq = number, seq
            charges.append(charge)
        self.commit(Changes(put=[*charges, counter]))

    def limit_counts(self, merchant_ids: list[str], name: str) -> dict[str, int | None]:
        return {m: self.limits.get((m, name)) for m in merchant_ids}

    def start_limit(self, merchant_id: str, name: str, value: int) -> None:
        self.limits.setdefault((merchant_id, name), value)

    def start_attempt(self, mandate: Mandate) -> None:
        if self.before_start is not None:
            hook, self.before_start = self.before_start, None
            hook()
        stored = self.items.get((mandate.merchant_id, mandate.id))
        if not isinstance(stored, Mandate) or stored.version != mandate.version:
            raise ConcurrentModification(mandate.id)
        stored = copy.deepcopy(stored)
        stored.attempt_started_at, stored.version = mandate.attempt_started_at, stored.version + 1
        self.items[(mandate.merchant_id, mandate.id)] = stored
        self.starts.append((mandate.id, mandate.version))
        mandate.version += 1

    def commit(self, changes: Changes) -> None:
        if self.fail_next_commit_with is not None:
            error, self.fail_next_commit_with = self.fail_next_commit_with, None
            raise error
        if self.conflicts_left:
            self.conflicts_left -= 1
            raise ConcurrentModification("TransactionConflict")
        aggregates = changes.put
        for obj in aggregates:
            stored = self.items.get(_key(obj.merchant_id, obj.id, type(obj)))
            if (stored.version if stored else 0) != obj.version:
                raise ConcurrentModification(obj.id)
        for event in changes.events:  # written once, as DynamoDB's attribute_not_exists(pk) does
            if (event.merchant_id, event.id) in self.items:
                raise ConcurrentModification(event.id)
        totals: dict[tuple[str, str], int] = {}
        for limit in changes.limits:  # summed per count, as the DynamoDB writer's one update per merchant
            key = (limit.merchant_id, limit.name)
            totals[key] = totals.get(key, 0) + limit.delta
        initial = {(limit.merchant_id, limit.name): limit.initial for limit in reversed(changes.limits)}
        for limit in changes.limits:
            key = (limit.merchant_id, limit.name)
            if (
                limit.maximum is not None
                and totals[key] > 0
                and key in self.limits
                and self.limits[key] + totals[key] > limit.maximum
            ):
                raise InvalidState(limit.message)
        for key, total in totals.items():
            self.limits[key] = self.limits.get(key, initial[key]) + total
        for obj in aggregates:
            obj.version += 1
            self.items[_key(obj.merchant_id, obj.id, type(obj))] = copy.deepcopy(obj)
        for event in changes.events:
            self.items[(event.merchant_id, event.id)] = copy.deepcopy(event)
        self.commits.append(copy.deepcopy(changes))

    def events(self, merchant_id: str | None = None) -> list[Event]:
        found = [o for o in self.items.values() if isinstance(o, Event) and merchant_id in (None, o.merchant_id)]
        return sorted(found, key=lambda e: (e.created_at, e.id))


class FakeGatewayQueue:
    """A gateway queue that keeps what was sent; tests deliver (and redeliver) by hand."""

    def __init__(self) -> None:
        self.messages: list[AttemptMessage | RefundMessage] = []
        self.refuse = False

    def send(self, messages: list[AttemptMessage | RefundMessage]) -> int:
        if self.refuse:
            return 0
        self.messages += messages
        return len(messages)

    def take(self) -> list[AttemptMessage | RefundMessage]:
        taken, self.messages = self.messages, []
        return taken


class FakeMailer:
    """SES as the notifier sees it: keeps every e-mail handed over, or fails as told."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.fail_with: Exception | None = None

    def send(self, to, reply_to, subject, text, html, tags, attachments=()) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(
            {
                "to": to,
                "reply_to": reply_to,
                "subject": subject,
                "text": text,
                "html": html,
                "tags": tags,
                "attachments": list(attachments),
            }
        )
        return f"ses-{len(self.sent)}"


class FakeNotificationQueue:
    """The notification queue: keeps the e-mails to consider; tests hand them to a notifier."""

    def __init__(self) -> None:
        self.messages: list[NotificationMessage] = []
        self.calls = 0  # send calls (each batched by the adapter, ten to a request)
        self.refuse = False

    def send(self, messages: Sequence[NotificationMessage]) -> None:
        self.calls += 1
        if self.refuse:
            raise RuntimeError("the notification queue refused the messages")
        self.messages += messages

    def take(self) -> list[NotificationMessage]:
        taken, self.messages = self.messages, []
        return taken


class FakeGateway:
    """The simulated gateway's behaviour with an in-memory ledger, and Stripe's memory: a key is
    remembered for `key_memory` (then the same key is a new payment), while lookups by the
    attempt's reference work for ever."""

    call_timeout = 1.0

    def __init__(self, clock: FakeClock, key_memory: timedelta | None = timedelta(hours=24)) -> None:
        from billing.adapters.simulated_gateway import behaviour

        self.behaviour, self.clock, self.key_memory = behaviour, clock, key_memory
        self.payments: list[tuple[AttemptRequest, GatewayResult, datetime]] = []  # every request it processed
        self.keys: dict[str, int] = {}  # idempotency key -> index in payments
        self.calls: list[AttemptRequest] = []  # every charge request received (replays too)
        self.lookups: list[AttemptRequest] = []
        self.timeouts_left = 0  # extra: time out (before doing anything) this many times
        self.outage = False  # every call times out before doing anything, until cleared
        self.during_call: Any = None  # a hook run while a charge call is at the gateway
        self.down_after_next_call = False  # the next new request is processed, then an outage begins
        self.refunds: list[tuple[RefundRequest, GatewayResult, datetime]] = []
        self.refund_keys: dict[str, int] = {}
        self.refund_calls: list[RefundRequest] = []
        self.after_refund: Any = None  # a hook run when a refund call returns (e.g. a crash before its record)
        # Its course after answering: bank debits settling, reversals, disputes, refunds failing later,
        # card and bank-mandate changes, each reported as a normalised gateway event in `events`.
        self.events: list[GatewayEvent] = []
        self.event_count = 0
        self.reversals: list[tuple[AttemptRequest, str, datetime]] = []
        self.disputes: dict[str, dict[str, Any]] = {}
        self.dispute_count = 0
        # money moved later (kind, mandate id, charge id, amount, currency): settled debits, reversals, lost disputes
        self.moves: list[tuple[str, str, str, int, str]] = []

    def charge(self, request: AttemptRequest) -> GatewayResult:
        self.calls.append(request)
        if self.during_call is not None:
            hook, self.during_call = self.during_call, None
            hook(request)
        if self.outage:
            raise GatewayTimeout("outage")
        if self.timeouts_left:
            self.timeouts_left -= 1
            raise GatewayTimeout("injected")
        now = self.clock.now()
        index = self.keys.get(request.idempotency_key)
        if index is not None and (self.key_memory is None or now - self.payments[index][2] <= self.key_memory):
            return self.payments[index][1]
        result = self._answer(request.token, request.attempt).model_copy(
            update={"gateway_reference": "sim_" + request.idempotency_key}
        )
        self.keys[request.idempotency_key] = len(self.payments)
        self.payments.append((request, result, now))
        if self.down_after_next_call:
            self.down_after_next_call, self.outage = False, True
            raise GatewayTimeout("processed, then the gateway went down")
        if request.token == "pm_sim_timeout":
            raise GatewayTimeout("took the money, then timed out")
        return result

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        self.lookups.append(request)
        if self.outage:
            raise GatewayTimeout("outage")
        found = [r for q, r, _ in self.payments if q.charge_id == request.charge_id and q.attempt == request.attempt]
        return found[0] if found else None

    def ledger(self) -> list[AttemptRequest]:
        """Payments that hold money now: succeeded and not reversed since."""
        reversed_ = {(request.charge_id, request.attempt) for request, _, _ in self.reversals}
        return [
            request
            for request, result, _ in self.payments
            if result.outcome == "succeeded" and (request.charge_id, request.attempt) not in reversed_
        ]

    # ------------------------------------------------------------ time (the gateway's own course)
    def _answer(self, token: str, attempt: int) -> GatewayResult:
        """The contract's table; a bank debit (a `sepa` token) is accepted as `processing` and is
        settled later by `settle` (the test decides when and how)."""
        if "_sepa_" in token:
            return GatewayResult(outcome="processing")
        if token in ("pm_sim_dispute_lost", "pm_sim_dispute_won", "pm_sim_card_updated"):
            return GatewayResult(outcome="succeeded")  # their later course is the test's to drive
        return self.behaviour(token, attempt)

    def _event(self, kind: str, merchant_id: str, **about: Any) -> GatewayEvent:
        self.event_count += 1
        event = GatewayEvent(
            id=f"evt_sim_{self.event_count}",
            gateway="simulated",
            event_type=kind,
            created=self.clock.now(),
            merchant_id=merchant_id,
            **about,
        )
        self.events.append(event)
        return event

    def take_events(self) -> list[GatewayEvent]:
        taken, self.events = self.events, []
        return taken

    def _payment_index(self, charge_id: str, attempt: int | None = None) -> int:
        found = [
            i
            for i, (q, _, _) in enumerate(self.payments)
            if q.charge_id == charge_id and (attempt is None or q.attempt == attempt)
        ]
        if not found:
            raise LookupError(f"no payment of {charge_id} (attempt {attempt}) at the gateway")
        return found[-1]

    def processing(self) -> list[AttemptRequest]:
        """Payments accepted and not settled yet."""
        return [q for q, r, _ in self.payments if r.outcome == "processing"]

    def settle(
        self, charge_id: str, attempt: int | None = None, outcome: str | None = None, code: str | None = None
    ) -> GatewayEvent:
        """A processing payment settles (by default as its token says: `sepa_insufficient_funds`
        declines, the others succeed): lookups answer it from now on, and an event reports it."""
        index = self._payment_index(charge_id, attempt)
        request, result, at = self.payments[index]
        assert result.outcome == "processing", f"{charge_id} is {result.outcome}, not processing"
        if outcome is None:
            outcome = "declined" if request.token == "pm_sim_sepa_insufficient_funds" else "succeeded"
        if outcome == "declined" and code is None:
            code = "insufficient_funds"
        settled = result.model_copy(update={"outcome": outcome, "decline_code": code if outcome != "succeeded" else None})
        self.payments[index] = (request, settled, at)
        if outcome == "succeeded":
            self.moves.append(("charge", request.mandate_id, request.charge_id, request.money.amount, request.money.currency))
        return self._payment_event(
            request, "payment_intent.succeeded" if outcome == "succeeded" else "payment_intent.payment_failed", settled
        )

    def _payment_event(
        self, request: AttemptRequest, kind: str, result: GatewayResult, outcome: str | None = None
    ) -> GatewayEvent:
        from billing.service.gateway_events import PaymentReport

        report = PaymentReport(
            charge_id=request.charge_id,
            attempt=request.attempt,
            outcome=outcome or result.outcome,  # type: ignore[arg-type]
            decline_code=result.decline_code,
            gateway_reference=result.gateway_reference,
        )
        return self._event(kind, request.merchant_id, mandate_id=request.mandate_id, payment=report)

    def processing_event(self, charge_id: str, attempt: int | None = None) -> GatewayEvent:
        """The gateway's `payment_intent.processing` for a payment it accepted (sent again, late, as a gateway may)."""
        request, result, _ = self.payments[self._payment_index(charge_id, attempt)]
        return self._payment_event(
            request, "payment_intent.processing", result.model_copy(update={"decline_code": None}), "processing"
        )

    def reverse(self, charge_id: str, attempt: int | None = None, code: str = "insufficient_funds") -> GatewayEvent:
        """A succeeded payment's money is sent back (a returned bank debit)."""
        index = self._payment_index(charge_id, attempt)
        request, result, _ = self.payments[index]
        assert result.outcome == "succeeded", f"{charge_id} is {result.outcome}: nothing to reverse"
        assert all((q.charge_id, q.attempt) != (request.charge_id, request.attempt) for q, _, _ in self.reversals)
        self.reversals.append((request, code, self.clock.now()))
        self.moves.append(("reversal", request.mandate_id, request.charge_id, request.money.amount, request.money.currency))
        reversed_ = result.model_copy(update={"decline_code": code})
        return self._payment_event(request, "payment_intent.payment_failed", reversed_, "reversed")

    def open_dispute(
        self, charge_id: str, reason: str = "general", amount: int | None = None, status: str = "needs_response"
    ) -> GatewayEvent:
        """The customer's bank claws a succeeded payment back (a bank debit's dispute is lost at once)."""
        request = next(q for q in self.ledger() if q.charge_id == charge_id)
        self.dispute_count += 1
        reference = f"dp_sim_{self.dispute_count}"
        self.disputes[reference] = {
            "request": request,
            "amount": request.money.amount if amount is None else amount,
            "reason": reason,
            "status": "needs_response",
        }
        return self.dispute_moves(reference, status, "charge.dispute.created")

    def dispute_moves(self, reference: str, status: str, kind: str = "charge.dispute.updated") -> GatewayEvent:
        """A dispute's course at the gateway (forward only here: a lost dispute's money leaves once)."""
        from billing.service.gateway_events import DisputeFacts

        dispute = self.disputes[reference]
        request: AttemptRequest = dispute["request"]
        if status == "lost" and dispute["status"] not in ("won", "lost"):  # a closed dispute stays closed
            self.moves.append(("dispute", request.mandate_id, request.charge_id, dispute["amount"], request.money.currency))
        if dispute["status"] not in ("won", "lost"):
            dispute["status"] = status
        facts = DisputeFacts(
            reference=reference,
            charge_id=request.charge_id,
            amount=dispute["amount"],
            currency=request.money.currency,
            reason=dispute["reason"],
            status=status,  # type: ignore[arg-type]
        )
        if status in ("won", "lost") and kind == "charge.dispute.updated":
            kind = "charge.dispute.closed"
        return self._event(kind, request.merchant_id, mandate_id=request.mandate_id, dispute=facts)

    def fail_refund_later(self, refund_id: str, code: str = "refund_declined") -> GatewayEvent:
        """A refund the gateway answered as succeeded fails afterwards: the money is the merchant's again."""
        from billing.service.gateway_events import RefundReport

        index = next(i for i, (q, _, _) in enumerate(self.refunds) if q.refund_id == refund_id)
        request, result, at = self.refunds[index]
        assert result.outcome == "succeeded", f"{refund_id} is {result.outcome}"
        failed = result.model_copy(update={"outcome": "declined", "decline_code": code})
        self.refunds[index] = (request, failed, at)
        report = RefundReport(
            refund_id=refund_id, outcome="declined", failure_code=code, gateway_reference=result.gateway_reference
        )
        return self._event("charge.refund.updated", request.merchant_id, mandate_id=request.mandate_id, refund=report)

    def _token_of(self, mandate_id: str) -> str | None:
        """The payment method the gateway last charged for this mandate (what its report names)."""
        return next((q.token for q, _, _ in reversed(self.payments) if q.mandate_id == mandate_id), None)

    def card_updated(self, merchant_id: str, mandate_id: str, last4: str = "4444", token: str | None = None) -> GatewayEvent:
        from billing.service.gateway_events import MethodReport

        report = MethodReport(mandate_id=mandate_id, last4=last4, payment_method=token or self._token_of(mandate_id))
        return self._event("payment_method.automatically_updated", merchant_id, mandate_id=mandate_id, method=report)

    def bank_mandate_inactive(self, merchant_id: str, mandate_id: str, token: str | None = None) -> GatewayEvent:
        from billing.service.gateway_events import MethodReport

        report = MethodReport(mandate_id=mandate_id, mandate_inactive=True, payment_method=token or self._token_of(mandate_id))
        return self._event("mandate.updated", merchant_id, mandate_id=mandate_id, method=report)

    def held(self) -> dict[tuple[str, str], int]:
        """What the gateway holds per (mandate, currency): succeeded charges - succeeded refunds -
        reversals - lost disputes (its own ledger, not the service's books)."""
        totals: dict[tuple[str, str], int] = {}
        signed = {"charge": 1, "refund": -1, "reversal": -1, "dispute": -1}
        for request, result, _ in self.payments:
            if result.outcome == "succeeded" and "_sepa_" not in request.token:
                key = (request.mandate_id, request.money.currency)
                totals[key] = totals.get(key, 0) + request.money.amount
        for kind, mandate_id, _, amount, currency in self.moves:
            totals[(mandate_id, currency)] = totals.get((mandate_id, currency), 0) + signed[kind] * amount
        for request in self.refund_ledger():
            key = (request.mandate_id, request.money.currency)
            totals[key] = totals.get(key, 0) - request.money.amount
        return {k: v for k, v in totals.items() if v}

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Like charges: once per key while the key is remembered; timeouts and outages alike."""
        from billing.adapters.simulated_gateway import refund_behaviour

        self.refund_calls.append(request)
        if self.outage:
            raise GatewayTimeout("outage")
        if self.timeouts_left:
            self.timeouts_left -= 1
            raise GatewayTimeout("injected")
        now = self.clock.now()
        known = self.refund_keys.get(request.idempotency_key)
        if known is not None and (self.key_memory is None or now - self.refunds[known][2] <= self.key_memory):
            result = self.refunds[known][1]
        else:
            result = refund_behaviour(request.token).model_copy(update={"gateway_reference": "re_" + request.refund_id})
            self.refund_keys[request.idempotency_key] = len(self.refunds)
            self.refunds.append((request, result, now))
            if self.down_after_next_call:
                self.down_after_next_call, self.outage = False, True
                raise GatewayTimeout("refunded, then the gateway went down")
        if self.after_refund is not None:
            hook, self.after_refund = self.after_refund, None
            hook()
        return result

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
        if self.outage:
            raise GatewayTimeout("outage")
        found = [r for q, r, _ in self.refunds if q.refund_id == request.refund_id]
        return found[0] if found else None

    def refund_ledger(self) -> list[RefundRequest]:
        """Money given back (each refund processed that succeeded)."""
        return [request for request, result, _ in self.refunds if result.outcome == "succeeded"]


# ----------------------------------------------------------------- webhooks
class FakeSecretBox:
    """Seals reversibly, bound to (merchant, endpoint) like the KMS encryption context."""

    def seal(self, secret: str, merchant_id: str, endpoint_id: str) -> str:
        return f"sealed:{merchant_id}:{endpoint_id}:{secret[::-1]}"

    def open(self, sealed: str, merchant_id: str, endpoint_id: str) -> str:
        prefix = f"sealed:{merchant_id}:{endpoint_id}:"
        if not sealed.startswith(prefix):
            raise PermissionError("encryption context mismatch")
        return sealed.removeprefix(prefix)[::-1]


class FakeDestinations:
    """Names and what they resolve to; anything else is public."""

    def __init__(self, blocked_hosts: set[str] | None = None) -> None:
        self.blocked_hosts = blocked_hosts or set()

    def blocked(self, url: str) -> bool:
        from urllib.parse import urlsplit

        return (urlsplit(url).hostname or "") in self.blocked_hosts


class FakeWebhookQueue:
    def __init__(self) -> None:
        self.woken: list[tuple[str, str]] = []

    def wake(self, refs, delay_seconds: int = 0) -> None:
        self.woken += list(refs)

    def later(self, ref: tuple[str, str], seconds: int, receipt_handle: str) -> bool:
        self.woken.append(ref)
        return True

    def take(self) -> list[tuple[str, str]]:
        out, self.woken = self.woken, []
        return out


class FakeSlots:
    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.held: dict[str, set[str]] = {}

    def acquire(self, merchant_id: str, endpoint_id: str, holder: str, now: datetime, until: datetime) -> bool:
        taken = self.held.setdefault(endpoint_id, set())
        if len(taken) >= self.size:
            return False
        taken.add(holder)
        return True

    def release(self, merchant_id: str, endpoint_id: str, holder: str) -> None:
        self.held.get(endpoint_id, set()).discard(holder)


class FakeSender:
    """Answers from a script (status or error per call; default 200) and keeps every request."""

    def __init__(self) -> None:
        from billing.service.ports import SendResult

        self.result = SendResult
        self.script: list[tuple[int | None, str | None]] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    def post(self, url: str, headers, body: bytes, timeout: float):
        self.requests.append((url, dict(headers), body))
        status, error = self.script.pop(0) if self.script else (200, None)
        return self.result(status, error, 12)


class FakeCards:
    """The `CardSetup` port: Stripe's customers and SetupIntents, in memory. `owned`: the
    (merchant id, token) pairs the gateway holds; `confirmed`: SetupIntent id -> (mandate id, token)."""

    def __init__(self, owned: set[tuple[str, str]] | None = None) -> None:
        self.owned = owned or set()
        self.confirmed: dict[str, tuple[str, str]] = {}
        self.bank_accounts: dict[str, str] = {}  # token -> the mandate reference the gateway holds
        self.uses: dict[str, set[tuple[str, str]]] = {}  # token -> the (merchant, mandate) recorded on it

    def create_setup_intent(
        self,
        merchant_id: str,
        mandate_id: str,
        email: str | None,
        name: str | None,
        purpose: str = "",
        method_type: str = "card",
    ) -> dict[str, str]:
        intent = f"seti_{mandate_id}{purpose}"
        return {"id": intent, "client_secret": f"{intent}_secret", "customer": f"cus_{mandate_id}"}

    def describe(self, token: str):  # -> MethodDetails
        from billing.service.ports import MethodDetails

        if token in self.bank_accounts:
            return MethodDetails(type="sepa_debit", last4="3000", mandate_reference=self.bank_accounts[token])
        return MethodDetails(type="card", last4="4242")

    def confirmed_payment_method(self, setup_intent_id: str, mandate_id: str) -> str | None:
        mandate, token = self.confirmed.get(setup_intent_id, ("", ""))
        return token if mandate == mandate_id else None

    def belongs_to(self, merchant_id: str, token: str) -> bool:
        return (merchant_id, token) in self.owned

    def record_use(self, merchant_id: str, mandate_id: str, token: str) -> None:
        self.uses.setdefault(token, set()).add((merchant_id, mandate_id))


class FakeExportQueue:
    def __init__(self) -> None:
        self.sent: list[ExportMessage] = []
        self.refuse = False

    def send(self, message: ExportMessage) -> None:
        if self.refuse:
            raise ConnectionError("the export queue did not take it")
        self.sent.append(message)


class FakeExportFiles:
    """The file store in memory: what was written under each key (bytes), how it was written (the
    chunks' sizes: never the whole file at once), and links that name the key and expiry."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.headers: dict[str, tuple[str, str]] = {}
        self.chunk_sizes: list[int] = []
        self.refusals = 0  # the next writes raise, as S3 refusing would (after reading a part)

    def write(self, key: str, chunks: Iterable[bytes], content_type: str, filename: str) -> None:
        data = bytearray()
        for chunk in chunks:
            self.chunk_sizes.append(len(chunk))
            data += chunk
            if self.refusals:
                self.refusals -= 1
                raise ConnectionError("S3 refused the part")
        self.files[key] = bytes(data)
        self.headers[key] = (content_type, filename)

    def link(self, key: str, seconds: int) -> str:
        return f"https://files.example/{key}?expires_in={seconds}"


# ----------------------------------------------------------------- reconciliation
class FakeGatewayLedger:
    """What the fake gateway reports as money moved (the `GatewayLedger` port): its payments and
    refunds as it answered them, plus entries a test adds (`extra`) or hides (`lost`)."""

    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway
        self.extra: list[Any] = []
        self.lost: set[str] = set()  # gateway references it no longer reports
        self.amounts: dict[str, int] = {}  # gateway reference -> the amount it reports instead

    def entries(self, merchant_id: str, payments_since: datetime, disputes_since: datetime, until: datetime) -> list[Any]:
        from billing.domain.reconciliation import GatewayEntry

        out: list[GatewayEntry] = []
        for request, result, at in self.gateway.payments:
            status = {"succeeded": "succeeded", "processing": "processing"}.get(result.outcome, "failed")
            ref = result.gateway_reference or ""
            out.append(
                GatewayEntry(
                    "charge",
                    status,
                    request.money.currency,
                    self.amounts.get(ref, request.money.amount),
                    at,
                    ref,
                    charge_id=request.charge_id,
                )  # fmt: skip
            )
        for refund, result, at in self.gateway.refunds:
            ref = result.gateway_reference or ""
            status = "succeeded" if result.outcome == "succeeded" else "failed"
            out.append(
                GatewayEntry(
                    "refund",
                    status,
                    refund.money.currency,
                    self.amounts.get(ref, refund.money.amount),
                    at,
                    ref,
                    charge_id=refund.charge_id,
                    refund_id=refund.refund_id,
                )  # fmt: skip
            )
        out += self.extra
        return [e for e in out if e.gateway_reference not in self.lost and payments_since <= e.at < until]


class FakeIdempotency:
    """The `Idempotency` port as Powertools keeps it (adapters/idempotency.py): one record per
    (merchant id, key); the operation and body must match (else IdempotencyConflict); only a
    success is stored (a failure can be retried with its key); a key still running is a conflict."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[Any, dict[str, Any] | None]] = {}
        self.runs = 0

    def run(
        self, request: dict[str, Any], action: Callable[[], dict[str, Any]], lambda_context: object
    ) -> tuple[dict[str, Any], bool]:
        key, payload = (request["merchant_id"], request["key"]), [request["operation"], request["body"]]
        if key in self.records:
            stored_payload, result = self.records[key]
            if stored_payload != payload:
                raise IdempotencyConflict("This Idempotency-Key was used with a different request.")
            if result is None:
                raise IdempotencyConflict("A request with this Idempotency-Key is still in flight; retry later.")
            return dict(result), True
        self.records[key] = (payload, None)
        try:
            result = action()
        except BaseException:
            del self.records[key]
            raise
        self.runs += 1
        self.records[key] = (payload, dict(result))
        return result, False
