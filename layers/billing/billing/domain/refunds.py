"""Refunds: money given back on a succeeded charge, exactly once at the gateway.

A refund is created `pending` with its amount reserved on the charge (same transaction, on the
charge's version). The billing engine sends it to the gateway with the refund's id as the
idempotency key: first a start marker is written (so it is known whether the gateway may have
seen the key), then the gateway is asked; an unknown outcome is asked again with the same key
while the gateway still remembers it, and only looked up after that. The outcome settles it
`succeeded` or `failed` and ends the reservation. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from .charge import GATEWAY_ERROR, SETTLEMENT_RECHECK, Charge, GatewayResult, may_replay
from .engine import Step
from .errors import InvalidState
from .events import EventType
from .lifecycles import REFUND
from .lifecycles import RefundStatus as RefundStatus
from .model import Entity, PaymentMethod
from .money import Currency, Money

RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent", "other"]
REFUND_DECLINED = "refund_declined"


class Refund(Entity):
    charge_id: str
    mandate_id: str
    amount: int
    currency: Currency
    reason: RefundReason = "requested_by_customer"
    status: RefundStatus = "pending"
    failure_code: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    # Engine state, not part of the API object:
    payment_method: PaymentMethod  # what the charge was paid with (the gateway that holds the money)
    charge_reference: str | None = None  # the gateway's reference of the payment refunded
    gateway_reference: str | None = None
    claimed_until: datetime | None = None  # dispatch lease: sent to the engine, awaiting its result
    started_at: datetime | None = None  # start marker: the gateway may have seen the key since then
    # When the money moved (reconciliation dates each movement by them): the refund recorded
    # `succeeded`, and, when the gateway reported it failed afterwards, the money come back.
    succeeded_at: datetime | None = None
    # Made by the wind-up to give an ended mandate's leftover credit back (domain/wind_up): a
    # refund the merchant asks for never is one, whatever its reason and metadata say.
    of_credit: bool = False
    failed_later_at: datetime | None = None

    @classmethod
    def of(
        cls,
        charge: Charge,
        refund_id: str,
        amount: int,
        now: datetime,
        reason: RefundReason = "requested_by_customer",
        metadata: dict[str, str] | None = None,
        of_credit: bool = False,
    ) -> Refund:
        """A pending refund of `amount` (already reserved on `charge`), back to what paid it."""
        if charge.paid_with is None:  # a charge settled without a gateway payment (lines summing to 0)
            raise InvalidState("This charge took no money at a gateway; there is nothing to refund.")
        return cls(
            id=refund_id,
            merchant_id=charge.merchant_id,
            created_at=now,
            updated_at=now,
            charge_id=charge.id,
            mandate_id=charge.mandate_id,
            amount=amount,
            currency=charge.currency,
            reason=reason,
            metadata=dict(metadata or {}),
            of_credit=of_credit,
            payment_method=charge.paid_with,
            charge_reference=charge.gateway_reference,
        )

    @property
    def money(self) -> Money:
        """What this refund gives back (`amount` in `currency`)."""
        return Money(self.amount, self.currency)

    @property
    def settled(self) -> bool:
        return not REFUND.allows(self.status, "record")

    @property
    def idempotency_key(self) -> str:
        """Derived from the refund alone: a redelivered or crashed refund replays, never refunds again."""
        return f"refund:{self.id}"

    @property
    def dispatch_at(self) -> datetime | None:
        """When the engine must look at it (the due index key): at once, then when its lease ends."""
        if self.settled:
            return None
        return self.claimed_until or self.created_at

    def claim(self, now: datetime, lease_until: datetime) -> bool:
        """Take the lease for sending it to the engine (False: settled, or another run holds it)."""
        if self.settled or (self.claimed_until is not None and self.claimed_until > now):
            return False
        self.claimed_until = lease_until
        return True

    def next_step(self, now: datetime, key_memory: timedelta | None) -> Step:
        if self.settled:
            return Step.DONE
        if self.started_at is None:
            return Step.START
        if may_replay(self.started_at, now, key_memory):
            return Step.ASK
        return Step.LOOKUP

    def start(self, now: datetime) -> None:
        """The marker, written on this refund's version before the gateway is first called."""
        self.started_at = self.started_at or now

    def record(self, result: GatewayResult, now: datetime) -> list[EventType]:
        """The gateway's answer settles it (a duplicate answer changes nothing)."""
        if self.settled:
            return []
        self.gateway_reference = result.gateway_reference or self.gateway_reference
        if result.outcome == "processing":
            # Accepted, not done yet (a bank-debit refund takes days): looked up again a day later,
            # unless a gateway event settles it first.
            self.claimed_until, self.updated_at = now + SETTLEMENT_RECHECK, now
            return []
        self.claimed_until, self.updated_at = None, now
        if result.outcome == "succeeded":
            self.status = REFUND.move(self.status, "record", "succeeded")
            self.succeeded_at = now
            return [EventType.REFUND_SUCCEEDED]
        self.status, self.failure_code = REFUND.move(self.status, "record", "failed"), result.decline_code or GATEWAY_ERROR
        return [EventType.REFUND_FAILED]

    def fail_later(self, code: str | None, now: datetime) -> list[EventType]:
        """The gateway reported this succeeded refund as failed afterwards (the money came back to
        the merchant). Forward only: anything but a succeeded refund is left as it is."""
        if self.status != "succeeded":
            return []
        self.status = REFUND.move(self.status, "fail_later")
        # (a refund stored before `succeeded_at` existed succeeded when it was last updated)
        self.succeeded_at = self.succeeded_at or self.updated_at
        self.failure_code, self.updated_at, self.failed_later_at = code or REFUND_DECLINED, now, now
        return [EventType.REFUND_FAILED]
