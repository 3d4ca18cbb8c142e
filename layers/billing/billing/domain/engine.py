"""The billing engine's moves for one due cycle (claim, start, next_step, settle), as pure functions of the aggregates.

* `claim` (dispatcher): a due mandate gets the attempt to make now, and a lease. The charge of a
  new cycle is created `pending`; a retry or a re-attempt after a new payment method starts the
  next attempt; an attempt whose lease ran out (crash, lost message) is sent again **with the
  same attempt number**, so the gateway replays it instead of charging twice.
* `start` (charger): the linearization point of one attempt. The start marker is written on
  condition that the mandate is exactly as claimed, so an attempt starts only if no stop (cancel,
  revoke, pause) was acknowledged since the claim; a stop after it leaves the charge open until
  the attempt's outcome is recorded.
* `next_step` (charger, when the message no longer matches the stored mandate): what may still
  be done for an attempt: nothing, start it, ask the gateway again with the same key, or only
  look it up.
* `settle` (charger): the gateway's answer for one attempt moves the charge and the mandate on.

Invariants: a mandate has at most one unsettled charge (`open_charge_id`); the next cycle is
not dispatched before it settles; attempt n+1 of a charge exists only after attempt n was
recorded as not succeeded. With the gateway idempotent per (charge, attempt), each
(mandate, cycle) is charged at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from .charge import (
    FIRST_SETTLEMENT_CHECK,
    SETTLEMENT_RECHECK,
    Charge,
    GatewayResult,
    Line,
    SoldBy,
    TaxLine,
    charge_id,
    may_replay,
)
from .errors import ConcurrentModification
from .events import EventType
from .items import Item
from .lifecycles import ATTEMPT
from .model import Consent, Mandate, PaidPeriod, PaymentMethod
from .tax import ChargeTax


@dataclass
class Claim:
    mandate_events: list[EventType] = field(default_factory=list)
    charge: Charge | None = None  # created or changed: write it with the mandate
    items: list[Item] = field(default_factory=list)  # billed by the new charge: written with it
    attempt: int | None = None  # the attempt to send to the charger, if any
    charge_events: list[EventType] = field(default_factory=list)
    resent: bool = False  # the attempt had been sent before (its lease ran out)

    @property
    def changed(self) -> bool:
        return bool(self.mandate_events or self.charge is not None or self.attempt is not None)


def claim(
    mandate: Mandate, charge: Charge | None, now: datetime, lease_until: datetime, items: dict[str, Item] | None = None
) -> Claim:
    """What a dispatcher run at `now` does with a mandate found in the due index. `items`: the
    mandate's pending items, as read (a new cycle charge bills them)."""
    result = Claim()
    if mandate.claimed_until is not None and mandate.claimed_until > now:
        return result  # another run holds it (the index entry we read is stale)
    if mandate.attempt_at_gateway:
        # An attempt that may be at the gateway, whatever the mandate's status: its outcome
        # must be recorded. The same attempt is sent again (the charger asks or looks it up).
        charge = _open_charge(mandate, charge)
        if charge.settled or not charge.in_flight:  # cannot happen with consistent writes
            mandate.detach_charge()
            return result
        mandate.claimed_until = lease_until
        result.charge, result.attempt, result.resent = charge, charge.in_flight, True
        return result
    if mandate.status == "paused" and mandate.resume_at is not None and mandate.resume_at <= now:
        result.mandate_events += mandate.resume(
            now, charge.next_attempt_at if charge is not None else None
        )  # automatic resume at resume_at
    if not mandate.collecting:
        return result
    if mandate.open_charge_id is not None:
        charge = _open_charge(mandate, charge)
        if charge.in_flight:
            if charge.settled:  # cannot happen with consistent writes; never re-send a settled charge
                mandate.detach_charge()
                return result
            # Claimed before and never started (lease ran out, or kept across a pause): the
            # gateway never saw its key, so it goes with the current payment method.
            if mandate.payment_method is not None:
                charge.repin(mandate.payment_method, now)
            attempt, result.resent = charge.in_flight, True
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
        if mandate.waits_for_pre_notification or (mandate.next_debit_at or due) > now:
            return result  # a bank debit: its notice e-mailed first, and on the date it named
        billed = [(items or {}).get(item_id) for item_id in mandate.pending_items]
        if any(item is None or item.status != "pending" for item in billed):
            # Read before an item was billed or deleted by a racing write: decide again on fresh state.
            raise ConcurrentModification(f"pending items of {mandate.id} not found as pending")
        cycle = mandate.next_cycle
        billed_items = [item for item in billed if item is not None]
        pending = {item.id: item.amount for item in billed_items}
        whole = mandate.price(pending, 0)
        computed = mandate.price(pending, mandate.credit_for(pending))
        lines = charge_lines(mandate, cycle, billed_items)
        charge = Charge(
            id=charge_id(mandate.merchant_id, mandate.id, cycle),
            merchant_id=mandate.merchant_id,
            created_at=now,
            updated_at=now,
            mandate_id=mandate.id,
            plan_id=mandate.plan_id,
            cycle=cycle,
            amount=computed.amount,
            subtotal=computed.subtotal,
            tax_amount=computed.tax_amount,
            tax_breakdown=tax_breakdown(computed),
            sold_by=SoldBy(vat_id=mandate.seller_vat_id),
            paid_money=whole.amount,
            plan_money=mandate.price({}, 0).amount,
            currency=mandate.terms.currency,
            due_at=due,
            period_end=mandate.due(cycle + 1),
            lines=lines,
            retry_schedule_days=mandate.terms.retry_schedule_days,
        )
        for item in billed:
            assert item is not None
            item.bill(charge.id, now)
            result.items.append(item)
        mandate.credit -= charge.credit_used  # money: what the charge collects less than it is worth
        mandate.pending_items, mandate.pending_item_rates = {}, {}
        mandate.open_charge_id = charge.id
        mandate.advance_schedule()
        if charge.amount == 0:
            # Nothing to collect (credit covers it): settled at once, no gateway call.
            result.charge, result.charge_events = charge, charge.settle_without_payment(now)
            result.mandate_events += paid(mandate, charge, now)
            return result
        attempt = charge.start_attempt(now, mandate.payment_method)
    mandate.claimed_until, mandate.attempt_at = lease_until, None
    result.charge, result.attempt = charge, attempt
    return result


