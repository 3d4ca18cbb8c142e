"""Charges: one per (mandate, cycle), with every attempt at the gateway recorded inside it.

A charge is `pending` while it is being collected, `processing` while the gateway holds an
accepted bank debit that has not settled yet, `retrying` after a soft decline with another
attempt scheduled, and settles as `succeeded`, `failed` (no more attempts) or `cancelled`. A
succeeded charge may still be reversed by the gateway (a returned debit: the decline rules again)
or disputed (its disputed amount can no longer be refunded).
Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .errors import InvalidState, ValidationFailed
from .events import EventType
from .lifecycles import ATTEMPT, CHARGE
from .lifecycles import ChargeStatus as ChargeStatus
from .model import Entity, PaymentMethod
from .money import Currency, Money
from .payment_methods import BANK_DEBIT_NOTICE_DAYS
from .tax import TaxCategory

UNSETTLED: frozenset[str] = CHARGE.sources("record")  # pending, processing, retrying: an answer may still move it
# The gateway's answer to one attempt (and to one refund): `processing` means accepted and not
# settled yet (a bank debit), answered later by a gateway event or a lookup.
AttemptOutcome = Literal["succeeded", "declined", "error", "processing"]

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
# Settlement never depends on a gateway event arriving: a processing attempt is looked up this long
# after the gateway accepted it, then at least this often; one still processing after
# SETTLEMENT_ALARM_BUSINESS_DAYS TARGET business days raises an alarm.
FIRST_SETTLEMENT_CHECK = timedelta(hours=1)
SETTLEMENT_RECHECK = timedelta(days=1)
SETTLEMENT_ALARM_BUSINESS_DAYS = 20


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


# Constructed, not validated: validating here would build the model at import (cold start).
REJECTED = GatewayResult.model_construct(outcome="error", decline_code=GATEWAY_REJECTED)
# A lookup proved the gateway never got it.
NOT_RECEIVED = GatewayResult.model_construct(outcome="error", decline_code=GATEWAY_ERROR)


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
    settled_at: datetime | None = None  # a bank debit's: when the gateway settled it (days after `at`)
    reversed_at: datetime | None = None  # when the gateway reported the money taken as returned


LineType = Literal["plan", "item", "proration"]


class Line(BaseModel):
    """What a charge's amount is made of; a charge's lines sum to its amount."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    type: LineType
    description: str
    amount: int  # as entered: gross with an inclusive rate, net with an exclusive one
    item_id: str | None = None
    tax_rate_id: str | None = None  # the rate of its group in the tax breakdown (None: not subject to VAT)


class TaxLine(BaseModel):
    """One group of a charge's tax breakdown: the lines of one rate (domain/tax)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    tax_rate_id: str | None = None  # None: not subject to VAT (stored without nulls)
    percentage: str
    inclusive: bool
    category: TaxCategory
    taxable_amount: int
    tax_amount: int


class SoldBy(BaseModel):
    """The seller a charge was taxed for, recorded when it was made: its VAT id then (None: not
    registered for VAT). Its invoices name that VAT id, whatever the account's is when they are
    issued (a bank debit settles days after it was taxed)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    vat_id: str | None = None


