"""Charges: one per (mandate, cycle), with every attempt at the gateway recorded inside it.

A charge is `pending` while it is being collected, `retrying` after a soft decline with another
attempt scheduled, and settles as `succeeded`, `failed` (no more attempts) or `cancelled`.
Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .events import EventType
from .model import Entity, PaymentMethod
from .money import Currency

ChargeStatus = Literal["pending", "retrying", "succeeded", "failed", "cancelled"]
UNSETTLED: frozenset[str] = frozenset({"pending", "retrying"})
AttemptOutcome = Literal["succeeded", "declined", "error"]

# Declines that no retry can fix: the contract's hard declines.
HARD_DECLINES: frozenset[str] = frozenset({"expired_card", "invalid_account", "mandate_revoked", "fraudulent"})
GATEWAY_ERROR = "gateway_error"
# The gateway refused the request itself (payment method unknown to it, amount or currency not
# accepted, gateway not configured): no retry can fix it, so it fails the charge at once.
GATEWAY_REJECTED = "gateway_rejected"
HARD_CODES: frozenset[str] = HARD_DECLINES | {GATEWAY_REJECTED}
# A failed charge may be attempted again after a new payment method at most this many times.
MAX_REATTEMPTS = 10
# An unknown outcome is asked again with the same key only while the gateway surely still
# remembers that key (its key memory minus this margin); after that it is only looked up.
REPLAY_MARGIN = timedelta(hours=1)
# A lookup that finds nothing proves the attempt never reached the gateway only once the
# original call is surely over (the charger's timeout) and the gateway's search has caught up.
LOOKUP_GRACE = timedelta(minutes=10)


def charge_id(merchant_id: str, mandate_id: str, cycle: int) -> str:
    """Deterministic: the same (mandate, cycle) can never become two charges, even by mistake."""
    digest = hashlib.sha256(f"{merchant_id}|{mandate_id}|{cycle}".encode()).hexdigest()
    return f"chg_{digest[:32]}"


class GatewayResult(BaseModel):
    """What the gateway answered for one idempotency key (the same answer on every replay)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    outcome: AttemptOutcome
    decline_code: str | None = None
    gateway_reference: str | None = None

    @property
    def hard(self) -> bool:
        return self.outcome != "succeeded" and self.decline_code in HARD_CODES


REJECTED = GatewayResult(outcome="error", decline_code=GATEWAY_REJECTED)
NOT_RECEIVED = GatewayResult(outcome="error", decline_code=GATEWAY_ERROR)  # a lookup proved the gateway never got it


def may_replay(started_at: datetime, now: datetime, key_memory: timedelta | None) -> bool:
    """Whether an attempt started at `started_at` may still be sent again with its key: only while
    the gateway certainly remembers the key, so the resend replays instead of charging anew."""
    return key_memory is None or now - started_at < key_memory - REPLAY_MARGIN


def lookup_is_conclusive(started_at: datetime, now: datetime) -> bool:
    """Whether "not found at the gateway" proves the attempt never reached it."""
    return now - started_at >= LOOKUP_GRACE


class Attempt(GatewayResult):
    model_config = ConfigDict(frozen=False)

    number: int
    at: datetime


class Charge(Entity):
    mandate_id: str
    plan_id: str
    cycle: int
    amount: int
    currency: Currency
    due_at: datetime
    status: ChargeStatus = "pending"
    attempts: list[Attempt] = []
    next_attempt_at: datetime | None = None
    failure_code: str | None = None
    # Engine state, not part of the API object:
    retry_schedule_days: tuple[int, ...] = ()
    retries_used: int = 0
    reopened: bool = False  # re-attempted after a new payment method: one attempt, no retry schedule
    reattempts: int = 0  # times re-attempted after a new payment method (at most MAX_REATTEMPTS)
    in_flight: int = 0  # number of the attempt dispatched and not yet recorded (0: none)
    in_flight_method: PaymentMethod | None = None  # pinned, so a replayed attempt sends the same request
    in_flight_since: datetime | None = None  # when that attempt was first dispatched (its age is alarmed)

    @property
    def settled(self) -> bool:
        return self.status not in UNSETTLED

    def idempotency_key(self, attempt: int) -> str:
        """The gateway key of one attempt: a redelivered or crashed attempt replays, never recharges."""
        return f"{self.id}:{attempt}"

    def start_attempt(self, now: datetime, method: PaymentMethod) -> int:
        """Dispatch the next attempt, pinning the payment method it must use."""
        if self.in_flight:
            return self.in_flight
        self.in_flight = len(self.attempts) + 1
        self.in_flight_method, self.in_flight_since = method, now
        self.updated_at = now
        return self.in_flight

    def repin(self, method: PaymentMethod) -> None:
        """An attempt that never started at the gateway may still change its payment method."""
        if self.in_flight:
            self.in_flight_method = method

    def may_attempt(self, attempt: int) -> bool:
        """Whether the gateway may be asked for `attempt` now (the charger checks before calling)."""
        return not self.settled and self.in_flight == attempt and len(self.attempts) == attempt - 1

    def records(self, attempt: int) -> bool:
        """Whether `attempt` is the one awaiting its answer (False: already recorded, or stale)."""
        return attempt == len(self.attempts) + 1 and self.in_flight == attempt

    def record(self, attempt: int, result: GatewayResult, now: datetime, collectable: bool = True) -> list[str]:
        """Record the gateway's answer for `attempt`; decide what happens next.

        Returns the charge event types. A duplicate (already recorded) changes nothing. When the
        mandate ended while the attempt was at the gateway (`collectable` False), the truth is
        still recorded: money taken makes the charge `succeeded`; any other answer cancels it.
        """
        if not self.records(attempt):
            return []
        self.attempts.append(Attempt(number=attempt, at=now, **result.model_dump()))
        self.in_flight, self.in_flight_method, self.in_flight_since, self.updated_at = 0, None, None, now
        if result.outcome == "succeeded":
            self.status, self.next_attempt_at, self.failure_code = "succeeded", None, None
            return [EventType.CHARGE_SUCCEEDED]
        code = result.decline_code or GATEWAY_ERROR
        self.failure_code = code
        if not collectable:
            self.status, self.next_attempt_at = "cancelled", None
            return [EventType.CHARGE_CANCELLED]
        if not result.hard and not self.reopened and self.retries_used < len(self.retry_schedule_days):
            self.next_attempt_at = self.due_at + timedelta(days=self.retry_schedule_days[self.retries_used])
            self.retries_used += 1
            self.status = "retrying"
            return [EventType.CHARGE_RETRY_SCHEDULED]
        self.status, self.next_attempt_at = "failed", None
        return [EventType.CHARGE_FAILED]

    def cancel(self, now: datetime) -> list[str]:
        if self.settled:
            return []
        self.status, self.next_attempt_at, self.updated_at = "cancelled", None, now
        return [EventType.CHARGE_CANCELLED]

    @property
    def may_reopen(self) -> bool:
        return self.reattempts < MAX_REATTEMPTS

    def reopen(self, now: datetime) -> None:
        """A failed charge is attempted again after the payment method was replaced."""
        if self.status != "failed" or not self.may_reopen:
            return
        self.status, self.reopened, self.updated_at = "pending", True, now
        self.reattempts += 1