def charge_lines(mandate: Mandate, cycle: int, items: list[Item]) -> list[Line]:
    """A new cycle charge: the plan's amount, each pending item, and the carried credit used as a
    `proration` line as entered (`Mandate.price` sizes it: the money it takes off
    what is collected is the credit used, never more than the credit, never below zero in the
    plan's tax group nor below the gateway's minimum charge unless to zero). Each line names its
    tax rate: the plan's, an item's own or the plan's, the credit the plan's."""
    start, end = mandate.due(cycle), mandate.due(cycle + 1)
    plan_rate = mandate.terms.tax_rate.id if mandate.terms.tax_rate else None
    description = f"Cycle {cycle}, {start:%Y-%m-%d} to {end:%Y-%m-%d}"
    lines = [Line(type="plan", description=description, amount=mandate.terms.amount, tax_rate_id=plan_rate)]
    for item in items:
        rate = mandate.item_rate(item.id)
        lines.append(
            Line(
                type="item",
                description=item.description,
                amount=item.amount,
                item_id=item.id,
                tax_rate_id=rate.id if rate else None,
            )
        )
    pending = {item.id: item.amount for item in items}
    credit_line = mandate.price(pending, 0).subtotal - mandate.price(pending, mandate.credit_for(pending)).subtotal
    if credit_line:
        lines.append(
            Line(
                type="proration",
                description="Credit for unused time after a plan change",
                amount=-credit_line,
                tax_rate_id=plan_rate,
            )
        )
    return lines


def tax_breakdown(computed: ChargeTax) -> list[TaxLine]:
    return [
        TaxLine(
            tax_rate_id=group.rate.id if group.rate else None,
            percentage=group.percentage,
            inclusive=group.rate.inclusive if group.rate else True,
            category=group.category,
            taxable_amount=group.taxable_amount,
            tax_amount=group.tax_amount,
        )
        for group in computed.groups
    ]