def published(groups: list[TaxLine]) -> list[TaxLine]:
    """A charge's or a document's `tax_breakdown` as the API shows it: its rated groups only
    (lines with no rate are in no group: contract "Tax rates"). Groups stored as `not_subject` by
    earlier versions read the same way: as no group."""
    return [group for group in groups if group.category != "not_subject"]


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
    lines: list[Line] = []  # empty on charges made before lines existed: one plan line of `amount`
    # Tax (domain/tax): the lines' sum as entered, the tax, and its breakdown per rate; `amount` is
    # what is collected. None / empty on charges made before tax existed (subtotal = amount).
    subtotal: int | None = None
    tax_amount: int = 0
    tax_breakdown: list[TaxLine] = []
    amount_refunded: int = 0  # sum of succeeded refunds
    period_end: datetime | None = None  # the service period this cycle pays for is [due_at, period_end)
    # <prefix>-<n>, given soon after the charge succeeded: the number of the invoice of its latest
    # collection (a charge reversed and collected again is numbered and invoiced again; the numbers
    # of its earlier, reversed collections stay on their invoices and in `former_receipt_numbers`).
    receipt_number: str | None = None
    receipt_seq: int | None = None  # its n in the merchant's series
    former_receipt_numbers: list[str] = []  # engine state: the numbers of its reversed collections
    # Engine state, not part of the API object:
    # What the lines other than carried credit would have collected (their tax included): money
    # counterpart of `paid_value`, which counts as entered. None: the same as `paid_value` (no tax).
    paid_money: int | None = None
    # What the plan line alone collects (its tax included): what its cycle's unused time is worth
    # in money to a prorated plan change. None: the plan line as entered (no tax).
    plan_money: int | None = None
    refund_reserved: int = 0  # sum of pending refunds: reserved so that refunds never pass the amount
    # Credit (money) a prorated plan change granted for this cycle's unused time, less what was given
    # back as a refund of leftover credit: refunds plus this never exceed what was paid for the cycle.
    credited: int = 0
    credit_withheld: int = 0  # credit taken back while a dispute held this cycle's money: given back when released
    paid_with: PaymentMethod | None = None  # the payment method of the succeeded attempt (refunds go back to it)
    retry_schedule_days: tuple[int, ...] = ()
    retries_used: int = 0
    reopened: bool = False  # re-attempted after a new payment method: one attempt, no retry schedule
    reattempts: int = 0  # times re-attempted after a new payment method (at most MAX_REATTEMPTS)
    in_flight: int = 0  # number of the attempt dispatched and not yet recorded (0: none)
    in_flight_method: PaymentMethod | None = None  # pinned, so a replayed attempt sends the same request
    in_flight_since: datetime | None = None  # when that attempt was first dispatched (its age is alarmed)
    # The in-flight attempt the gateway accepted and has not settled (a bank debit): since when, and
    # its reference. The attempt is listed with outcome `processing` until it settles.
    processing_since: datetime | None = None
    processing_reference: str | None = None
    # Open and lost disputes of this charge (dispute id -> amount): not refundable any more.
    disputed: dict[str, int] = {}
    dispute_id: str | None = None  # the latest dispute
    # The seller the tax was computed for (engine state, not part of the API object); None: a charge
    # made before it was recorded, invoiced with the account's VAT id at issue.
    sold_by: SoldBy | None = None

    @property
    def settled(self) -> bool:
        return self.status not in UNSETTLED

    @property
    def took_money(self) -> bool:
        """Whether the gateway ever took this charge's money (succeeded, even if returned since)."""
        return any(a.outcome == "succeeded" or a.reversed_at is not None for a in self.attempts)

    @property
    def collection(self) -> int:
        """Which collection of this charge's money the latest one is: 1, or n after n - 1 reversals
        collected again (each collection is invoiced; domain/invoices). 1 for a charge that took
        no money at a gateway (settled by carried credit)."""
        return max(1, sum(1 for a in self.attempts if a.outcome == "succeeded" or a.reversed_at is not None))

    @property
    def excess_credit(self) -> int:
        """Credit granted from this cycle beyond what it still paid: money returned (a reversal),
        refunded or held by a dispute since the credit was granted."""
        kept = self.paid_worth - self.amount_refunded - self.amount_disputed if self.status == "succeeded" else 0
        return max(0, self.credited - max(0, kept))

    def claw_back_credit(self, unused: int, now: datetime) -> int:
        """Take back, from the mandate's `unused` carried credit, what this cycle can no longer back."""
        taken = min(self.excess_credit, max(0, unused))
        if taken:
            self.credited -= taken
            self.updated_at = now
        return taken

    def credit_after_dispute(self, unused: int, now: datetime) -> int:
        """A dispute of this charge now holds or releases money: credit the cycle no longer backs is
        withheld from the mandate's `unused` credit, and what a released dispute backs again is given
        back. Returns the change to the mandate's credit (negative: taken)."""
        taken = self.claw_back_credit(unused, now)
        if taken:
            self.credit_withheld += taken
            return -taken
        kept = self.paid_worth - self.amount_refunded - self.refund_reserved - self.amount_disputed
        back = min(self.credit_withheld, max(0, kept - self.credited)) if self.status == "succeeded" else 0
        if back:
            self.credit_withheld, self.credited, self.updated_at = self.credit_withheld - back, self.credited + back, now
        return back

    @property
    def amount_disputed(self) -> int:
        return sum(self.disputed.values())

    @property
    def money(self) -> Money:
        """What this charge collects (`amount` in `currency`)."""
        return Money(self.amount, self.currency)

    @property
    def bill_lines(self) -> list[Line]:
        return self.lines or [Line(type="plan", description=f"Cycle {self.cycle}", amount=self.amount)]

    @property
    def plan_amount(self) -> int:
        return sum(line.amount for line in self.bill_lines if line.type == "plan")

    @property
    def gateway_reference(self) -> str | None:
        """The gateway's reference of the payment that took the money (what a refund refers to)."""
        return next((a.gateway_reference for a in self.attempts if a.outcome == "succeeded"), None)

    @property
    def plan_worth(self) -> int:
        """What the plan line collects in money, its tax included (a prorated change credits its unused part)."""
        return self.plan_money if self.plan_money is not None else self.plan_amount

    @property
    def credit_used(self) -> int:
        """Carried credit (money) this charge took off what it collects: what its lines other than
        the credit would have collected less what it collects (its proration line, with its tax)."""
        if self.paid_money is None:
            return -sum(line.amount for line in self.bill_lines if line.type == "proration")
        return self.paid_money - self.amount

    @property
    def paid_worth(self) -> int:
        """What was paid for this cycle in money: what was collected plus the carried credit used
        (what its plan and item lines collect, their tax included). Credit granted from the cycle,
        its refunds and disputes are counted against it: all are money."""
        return self.paid_money if self.paid_money is not None else self.paid_value

    @property
    def paid_value(self) -> int:
        """What was paid for this cycle: the money taken plus the carried credit it used (the sum of
        its plan and item lines)."""
        return sum(line.amount for line in self.bill_lines if line.type != "proration")

    @property
    def money_left(self) -> int:
        """Money taken at the gateway and not yet refunded (nor reserved by a pending refund)."""
        if self.status != "succeeded" or self.paid_with is None:
            return 0
        return max(0, self.amount - self.amount_refunded - self.refund_reserved - self.amount_disputed)

    @property
    def refundable(self) -> int:
        """What may still be refunded: the amount less succeeded and pending refunds, and less the
        credit granted for this cycle (refunds plus credit never exceed what was paid for it)."""
        if self.status != "succeeded":
            return 0
        taken = self.amount_refunded + self.refund_reserved + self.amount_disputed
        return max(0, min(self.amount, self.paid_worth - self.credited) - taken)

    def credit_back(self, unused: int, now: datetime) -> int:
        """A prorated plan change leaves this cycle with `unused` money's worth of time unused (of the
        plan line as collected, tax included): the credit
        it grants is that, less what was refunded of this charge, and never more than was paid for
        the cycle net of refunds and earlier credit. While a refund of it is pending (it may yet
        fail) the change waits, so the credit is decided on what was really refunded."""
        if self.status != "succeeded" or unused <= 0:
            return 0
        if self.refund_reserved:
            raise InvalidState("A refund of the last paid charge is pending; change the plan with proration once it has settled.")
        given_back = self.amount_refunded + self.amount_disputed
        granted = max(0, min(unused - given_back, self.paid_worth - self.credited - given_back))
        if granted:
            self.credited += granted
            self.updated_at = now
        return granted

    def reserve_credit_refund(self, wanted: int, now: datetime) -> int:
        """Leftover credit of an ended mandate given back as a refund of this charge: as much of
        `wanted` as the money left allows. Credit granted from this cycle is given back first, so
        refunds plus credit of the cycle stay within what was paid for it."""
        amount = min(wanted, self.money_left)
        if amount <= 0:
            return 0
        self.refund_reserved += amount
        self.credited -= min(amount, self.credited)
        self.updated_at = now
        return amount

    def reserve_refund(self, amount: int | None, now: datetime) -> int:
        """Reserve a new refund's amount (default: all that is left). Written with the refund and
        on this charge's version, so concurrent refunds can never together pass the amount."""
        if self.status != "succeeded":
            raise InvalidState(f"Only a succeeded charge can be refunded; this one is {self.status}.")
        left = self.refundable
        amount = left if amount is None else amount
        if not 1 <= amount <= left:
            message = "Nothing is left to refund on this charge." if left < 1 else f"amount must be between 1 and {left}."
            raise ValidationFailed(message, "amount")
        self.refund_reserved += amount
        self.updated_at = now
        return amount

    def refund_settled(self, amount: int, succeeded: bool, now: datetime) -> list[EventType]:
        """A pending refund's outcome: its reservation ends; a success adds to `amount_refunded`."""
        self.refund_reserved = max(0, self.refund_reserved - amount)
        self.updated_at = now
        if not succeeded:
            return []
        self.amount_refunded += amount
        return [EventType.CHARGE_REFUNDED]

    def refund_blocked(self) -> str | None:
        """Why the refunds reserved on this charge may no longer go to the gateway: its money was
        returned (a reversal) or a dispute now holds part of it. None: they may go."""
        if self.status != "succeeded":
            return "charge_reversed"
        if self.amount_refunded + self.refund_reserved + self.amount_disputed > self.amount:
            return "charge_disputed"
        return None

    def refund_failed_later(self, amount: int, now: datetime) -> None:
        """A refund counted as succeeded failed afterwards at the gateway: the money is the merchant's again."""
        self.amount_refunded, self.updated_at = max(0, self.amount_refunded - amount), now

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

    def repin(self, method: PaymentMethod, now: datetime) -> None:
        """An attempt that never started at the gateway may still change its payment method."""
        if self.in_flight and self.in_flight_method != method:
            ATTEMPT.move("dispatched", "repin")
            self.in_flight_method, self.updated_at = method, now

    def may_attempt(self, attempt: int) -> bool:
        """Whether the gateway may be asked for `attempt` now (the charger checks before calling)."""
        return not self.settled and self.in_flight == attempt and len(self.attempts) == attempt - 1

    def records(self, attempt: int) -> bool:
        """Whether `attempt` is the one awaiting its answer (False: already recorded, or stale)."""
        return attempt == len(self.attempts) + 1 and self.in_flight == attempt

    def record(self, attempt: int, result: GatewayResult, now: datetime, collectable: bool = True) -> list[EventType]:
        """Record the gateway's answer for `attempt`; decide what happens next.

        Returns the charge event types. A duplicate (already recorded) changes nothing. When the
        mandate ended while the attempt was at the gateway (`collectable` False), the truth is
        still recorded: money taken makes the charge `succeeded`; any other answer cancels it.
        """
        if not self.records(attempt):
            return []
        processing = self.status == "processing"
        if result.outcome == "processing":
            if processing:
                return []  # still processing (a lookup or a repeated report): nothing new
            ATTEMPT.move("started", "record", "processing")  # the charger asks the gateway only once started
            self.status = CHARGE.move(self.status, "record", "processing")
            self.processing_since, self.processing_reference = now, result.gateway_reference
            self.next_attempt_at, self.updated_at = None, now
            return [EventType.CHARGE_PROCESSING]
        if processing and result.outcome == "error":  # a debit that never settled took no money
            result = result.model_copy(update={"outcome": "declined", "decline_code": result.decline_code or GATEWAY_ERROR})
        ATTEMPT.move("processing" if processing else "started", "record", result.outcome)
        answer = result.model_dump() | {"gateway_reference": result.gateway_reference or self.processing_reference}
        self.attempts.append(
            Attempt(number=attempt, at=self.processing_since or now, settled_at=now if processing else None, **answer)
        )
        method = self.in_flight_method
        self.in_flight, self.in_flight_method, self.in_flight_since, self.updated_at = 0, None, None, now
        self.processing_since = self.processing_reference = None
        if result.outcome == "succeeded":
            self.status = CHARGE.move(self.status, "record", "succeeded")
            self.next_attempt_at, self.failure_code, self.paid_with = None, None, method
            if self.receipt_number is not None:  # collected again after a reversal: a new number, a new invoice
                self.former_receipt_numbers = [*self.former_receipt_numbers, self.receipt_number]
                self.receipt_number = self.receipt_seq = None
            return [EventType.CHARGE_SUCCEEDED]
        code = result.decline_code or GATEWAY_ERROR
        self.failure_code = code
        if not collectable:
            self.status, self.next_attempt_at = CHARGE.move(self.status, "record", "cancelled"), None
            return [EventType.CHARGE_CANCELLED]
        if not result.hard and not self.reopened and self.retries_used < len(self.retry_schedule_days):
            self.status = CHARGE.move(self.status, "record", "retrying")
            self.next_attempt_at = self._retry_at(now, method is not None and method.bank_debit)
            self.retries_used += 1
            return [EventType.CHARGE_RETRY_SCHEDULED]
        self.status, self.next_attempt_at = CHARGE.move(self.status, "record", "failed"), None
        return [EventType.CHARGE_FAILED]

    @property
    def processing_attempt(self) -> int:
        """The attempt the gateway accepted and has not settled (0: none)."""
        return self.in_flight if self.status == "processing" else 0

    def _retry_at(self, now: datetime, bank_debit: bool) -> datetime:
        """The next retry on the plan's schedule (from the due time); a bank debit's never sooner
        than its notice days after the failure (a debit is never presented at once, nor named for a
        past date)."""
        at = self.due_at + timedelta(days=self.retry_schedule_days[self.retries_used])
        return max(at, now + timedelta(days=BANK_DEBIT_NOTICE_DAYS)) if bank_debit else at

    def reverse(self, code: str, now: datetime, may_retry: bool) -> list[EventType]:
        """The gateway reported the money of this succeeded charge as returned (a bank debit sent
        back by the customer's bank). Its paying attempt becomes `declined` with `reversed_at`, and
        the decline rules apply again: a soft code is retried on the plan's schedule when
        `may_retry` (the mandate can collect it again), anything else fails the charge. Reversing
        twice changes nothing (forward only)."""
        paying = next((a for a in reversed(self.attempts) if a.outcome == "succeeded"), None)
        if self.status != "succeeded" or paying is None:
            return []
        ATTEMPT.move("succeeded", "reverse")
        paying.outcome, paying.decline_code, paying.reversed_at = "declined", code, now
        self.failure_code, self.updated_at = code, now
        hard = code in HARD_CODES
        if may_retry and not hard and not self.reopened and self.retries_used < len(self.retry_schedule_days):
            self.status = CHARGE.move(self.status, "reverse", "retrying")
            self.next_attempt_at = self._retry_at(now, self.paid_with is not None and self.paid_with.bank_debit)
            self.retries_used += 1
            return [EventType.CHARGE_REVERSED, EventType.CHARGE_RETRY_SCHEDULED]
        self.status, self.next_attempt_at = CHARGE.move(self.status, "reverse", "failed"), None
        return [EventType.CHARGE_REVERSED, EventType.CHARGE_FAILED]

    def dispute_changed(self, dispute_id: str, amount: int, holds_money: bool, now: datetime) -> bool:
        """A dispute of this charge is open or lost (`holds_money`: its amount cannot be refunded)
        or won (released). Returns whether anything changed."""
        before = dict(self.disputed)
        if holds_money:
            self.disputed = {**self.disputed, dispute_id: amount}
        else:
            self.disputed = {k: v for k, v in self.disputed.items() if k != dispute_id}
        # `dispute_id` names the first dispute recorded: a report of another one (a replay of an
        # older dispute's report included) never moves it back and forth.
        changed = before != self.disputed or self.dispute_id is None
        if self.dispute_id is None:
            self.dispute_id = dispute_id
        if changed:
            self.updated_at = now
        return changed

    def settle_without_payment(self, now: datetime) -> list[EventType]:
        """A new charge of nothing to collect (carried credit covers it): succeeded at once, no gateway call."""
        self.status, self.updated_at = CHARGE.move(self.status, "settle_without_payment"), now
        return [EventType.CHARGE_SUCCEEDED]

    def cancel(self, now: datetime) -> list[EventType]:
        if not CHARGE.allows(self.status, "cancel"):
            return []  # settled already
        if self.in_flight:  # claimed and never started (one at the gateway keeps its charge open)
            ATTEMPT.move("dispatched", "abandon")
        self.status, self.next_attempt_at, self.updated_at = CHARGE.move(self.status, "cancel"), None, now
        return [EventType.CHARGE_CANCELLED]

    @property
    def may_reopen(self) -> bool:
        return self.reattempts < MAX_REATTEMPTS

    def reopen(self, now: datetime) -> None:
        """A failed charge is attempted again after the payment method was replaced."""
        if not CHARGE.allows(self.status, "reopen") or not self.may_reopen:
            return
        self.status, self.reopened, self.updated_at = CHARGE.move(self.status, "reopen"), True, now
        self.reattempts += 1
