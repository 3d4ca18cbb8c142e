"""Charging one attempt: `Charger.process(message)` first writes the attempt's start marker on
condition that the mandate is still exactly as claimed (the linearization point with cancel,
revoke and pause: a stop acknowledged before it means no gateway call), then asks the gateway
with the key (charge, attempt), resolves an unknown outcome by asking again with the same key,
and records the attempt, the charge and the mandate's next state, with their events, in one
transaction. When the stored mandate no longer matches the message (a redelivery, a stop, a
resend) it reads the fresh state and does only what `engine.next_step` allows: nothing,
start, ask again with the same key while the gateway remembers it, or look the attempt up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain.charge import NOT_RECEIVED, REJECTED, Charge, GatewayResult, lookup_is_conclusive
from ..domain.engine import Step, next_step, settle, start
from ..domain.errors import ConcurrentModification
from ..domain.model import Mandate
from ..domain.refunds import Refund
from ..observability import logger
from .concurrency import MAX_CONFLICT_RETRIES, retry_on_conflict
from .event_recorder import EventRecorder
from .messages import AttemptMessage, RefundMessage
from .ports import (
    AttemptRequest,
    Changes,
    Clock,
    GatewayTimeout,
    GatewayUnavailable,
    IdGenerator,
    PaymentGateway,
    RefundRequest,
    Repository,
)


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

    def charge(self, request: AttemptRequest) -> GatewayResult:
        return REJECTED

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        return None

    def refund(self, request: RefundRequest) -> GatewayResult:
        return REJECTED

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
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
        self.recorder = EventRecorder(ids)
        self.resolve_attempts, self.write_margin = resolve_attempts, write_margin_seconds

    def process(self, message: AttemptMessage, remaining: Callable[[], float] | None = None) -> ChargeOutcome:
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
                    if charge.processing_attempt == message.attempt and mandate.open_charge_id == charge.id:
                        # A bank debit's settlement check: the message is the claim the dispatcher just
                        # saved, so no read; the lookup only reads the gateway and its record is
                        # conditional on these versions (a stale claim is read again then).
                        step = Step.LOOKUP
                        continue
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
            # A processing debit is known to be at the gateway: not finding it is never "not received".
            since = None if charge.processing_attempt else mandate.attempt_started_at
            answer = self._lookup(lambda: gateway.lookup(request), request.idempotency_key, since)
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

    def _fresh(self, message: AttemptMessage) -> tuple[Mandate, Charge, Step]:
        loaded = self.repo.load_many(
            {Mandate: [(message.merchant_id, message.mandate_id)], Charge: [(message.merchant_id, message.charge_id)]}
        )
        mandates, charges = loaded.of(Mandate), loaded.of(Charge)
        mandate, charge = mandates.get(message.mandate_id), charges.get(message.charge_id)
        if mandate is None or charge is None or charge.mandate_id != mandate.id:
            logger.warning("charge %s or mandate %s not found; message dropped", message.charge_id, message.mandate_id)
            return message.mandate, message.charge, Step.SKIP
        key_memory = self._gateway(charge).key_memory if charge.in_flight_method is not None else None
        return mandate, charge, next_step(mandate, charge, message.attempt, self.clock.now(), key_memory)

    @staticmethod
    def _request(charge: Charge, attempt: int) -> AttemptRequest:
        method = charge.in_flight_method
        assert method is not None
        return AttemptRequest(
            idempotency_key=charge.idempotency_key(attempt),
            money=charge.money,
            token=method.token,
            merchant_id=charge.merchant_id,
            mandate_id=charge.mandate_id,
            charge_id=charge.id,
            attempt=attempt,
            method_type=method.type,
        )

    def _ask(
        self, message: AttemptMessage, gateway: PaymentGateway, request: AttemptRequest, remaining: Callable[[], float] | None
    ) -> tuple[GatewayResult, int]:
        """Ask with the attempt's key; a timeout is asked again with the same key, never as a new
        charge, and only while no stop was acknowledged meanwhile (the first request may never
        have arrived: sending it again after a stop could start a payment after the stop). Then
        the message comes back, and the attempt is looked up."""
        return self._ask_same_key(
            lambda: gateway.charge(request),
            request.idempotency_key,
            gateway,
            remaining,
            still_allowed=lambda: self._fresh(message)[2] is Step.ASK,
        )

    def _ask_same_key(
        self,
        call: Callable[[], GatewayResult],
        key: str,
        gateway: PaymentGateway,
        remaining: Callable[[], float] | None,
        still_allowed: Callable[[], bool] | None = None,
    ) -> tuple[GatewayResult, int]:
        """`call` (one request with `key`), asked again after a timeout while the invocation has time
        (and `still_allowed`); an outcome still unknown is left to the message coming back."""
        timeouts = 0
        for _ in range(self.resolve_attempts):
            try:
                return call(), timeouts
            except GatewayTimeout:
                timeouts += 1
                if remaining is not None and remaining() < gateway.call_timeout + self.write_margin:
                    break
                if still_allowed is not None and not still_allowed():
                    break
        raise OutcomeUnknown(f"{key}: outcome still unknown after {timeouts} tries")

    def _lookup(self, find: Callable[[], GatewayResult | None], key: str, started_at: datetime | None) -> GatewayResult:
        """Only read what the gateway did (`find`); never send the request again. Not found is
        conclusive (never received) only once the original call is surely over (never when
        `started_at` is None: the gateway said it has it)."""
        try:
            found = find()
        except (GatewayTimeout, GatewayUnavailable) as error:
            raise OutcomeUnknown(f"{key}: the gateway cannot tell yet ({type(error).__name__})") from error
        if found is not None:
            return found
        if started_at is not None and lookup_is_conclusive(started_at, self.clock.now()):
            return NOT_RECEIVED
        raise OutcomeUnknown(f"{key}: not found at the gateway yet")

    # ------------------------------------------------------------------ refunds
    def process_refund(self, message: RefundMessage, remaining: Callable[[], float] | None = None) -> ChargeOutcome:
        """Send a pending refund to the gateway exactly once: the start marker is written (on the
        refund's version) before the first call; after it, the same key is asked again while the
        gateway remembers it, then the refund is only looked up. The answer settles the refund and
        the charge's reservation in one transaction."""
        for _ in range(MAX_CONFLICT_RETRIES):
            refund = self.repo.get(Refund, message.merchant_id, message.refund_id)
            if refund is None:
                logger.warning("refund %s not found; message dropped", message.refund_id)
                return ChargeOutcome("skipped")
            gateway = self.gateways.get(refund.payment_method.gateway) or _MissingGateway()
            step = refund.next_step(self.clock.now(), gateway.key_memory)
            if step is Step.DONE:
                return ChargeOutcome("duplicate", refund.status)
            self._ensure_time(gateway, remaining)
            request = _refund_request(refund)
            if step is Step.START:
                # Not sent yet: money returned or disputed since it was asked for is not refunded too.
                charge = self.repo.get(Charge, message.merchant_id, refund.charge_id)
                blocked = charge.refund_blocked() if charge is not None else "gateway_rejected"
                if blocked is not None:
                    return self._record_refund(message, GatewayResult(outcome="declined", decline_code=blocked))
                refund.start(self.clock.now())
                try:
                    self.repo.commit(Changes(put=[refund]))
                except ConcurrentModification:
                    continue  # another delivery started it: decide again on the fresh state
            if step is Step.LOOKUP:
                assert refund.started_at is not None
                answer = self._lookup(lambda: gateway.lookup_refund(request), request.idempotency_key, refund.started_at)
            else:
                answer, _ = self._ask_same_key(lambda: gateway.refund(request), request.idempotency_key, gateway, remaining)
            return self._record_refund(message, answer)
        raise ConcurrentModification(f"{message.refund_id}: the refund kept changing")

    def _record_refund(self, message: RefundMessage, answer: GatewayResult) -> ChargeOutcome:
        def once(_: int) -> ChargeOutcome:
            refund = self.repo.get(Refund, message.merchant_id, message.refund_id)
            charge = self.repo.get(Charge, message.merchant_id, refund.charge_id) if refund else None
            if refund is None or charge is None:
                raise ConcurrentModification(f"{message.refund_id} or its charge disappeared")
            now = self.clock.now()
            refund_events = refund.record(answer, now)
            if not refund_events:
                if answer.outcome == "processing" and not refund.settled:  # looked up again later
                    self.repo.commit(Changes(put=[refund]))
                    return ChargeOutcome("recorded", refund.status, amount=refund.amount, currency=refund.currency)
                return ChargeOutcome("duplicate", refund.status)
            charge_events = charge.refund_settled(refund.amount, refund.status == "succeeded", now)
            events = self.recorder.events([(refund, refund_events), (charge, charge_events)], now)
            self.repo.commit(Changes(put=[refund, charge], events=events))
            return ChargeOutcome(
                "recorded",
                refund.status,
                amount=refund.amount,
                currency=refund.currency,
                events=[e.type for e in events],
                failure_code=refund.failure_code,
            )

        return retry_on_conflict(once)

    def _record(
        self, message: AttemptMessage, mandate: Mandate, charge: Charge, answer: GatewayResult, timeouts: int
    ) -> ChargeOutcome:
        """Record the gateway's answer; an API write that raced us is read and the answer recorded on it."""

        def once(number: int) -> ChargeOutcome:
            nonlocal mandate, charge
            if number:
                loaded = self.repo.load_many(
                    {Mandate: [(message.merchant_id, message.mandate_id)], Charge: [(message.merchant_id, message.charge_id)]}
                )
                mandates, charges = loaded.of(Mandate), loaded.of(Charge)
                if message.mandate_id not in mandates or message.charge_id not in charges:
                    raise ConcurrentModification(f"{message.charge_id} or its mandate disappeared")
                mandate, charge = mandates[message.mandate_id], charges[message.charge_id]
            now = self.clock.now()
            settlement = settle(mandate, charge, message.attempt, answer, now)
            if not settlement.recorded:
                return ChargeOutcome("duplicate", charge.status, gateway_timeouts=timeouts)
            events = self.recorder.events([(charge, settlement.charge_events), (mandate, settlement.mandate_events)], now)
            changes = Changes(put=[mandate, charge], events=events)
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


def _refund_request(refund: Refund) -> RefundRequest:
    return RefundRequest(
        idempotency_key=refund.idempotency_key,
        money=refund.money,
        token=refund.payment_method.token,
        charge_reference=refund.charge_reference,
        reason=refund.reason,
        merchant_id=refund.merchant_id,
        mandate_id=refund.mandate_id,
        charge_id=refund.charge_id,
        refund_id=refund.id,
    )