def replace_payment_method(
    mandate: Mandate,
    charge: Charge | None,
    method: PaymentMethod,
    now: datetime,
    by_customer: bool = False,
    consent: Consent | None = None,
) -> list[EventType]:
    """A new payment method (merchant or customer). An attempt claimed but not started yet is
    re-pinned to it, so the card replaced before an attempt starts is the card that attempt uses
    (the charger's start is conditional on the mandate's version, so it reads this); an attempt
    already started keeps the method it was sent with (its key replays the same request)."""
    reattempt_allowed = charge is None or charge.may_reopen
    types = mandate.replace_payment_method(now, method, reattempt_allowed, by_customer=by_customer, consent=consent)
    if charge is not None and charge.id == mandate.open_charge_id and charge.in_flight and not mandate.attempt_at_gateway:
        charge.repin(method, now)
    return types


def paid(mandate: Mandate, charge: Charge, now: datetime) -> list[EventType]:
    """The open cycle charge succeeded: the cycle is paid (its period may be credited back by a
    plan change), collection work ends, and a mandate with no cycle left completes."""
    mandate.cycles_charged += 1
    # Only a cycle of the plan the mandate is on now (a returned payment of a plan left since, paid
    # again, is no period a change could credit: the current plan's last paid cycle stays).
    current = mandate.anchor_at is None or (charge.plan_id == mandate.plan_id and charge.due_at >= mandate.anchor_at)
    if charge.period_end is not None and current:
        mandate.paid_period = PaidPeriod(
            charge_id=charge.id, start=charge.due_at, end=charge.period_end, amount=charge.plan_worth
        )
    mandate.detach_charge()
    if mandate.status == "active" and mandate.next_charge_at is None:
        return mandate.complete(now)
    return []


def _open_charge(mandate: Mandate, charge: Charge | None) -> Charge:
    if charge is None or charge.id != mandate.open_charge_id:
        raise LookupError(f"open charge {mandate.open_charge_id} of {mandate.id} not found")
    return charge


def start(mandate: Mandate, charge: Charge, attempt: int, now: datetime) -> bool:
    """Mark `attempt` as started, if the mandate still allows it (it is exactly as claimed:
    collecting, holding this charge, the attempt claimed and not started). The caller writes
    the marker on condition of the mandate's version; only then may the gateway be called."""
    if not (
        mandate.collecting
        and mandate.claimed_until is not None
        and not mandate.attempt_at_gateway
        and mandate.open_charge_id == charge.id
        and charge.may_attempt(attempt)
    ):
        return False
    ATTEMPT.move("dispatched", "start")
    mandate.attempt_started_at = now
    return True


class Step(Enum):
    """What the charger may still do for an attempt, on the stored state."""

    DONE = "done"  # recorded already (a redelivery) or superseded: nothing
    SKIP = "skip"  # never started, and a stop took it over (or the charge settled): no gateway call
    START = "start"  # claimed and not started: start it now (on the fresh version)
    ASK = "ask"  # started, still collecting, key remembered: ask again with the same key
    LOOKUP = "lookup"  # started, but stopped since or past the key's memory: only look it up


def next_step(mandate: Mandate, charge: Charge, attempt: int, now: datetime, key_memory: timedelta | None) -> Step:
    if not charge.records(attempt):
        return Step.DONE
    if charge.settled or mandate.open_charge_id != charge.id:
        return Step.SKIP
    if mandate.attempt_started_at is None:
        if mandate.collecting and mandate.claimed_until is not None:
            return Step.START
        return Step.SKIP
    if charge.status == "processing":
        return Step.LOOKUP  # accepted by the gateway: only its settlement is read, never asked again
    if mandate.collecting and may_replay(mandate.attempt_started_at, now, key_memory):
        return Step.ASK
    return Step.LOOKUP


@dataclass
class Settlement:
    recorded: bool = False  # False: a duplicate or stale delivery, nothing to write
    mandate_events: list[EventType] = field(default_factory=list)
    charge_events: list[EventType] = field(default_factory=list)


