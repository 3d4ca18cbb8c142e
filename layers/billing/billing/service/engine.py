"""The billing engine's use cases: dispatch due work, then charge it.

`Dispatcher.run(now)` reads the due index (only what is due), claims each mandate with a
version-checked transaction (overlapping runs: one wins, the other sees a conflict and moves
on), and sends one message per claimed attempt. A claim that is never completed (crash before
sending, lost message) becomes due again when its lease ends and is sent again with the same
attempt number.

`Charger.process(message)` asks the gateway for that attempt with the key (charge, attempt),
resolves an unknown outcome by asking again with the same key, and records the attempt, the
charge and the mandate's next state, with their events, in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain.charge import Charge, GatewayResult
from ..domain.collection import claim, settle
from ..domain.errors import ConcurrentModification
from ..domain.model import Mandate
from ..schemas import ChargeMessage
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

logger = logging.getLogger(__name__)

MAX_CONFLICT_RETRIES = 5


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


@dataclass
class _Claimed:
    message: ChargeMessage | None = None
    new_charge: bool = False
    resent: bool = False
    resumed: bool = False
    conflict: bool = False
    error: bool = False
    lag: float = 0.0


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
        mandate = mandates.get(ref.mandate_id)
        for attempt in range(MAX_CONFLICT_RETRIES):
            if mandate is None or mandate.merchant_id != ref.merchant_id:
                return _Claimed()  # gone from under the index entry
            charge = charges.get(mandate.open_charge_id) if mandate.open_charge_id else None
            resend = charge is not None and charge.in_flight > 0
            was_paused = mandate.status == "paused"
            try:
                result = claim(mandate, charge, now, now + self.lease)
            except LookupError:
                logger.error("mandate %s points to a missing charge; skipped", mandate.id)
                return _Claimed(error=True)
            if not result.changed:
                return _Claimed()
            objects = [(mandate, result.mandate_events)]
            if result.charge is not None:
                objects.append((result.charge, result.charge_events))
            changes = Changes(
                mandates=[mandate],
                charges=[result.charge] if result.charge is not None else [],
                events=self.presenter.events(objects, now),
            )
            try:
                self.repo.commit(changes)
            except ConcurrentModification:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    return _Claimed(conflict=True)
                # Another run or an API write got there first: decide again on fresh state.
                fresh_mandates, _ = self.repo.load([(ref.merchant_id, ref.mandate_id)], [])
                mandate = fresh_mandates.get(ref.mandate_id)
                if mandate is not None and mandate.open_charge_id:
                    _, fresh_charges = self.repo.load([], [(mandate.merchant_id, mandate.open_charge_id)])
                    charges = {**charges, **fresh_charges}
                continue
            out = _Claimed(resumed=was_paused and "mandate.resumed" in result.mandate_events)
            if result.charge is not None and result.attempt is not None:
                out.message = ChargeMessage(
                    merchant_id=mandate.merchant_id,
                    mandate_id=mandate.id,
                    charge_id=result.charge.id,
                    attempt=result.attempt,
                    due_at=ref.due_at,
                    dispatched_at=now,
                )
                out.new_charge = charge is None
                out.resent = resend
                out.lag = max(0.0, (now - ref.due_at).total_seconds())
            return out
        return _Claimed(conflict=True)  # pragma: no cover


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


class OutcomeUnknown(Exception):
    """The gateway did not tell us what happened: the message must come back (same key)."""


class Charger:
    def __init__(
        self,
        repo: Repository,
        gateways: dict[str, PaymentGateway],
        clock: Clock,
        ids: IdGenerator,
        resolve_attempts: int = 3,
    ) -> None:
        self.repo, self.gateways, self.clock = repo, gateways, clock
        self.presenter = Presenter(ids)
        self.resolve_attempts = resolve_attempts

    def preload(self, messages: Iterable[ChargeMessage]) -> tuple[dict[str, Mandate], dict[str, Charge]]:
        """One read for a whole batch: every message's mandate and charge."""
        messages = list(messages)
        return self.repo.load(
            [(m.merchant_id, m.mandate_id) for m in messages], [(m.merchant_id, m.charge_id) for m in messages]
        )

    def process(self, message: ChargeMessage, preloaded: tuple[dict[str, Mandate], dict[str, Charge]] | None = None) -> ChargeOutcome:
        mandate, charge = self._read(message, preloaded)
        if mandate is None or charge is None or charge.mandate_id != mandate.id:
            logger.warning("charge %s or mandate %s not found; message dropped", message.charge_id, message.mandate_id)
            return ChargeOutcome("skipped")
        if not charge.may_attempt(message.attempt):
            # Recorded already (a redelivery), superseded, or cancelled before it reached the gateway.
            return ChargeOutcome("duplicate" if len(charge.attempts) >= message.attempt else "skipped", charge.status)
        answer, timeouts = self._ask_gateway(charge, message)
        for attempt in range(MAX_CONFLICT_RETRIES):
            now = self.clock.now()
            settlement = settle(mandate, charge, message.attempt, answer, now)
            if not settlement.recorded:
                return ChargeOutcome("duplicate", charge.status, gateway_timeouts=timeouts)
            changes = Changes(
                mandates=[mandate],
                charges=[charge],
                events=self.presenter.events([(charge, settlement.charge_events), (mandate, settlement.mandate_events)], now),
            )
            try:
                self.repo.commit(changes)
            except ConcurrentModification:
                if attempt == MAX_CONFLICT_RETRIES - 1:
                    raise
                mandate, charge = self._read(message, None)  # an API write raced us: redo on fresh state
                if mandate is None or charge is None:
                    raise
                continue
            return ChargeOutcome(
                "recorded",
                charge.status,
                amount=charge.amount,
                currency=charge.currency,
                events=[e.type for e in changes.events],
                gateway_timeouts=timeouts,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(
        self, message: ChargeMessage, preloaded: tuple[dict[str, Mandate], dict[str, Charge]] | None
    ) -> tuple[Mandate | None, Charge | None]:
        if preloaded is not None and message.charge_id in preloaded[1] and message.mandate_id in preloaded[0]:
            # Taken out of the batch's preload: another message for the same charge or mandate reads fresh state.
            mandates, charges = preloaded
            mandate, charge = mandates.pop(message.mandate_id), charges.pop(message.charge_id)
        else:
            mandates, charges = self.preload([message])
            mandate, charge = mandates.get(message.mandate_id), charges.get(message.charge_id)
        if mandate is not None and mandate.merchant_id != message.merchant_id:
            return None, None
        return mandate, charge

    def _ask_gateway(self, charge: Charge, message: ChargeMessage) -> tuple[GatewayResult, int]:
        method = charge.in_flight_method
        assert method is not None, "an attempt in flight always has its payment method pinned"
        gateway = self.gateways.get(method.gateway)
        if gateway is None:
            raise GatewayUnavailable(f"gateway '{method.gateway}' is not configured")
        request = ChargeRequest(
            idempotency_key=charge.idempotency_key(message.attempt),
            amount=charge.amount,
            currency=charge.currency,
            token=method.token,
            merchant_id=charge.merchant_id,
            mandate_id=charge.mandate_id,
            charge_id=charge.id,
            attempt=message.attempt,
        )
        timeouts = 0
        for _ in range(self.resolve_attempts):
            try:
                return gateway.charge(request), timeouts
            except GatewayTimeout:
                timeouts += 1  # unknown: ask again with the same key; never a new charge
        raise OutcomeUnknown(f"{request.idempotency_key}: outcome still unknown after {timeouts} tries")
