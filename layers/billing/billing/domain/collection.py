"""Collecting money: the two moves of the billing engine, as pure functions of the aggregates.

* `claim` (dispatcher): a due mandate gets the attempt to make now, and a lease. The charge of a
  new cycle is created `pending`; a retry or a re-attempt after a new payment method starts the
  next attempt; an attempt whose lease ran out (crash, lost message) is sent again **with the
  same attempt number**, so the gateway replays it instead of charging twice.
* `settle` (charger): the gateway's answer for one attempt moves the charge and the mandate on.

Invariants: a mandate has at most one unsettled charge (`open_charge_id`); the next cycle is
not dispatched before it settles; attempt n+1 of a charge exists only after attempt n was
recorded as not succeeded. With the gateway idempotent per (charge, attempt), each
(mandate, cycle) is charged at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .charge import Charge, GatewayResult, charge_id
from .model import Mandate


@dataclass
class Claim:
    mandate_events: list[str] = field(default_factory=list)
    charge: Charge | None = None  # created or changed: write it with the mandate
    attempt: int | None = None  # the attempt to send to the charger, if any
    charge_events: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.mandate_events or self.charge is not None or self.attempt is not None)


def claim(mandate: Mandate, charge: Charge | None, now: datetime, lease_until: datetime) -> Claim:
    """What a dispatcher run at `now` does with a mandate found in the due index."""
    result = Claim()
    if mandate.status == "paused" and mandate.resume_at is not None and mandate.resume_at <= now:
        result.mandate_events += mandate.resume(now)  # automatic resume at resume_at
    if mandate.status != "active":
        return result
    if mandate.claimed_until is not None and mandate.claimed_until > now:
        return result  # another run holds it (the index entry we read is stale)
    if mandate.open_charge_id is not None:
        if charge is None or charge.id != mandate.open_charge_id:
            raise LookupError(f"open charge {mandate.open_charge_id} of {mandate.id} not found")
        if charge.in_flight:
            if charge.settled:  # cannot happen with consistent writes; never re-send a settled charge
                mandate.detach_charge()
                return result
            attempt = charge.in_flight  # lease expired: send the same attempt again
        elif mandate.attempt_at is not None and mandate.attempt_at <= now and mandate.payment_method is not None:
            charge.reopen(now)  # failed -> pending after a new payment method; no-op otherwise
            if charge.settled:
                mandate.detach_charge()
                return result
            attempt = charge.start_attempt(now, mandate.payment_method)
        else:
            return result
    else:
        due = mandate.next_charge_at
        if due is None or due > now or mandate.payment_method is None:
            return result
        charge = Charge(
            id=charge_id(mandate.merchant_id, mandate.id, mandate.next_cycle),
            merchant_id=mandate.merchant_id,
            created_at=now,
            updated_at=now,
            mandate_id=mandate.id,
            plan_id=mandate.plan_id,
            cycle=mandate.next_cycle,
            amount=mandate.terms.amount,
            currency=mandate.terms.currency,
            due_at=due,
            retry_schedule_days=mandate.terms.retry_schedule_days,
        )
        mandate.open_charge_id = charge.id
        mandate.advance_schedule()
        attempt = charge.start_attempt(now, mandate.payment_method)
    mandate.claimed_until, mandate.attempt_at = lease_until, None
    result.charge, result.attempt = charge, attempt
    return result


@dataclass
class Settlement:
    recorded: bool = False  # False: a duplicate or stale delivery, nothing to write
    mandate_events: list[str] = field(default_factory=list)
    charge_events: list[str] = field(default_factory=list)


def settle(mandate: Mandate, charge: Charge, attempt: int, answer: GatewayResult, now: datetime) -> Settlement:
    """Record the gateway's answer for `attempt` and move the mandate on."""
    if not charge.records(attempt):
        return Settlement()  # duplicate delivery: already recorded
    charge_events = charge.record(attempt, answer, now)
    mandate_events: list[str] = []
    owns = mandate.open_charge_id == charge.id
    if charge.status == "succeeded":
        mandate.cycles_charged += 1
        mandate.updated_at = now
        if owns:
            mandate.detach_charge()
            if mandate.status == "active" and mandate.next_charge_at is None:
                mandate_events += mandate.complete(now)
    elif owns and charge.status == "retrying":
        mandate.claimed_until, mandate.attempt_at, mandate.updated_at = None, charge.next_attempt_at, now
    elif owns and charge.status == "failed":
        mandate_events += mandate.collection_failed(now, charge.failure_code)
    return Settlement(True, mandate_events, charge_events)