def settle(mandate: Mandate, charge: Charge, attempt: int, answer: GatewayResult, now: datetime) -> Settlement:
    """Record the gateway's answer for `attempt` and move the mandate on."""
    if not charge.records(attempt):
        return Settlement()  # duplicate delivery: already recorded
    owns = mandate.open_charge_id == charge.id
    # A mandate that ended while the attempt was at the gateway: a success stands, anything else cancels.
    charge_events = charge.record(attempt, answer, now, collectable=not (owns and mandate.is_final))
    mandate_events: list[EventType] = []
    if not owns:
        return Settlement(True, mandate_events, charge_events)
    if charge.status == "processing":
        # Accepted, not settled (a bank debit): the attempt stays at the gateway (a stop leaves it
        # to settle) and nothing else of this mandate is dispatched. Its settlement comes as a
        # gateway event, or is looked up when this lease ends: an hour after acceptance, then daily.
        mandate.claimed_until = now + (FIRST_SETTLEMENT_CHECK if charge_events else SETTLEMENT_RECHECK)
        mandate.updated_at = now
        return Settlement(True, mandate_events, charge_events)
    mandate.attempt_started_at, mandate.updated_at = None, now
    if charge.status == "succeeded":
        mandate_events += paid(mandate, charge, now)
    elif charge.status == "cancelled":
        mandate.detach_charge()
    elif charge.status == "retrying":
        mandate.claimed_until = None
        # Paused meanwhile: the retry waits for the resume (then it is attempted at once).
        mandate.attempt_at = charge.next_attempt_at if mandate.collecting else None
    elif charge.status == "failed":
        # (A returned payment retried in vain: the credit its cycle granted goes when the mandate
        # lets the charge go, in `released`; while past_due a new payment method may still pay it.)
        mandate_events += mandate.collection_failed(now, charge.failure_code)
    if mandate.open_charge_id is None:
        released(mandate, charge)
    return Settlement(True, mandate_events, charge_events)


def reverse(mandate: Mandate, charge: Charge, code: str, now: datetime) -> Settlement:
    """The gateway reported this succeeded charge's money as returned (a bank debit sent back).
    The charge follows the decline rules again. It is collected again only through the mandate's
    one open-charge slot: when the mandate is not final and holds no other unsettled charge, the
    charge becomes its open charge again (a soft code retried on the plan's schedule, a hard one
    failed with the mandate past_due or revoked) and the cycle counts as not charged; otherwise
    the charge fails for good (reported; the merchant collects it otherwise) and a
    `mandate_revoked` code still revokes the mandate."""
    if charge.status != "succeeded" or charge.mandate_id != mandate.id:
        return Settlement()
    reattach = mandate.open_charge_id is None and not mandate.is_final
    charge_events = charge.reverse(code, now, may_retry=reattach)
    if not charge_events:
        return Settlement()
    mandate_events: list[EventType] = []
    mandate.updated_at = now
    if reattach:
        mandate.cycles_charged = max(0, mandate.cycles_charged - 1)
        if mandate.paid_period is not None and mandate.paid_period.charge_id == charge.id:
            mandate.paid_period = None  # a returned payment paid for no time that could be credited
        mandate.open_charge_id = charge.id
        if EventType.CHARGE_RETRY_SCHEDULED in charge_events:
            mandate.attempt_at = charge.next_attempt_at if mandate.collecting else None
        else:
            mandate_events += mandate.collection_failed(now, code)
            if mandate.open_charge_id is None:  # revoked (`mandate_revoked`): the charge is let go
                released(mandate, charge)
    else:
        released(mandate, charge)  # failed for good: the carried credit it used is the customer's again
        if code == "mandate_revoked":
            mandate_events += mandate.revoked_by_gateway(now)
    # Credit its cycle granted stays while the charge is the mandate's to collect (retried, or past_due
    # awaiting a new payment method); `released` takes it back once the charge is let go.
    return Settlement(True, mandate_events, charge_events)


def released(mandate: Mandate, charge: Charge) -> None:
    """The mandate let go of `charge` (settled, or detached by a stop): a charge that will never
    be paid gives back the carried credit it took, so credit is only ever used by money taken
    (it is then refunded or reported when the mandate ends, never lost with the charge); and
    the credit a returned payment of it had granted, still unused, is taken back (no credit from
    money not kept)."""
    if charge.status != "succeeded":
        mandate.credit += charge.credit_used
        mandate.credit -= charge.claw_back_credit(mandate.credit, charge.updated_at)
