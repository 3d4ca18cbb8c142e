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

from .model import Entity, PaymentMethod
from .money import Currency

ChargeStatus = Literal["pending", "retrying", "succeeded", "failed", "cancelled"]
UNSETTLED: frozenset[str] = frozenset({"pending", "retrying"})
AttemptOutcome = Literal["succeeded", "declined", "error"]

# Declines that no retry can fix: the contract's hard declines.
HARD_DECLINES: frozenset[str] = frozenset({"expired_card", "invalid_account", "mandate_revoked", "fraudulent"})
GATEWAY_ERROR = "gateway_error"


def charge_id(merchant_id: str, mandate_id: str, cycle: int) -> str:
    """Deterministic: the same (mandate, cycle) can never become two charges, even by mistake."""
    digest = hashlib.sha256(f"{merchant_id}|{mandate_id}|{cycle}".encode()).hexdigest()
    return f"chg_{digest[:32]}"


class GatewayResult(BaseModel):
    """What the gateway answered for one idempotency key (the same answer on every replay)."""

    model_config = ConfigDict(frozen=True)

    outcome: AttemptOutcome
    decline_code: str | None = None
    gateway_reference: str | None = None

    @property
    def hard(self) -> bool:
        return self.outcome == "declined" and self.decline_code in HARD_DECLINES


class Attempt(BaseModel):
    number: int
    at: datetime
    outcome: AttemptOutcome
    decline_code: str | None = None
    gateway_reference: str | None = None


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
    in_flight: int = 0  # number of the attempt dispatched and not yet recorded (0: none)
    in_flight_method: PaymentMethod | None = None  # pinned, so a replayed attempt sends the same request

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
        self.in_flight_method = method
        self.updated_at = now
        return self.in_flight

    def may_attempt(self, attempt: int) -> bool:
        """Whether the gateway may be asked for `attempt` now (the charger checks before calling)."""
        return not self.settled and self.in_flight == attempt and len(self.attempts) == attempt - 1

    def records(self, attempt: int) -> bool:
        """Whether `attempt` is the one awaiting its answer (False: already recorded, or stale)."""
        return attempt == len(self.attempts) + 1 and self.in_flight == attempt

    def record(self, attempt: int, result: GatewayResult, now: datetime) -> list[str]:
        """Record the gateway's answer for `attempt`; decide what happens next.

        Returns the charge event types. A duplicate (already recorded) changes nothing. A charge
        cancelled while the attempt was at the gateway still records the truth: money taken
        makes it `succeeded`.
        """
        if not self.records(attempt):
            return []
        self.attempts.append(
            Attempt(number=attempt, at=now, outcome=result.outcome, decline_code=result.decline_code, gateway_reference=result.gateway_reference)
        )
        self.in_flight, self.in_flight_method, self.updated_at = 0, None, now
        if result.outcome == "succeeded":
            self.status, self.next_attempt_at, self.failure_code = "succeeded", None, None
            return ["charge.succeeded"]
        code = result.decline_code or GATEWAY_ERROR
        if self.status == "cancelled":
            self.failure_code = code
            return []
        self.failure_code = code
        if not result.hard and not self.reopened and self.retries_used < len(self.retry_schedule_days):
            self.next_attempt_at = self.due_at + timedelta(days=self.retry_schedule_days[self.retries_used])
            self.retries_used += 1
            self.status = "retrying"
            return ["charge.retry_scheduled"]
        self.status, self.next_attempt_at = "failed", None
        return ["charge.failed"]

    def cancel(self, now: datetime) -> list[str]:
        if self.settled:
            return []
        self.status, self.next_attempt_at, self.updated_at = "cancelled", None, now
        return ["charge.cancelled"]

    def reopen(self, now: datetime) -> None:
        """A failed charge is attempted again after the payment method was replaced."""
        if self.status != "failed":
            return
        self.status, self.reopened, self.updated_at = "pending", True, now
