"""The billing engine's use cases: dispatch due work, then charge it.

`Dispatcher.run(now)` reads the due index (only what is due), claims each mandate with a
version-checked transaction (overlapping runs: one wins, the other sees a conflict and moves
on), and sends one message per claimed attempt. A claim that is never completed (crash before
sending, lost message) becomes due again when its lease ends and is sent again with the same
attempt number.

`Charger.process(message)` first writes the attempt's start marker on condition that the
mandate is still exactly as claimed (the linearization point with cancel, revoke and pause: a
stop acknowledged before it means no gateway call), then asks the gateway with the key
(charge, attempt), resolves an unknown outcome by asking again with the same key, and records
the attempt, the charge and the mandate's next state, with their events, in one transaction.
When the stored mandate no longer matches the message (a redelivery, a stop, a resend) it reads
the fresh state and does only what `collection.next_step` allows: nothing, start, ask again
with the same key while the gateway remembers it, or look the attempt up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from ..domain.charge import NOT_RECEIVED, REJECTED, Charge, GatewayResult, lookup_is_conclusive
from ..domain.collection import Step, claim, next_step, settle, start
from ..domain.errors import ConcurrentModification
from ..domain.events import EventType
from ..domain.model import Mandate
from ..observability import logger
from .concurrency import MAX_CONFLICT_RETRIES, retry_on_conflict
from .messages import ChargeMessage
from .ports import (
    Changes,
    ChargeQueue,
    ChargeRequest,
    Clock,
    DueRef,
    GatewayTimeout,
    GatewayUnavailable,
    IdGenerator,
    PaymentGateway,
    Repository,
)
from .presenter import Presenter


# ------------------------------------------------------------------ dispatcher
@dataclass
class DispatchReport:
    found: int = 0  # due index entries read
    dispatched: int = 0  # attempts sent to the charge queue
    new_charges: int = 0
    resent: int = 0  # attempts sent again after their lease ran out
    resumed: int = 0
    conflicts: int = 0  # lost a race (another run or an API write); looked at again next run
    errors: int = 0  # failed to claim (e.g. throttled); still due, so the next run tries again
    not_sent: int = 0  # refused by the queue; sent again when the lease ends
    max_lag_seconds: float = 0.0  # how long the oldest dispatched item had been due
    oldest_unsettled_seconds: float = 0.0  # age of the oldest attempt sent again (still without an outcome)


@dataclass
class _Claimed:
    message: ChargeMessage | None = None
    new_charge: bool = False
    resent: bool = False
    resumed: bool = False
    conflict: bool = False
    error: bool = False
    lag: float = 0.0
    unsettled_age: float = 0.0


class Dispatcher:
    def __init__(
        self,
        repo: Repository,
        queue: ChargeQueue,
        ids: IdGenerator,
        lease: timedelta = timedelta(minutes=15),
        max_per_run: int = 5000,
        shards: int = 64,
        workers: int = 16,
    ) -> None:
        self.repo, self.queue, self.lease = repo, queue, lease
        self.presenter = Presenter(ids)
        self.max_per_run, self.shards, self.workers = max_per_run, shards, workers

    def run(self, now: datetime) -> DispatchReport:
        per_shard = max(1, -(-self.max_per_run // self.shards))  # ceil: fair share of every shard
        due = self.repo.due(now, per_shard)
        report = DispatchReport(found=len(due))
        if not due:
            return report
        mandates, charges = self._load(due)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda ref: self._claim_safely(ref, now, mandates, charges), due))
        messages = [r.message for r in results if r.message is not None]
        accepted = self.queue.send(messages) if messages else 0
        report.dispatched = accepted
        report.not_sent = len(messages) - accepted
        report.new_charges = sum(r.new_charge for r in results)
        report.resent = sum(r.resent for r in results)
        report.resumed = sum(r.resumed for r in results)
        report.conflicts = sum(r.conflict for r in results)
        report.errors = sum(r.error for r in results)
        report.max_lag_seconds = max((r.lag for r in results if r.message is not None), default=0.0)
        report.oldest_unsettled_seconds = max((r.unsettled_age for r in results), default=0.0)
        return report

    def _load(self, due: list[DueRef]) -> tuple[dict[str, Mandate], dict[str, Charge]]:
        mandates, _ = self.repo.load([(d.merchant_id, d.mandate_id) for d in due], [])
        open_charges = [(m.merchant_id, m.open_charge_id) for m in mandates.values() if m.open_charge_id]
        _, charges = self.repo.load([], open_charges) if open_charges else ({}, {})
        return mandates, charges

    def _claim_safely(self, ref: DueRef, now: datetime, mandates: dict[str, Mandate], charges: dict[str, Charge]) -> _Claimed:
        """One mandate's failure (throttling, a bug) must not hold back the others' messages."""
        try:
            return self._claim(ref, now, mandates, charges)
        except Exception:
            logger.exception("could not claim mandate %s; it stays due", ref.mandate_id)
            return _Claimed(error=True)

    def _claim(self, ref: DueRef, now: datetime, mandates: dict[str, Mandate], charges: dict[str, Charge]) -> _Claimed:
        def once(number: int) -> _Claimed:
            if number:  # another run or an API write got there first: decide again on fresh state
                fresh_mandates, _ = self.repo.load([(ref.merchant_id, ref.mandate_id)], [])
                mandates.update(fresh_mandates)
                fresh = fresh_mandates.get(ref.mandate_id)
                if fresh is None:
                    mandates.pop(ref.mandate_id, None)
                elif fresh.open_charge_id:
                    charges.update(self.repo.load([], [(fresh.merchant_id, fresh.open_charge_id)])[1])
            return self._claim_once(ref, now, mandates, charges)

        try:
            return retry_on_conflict(once)
        except ConcurrentModification:
            return _Claimed(conflict=True)  # still due: looked at again next run

    def _claim_once(self, ref: DueRef, now: datetime, mandates: dict[str, Mandate], charges: dict[str, Charge]) -> _Claimed:
        mandate = mandates.get(ref.mandate_id)
        if mandate is None or mandate.merchant_id != ref.merchant_id:
            return _Claimed()  # gone from under the index entry
        charge = charges.get(mandate.open_charge_id) if mandate.open_charge_id else None
        was_paused = mandate.status == "paused"
        try:
            result = claim(mandate, charge, now, now + self.lease)
        except LookupError:
            logger.error("mandate %s points to a missing charge; skipped", mandate.id)
            return _Claimed(error=True)
        if not result.changed:
            return _Claimed()
        message = None
        if result.charge is not None and result.attempt is not None:
            # Built, and so validated, before the claim is saved: a claim that cannot be sent is never written.
            try:
                message = ChargeMessage(
                    merchant_id=mandate.merchant_id,
                    mandate_id=mandate.id,
                    charge_id=result.charge.id,
                    attempt=result.attempt,
                    due_at=ref.due_at,
                    dispatched_at=now,
                    mandate=mandate.model_copy(update={"version": mandate.version + 1}),
                    charge=result.charge.model_copy(update={"version": result.charge.version + 1}),
                )
            except ValidationError as error:
                logger.error("claim of mandate %s not saved: its message is invalid (%s)", mandate.id, error.errors()[0]["msg"])
                return _Claimed(error=True)
        objects: list[tuple[Mandate | Charge, list[str]]] = [(mandate, result.mandate_events)]
        if result.charge is not None:
            objects.append((result.charge, result.charge_events))
        changes = Changes(
            mandates=[mandate],
            charges=[result.charge] if result.charge is not None else [],
            events=self.presenter.events(objects, now),
        )
        self.repo.commit(changes)
        out = _Claimed(resumed=was_paused and EventType.MANDATE_RESUMED in result.mandate_events)
        if message is not None:
            assert result.charge is not None
            out.message = message
            out.new_charge = charge is None
            out.resent = result.resent
            out.lag = max(0.0, (now - ref.due_at).total_seconds())
            if result.resent and result.charge.in_flight_since is not None:
                out.unsettled_age = max(0.0, (now - result.charge.in_flight_since).total_seconds())
        return out


# --------------------------------------------------------------------- charger
@dataclass
class ChargeOutcome:
    """What processing one message did (the handler turns it into metrics)."""

    status: str  # "recorded", "duplicate", "skipped"
    charge_status: str | None = None
    amount: int = 0
    currency: str | None = None
    events: list[str] = field(default_factory=list)
    gateway_timeouts: int = 0
    looked_up: bool = False
    failure_code: str | None = None


class OutcomeUnknown(Exception):
    """The gateway did not tell us what happened: the message must come back (same key, or a lookup)."""


class NoTimeLeft(Exception):
    """Too little of the invocation is left for a gateway call: the attempt is not started; the
    message comes back after its visibility timeout."""


class _MissingGateway:
    """A payment method whose gateway this deployment does not have: rejected, never sent."""

    key_memory: timedelta | None = None
    call_timeout = 0.0

    def charge(self, request: ChargeRequest) -> GatewayResult:
        return REJECTED

    def lookup(self, request: ChargeRequest) -> GatewayResult | None:
        return None


class Charger:
    def __init__(
        self,
        repo: Repository,
        gateways: dict[str, PaymentGateway],
        clock: Clock,
        ids: IdGenerator,
        resolve_attempts: int = 3,
        write_margin_seconds: float = 5.0,
    ) -> None:
        self.repo, self.gateways, self.clock = repo, gateways, clock
        self.presenter = Presenter(ids)
        self.resolve_attempts, self.write_margin = resolve_attempts, write_margin_seconds

    def process(self, message: ChargeMessage, remaining: Callable[[], float] | None = None) -> ChargeOutcome:
        """`remaining`: seconds left in this invocation (None: no limit)."""
        mandate, charge = message.claimed()
        step = Step.START  # on the happy path the message is exactly the stored claim: no read
        for _ in range(MAX_CONFLICT_RETRIES):
            if step is Step.DONE:
                return ChargeOutcome("duplicate", charge.status)
            if step is Step.SKIP:
                return ChargeOutcome("skipped", charge.status)
            gateway = self._gateway(charge)  # the fresh charge's pinned method after a re-read
            self._ensure_time(gateway, remaining)
            request = self._request(charge, message.attempt)
            if step is Step.START:
                if not start(mandate, charge, message.attempt, self.clock.now()):
                    mandate, charge, step = self._fresh(message)
                    continue
                try:
                    self.repo.start_attempt(mandate)
                except ConcurrentModification:
                    mandate, charge, step = self._fresh(message)  # a stop or another change came first
                    continue
                answer, timeouts = self._ask(message, gateway, request, remaining)
                return self._record(message, mandate, charge, answer, timeouts)
            if step is Step.ASK:
                answer, timeouts = self._ask(message, gateway, request, remaining)
                return self._record(message, mandate, charge, answer, timeouts)
            assert mandate.attempt_started_at is not None
            answer = self._lookup(gateway, request, mandate.attempt_started_at)
            outcome = self._record(message, mandate, charge, answer, 0)
            outcome.looked_up = True
            return outcome
        raise ConcurrentModification(f"{message.charge_id}: the mandate kept changing")

    # ------------------------------------------------------------- helpers
    def _gateway(self, charge: Charge) -> PaymentGateway:
        method = charge.in_flight_method
        assert method is not None, "an attempt in flight always has its payment method pinned"
        return self.gateways.get(method.gateway) or _MissingGateway()

    def _ensure_time(self, gateway: PaymentGateway, remaining: Callable[[], float] | None) -> None:
        if remaining is not None and remaining() < gateway.call_timeout + self.write_margin:
            raise NoTimeLeft(f"{remaining():.1f} s left, a gateway call may take {gateway.call_timeout:.0f} s")

    def _fresh(self, message: ChargeMessage) -> tuple[Mandate, Charge, Step]:
        mandates, charges = self.repo.load(
            [(message.merchant_id, message.mandate_id)], [(message.merchant_id, message.charge_id)]
        )
        mandate, charge = mandates.get(message.mandate_id), charges.get(message.charge_id)
        if mandate is None or charge is None or charge.mandate_id != mandate.id:
            logger.warning("charge %s or mandate %s not found; message dropped", message.charge_id, message.mandate_id)
            return message.mandate, message.charge, Step.SKIP
        key_memory = self._gateway(charge).key_memory if charge.in_flight_method is not None else None
        return mandate, charge, next_step(mandate, charge, message.attempt, self.clock.now(), key_memory)

    @staticmethod
    def _request(charge: Charge, attempt: int) -> ChargeRequest:
        method = charge.in_flight_method
        assert method is not None
        return ChargeRequest(
            idempotency_key=charge.idempotency_key(attempt),
            amount=charge.amount,
            currency=charge.currency,
            token=method.token,
            merchant_id=charge.merchant_id,
            mandate_id=charge.mandate_id,
            charge_id=charge.id,
            attempt=attempt,
        )

    def _ask(
        self, message: ChargeMessage, gateway: PaymentGateway, request: ChargeRequest, remaining: Callable[[], float] | None
    ) -> tuple[GatewayResult, int]:
        """Ask with the attempt's key; a timeout is asked again with the same key, never as a new
        charge, and only while no stop was acknowledged meanwhile (the first request may never
        have arrived: sending it again after a stop could start a payment after the stop). Then
        the message comes back, and the attempt is looked up."""
        timeouts = 0
        for _ in range(self.resolve_attempts):
            try:
                return gateway.charge(request), timeouts
            except GatewayTimeout:
                timeouts += 1
                if remaining is not None and remaining() < gateway.call_timeout + self.write_margin:
                    break
                if self._fresh(message)[2] is not Step.ASK:
                    break
        raise OutcomeUnknown(f"{request.idempotency_key}: outcome still unknown after {timeouts} tries")

    def _lookup(self, gateway: PaymentGateway, request: ChargeRequest, started_at: datetime) -> GatewayResult:
        """Only read what the gateway did; never send the attempt again."""
        try:
            found = gateway.lookup(request)
        except (GatewayTimeout, GatewayUnavailable) as error:
            raise OutcomeUnknown(f"{request.idempotency_key}: the gateway cannot tell yet ({type(error).__name__})") from error
        if found is not None:
            return found
        if lookup_is_conclusive(started_at, self.clock.now()):
            return NOT_RECEIVED
        raise OutcomeUnknown(f"{request.idempotency_key}: not found at the gateway yet")

    def _record(
        self, message: ChargeMessage, mandate: Mandate, charge: Charge, answer: GatewayResult, timeouts: int
    ) -> ChargeOutcome:
        """Record the gateway's answer; an API write that raced us is read and the answer recorded on it."""

        def once(number: int) -> ChargeOutcome:
            nonlocal mandate, charge
            if number:
                mandates, charges = self.repo.load(
                    [(message.merchant_id, message.mandate_id)], [(message.merchant_id, message.charge_id)]
                )
                if message.mandate_id not in mandates or message.charge_id not in charges:
                    raise ConcurrentModification(f"{message.charge_id} or its mandate disappeared")
                mandate, charge = mandates[message.mandate_id], charges[message.charge_id]
            now = self.clock.now()
            settlement = settle(mandate, charge, message.attempt, answer, now)
            if not settlement.recorded:
                return ChargeOutcome("duplicate", charge.status, gateway_timeouts=timeouts)
            changes = Changes(
                mandates=[mandate],
                charges=[charge],
                events=self.presenter.events([(charge, settlement.charge_events), (mandate, settlement.mandate_events)], now),
            )
            self.repo.commit(changes)
            return ChargeOutcome(
                "recorded",
                charge.status,
                amount=charge.amount,
                currency=charge.currency,
                events=[e.type for e in changes.events],
                gateway_timeouts=timeouts,
                failure_code=charge.failure_code,
            )

        return retry_on_conflict(once)
