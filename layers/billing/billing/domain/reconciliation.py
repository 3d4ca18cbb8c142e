"""Reconciliation: what the service recorded as money moved on one UTC day, against what the
gateway reports, per currency, with every difference listed.

A **movement** is money moved at a gateway: a succeeded charge (its paying attempt), a succeeded
refund, a reversal (a succeeded payment returned afterwards), a lost dispute. Both sides name one
movement by `(kind, gateway_reference)` (a reversal by the reference of the payment it returns),
so a movement is matched by identity, never by amount or time.

**When money moved, per kind** (the books' time | the gateway's time):
- charge: the paying attempt's `settled_at` (a bank debit) or `at` (a card) | the simulated
  gateway's settlement (a card: its answer); Stripe: the PaymentIntent's `created`;
- refund: `succeeded_at`, when it was recorded `succeeded` | the simulated gateway's answer;
  Stripe: the Refund's `created`;
- refund_failure (a succeeded refund failed later: its money back, counted in `refunds`
  negatively): `failed_later_at`, when the failure was recorded | Stripe: the `created` of the
  Refund's `failure_balance_transaction` (the simulated gateway fails refunds at once only:
  `pm_sim_refund_fails` is a refund that never moved, on both sides);
- reversal: the attempt's `reversed_at` | the simulated gateway's reversal; Stripe: the
  PaymentIntent's `created` (its returned Charge);
- dispute (lost): `closed_at` | the simulated gateway's close; Stripe: the Dispute's `created`.
A refund and its failure on the same day, on one side, moved nothing that day (both left out).

**The day boundary (the rule that makes a normal day `matched`).** A matched pair belongs to the
day of the books' time, whatever day the gateway dates it: a charge recorded at 23:59:59 that
the gateway dates 00:00:01 the next day is in the first day's report, on both sides, and in no
other. A movement only one side knows belongs to that side's day. So no tolerance in amounts or
times is needed; the gateway is read over a window wider than the day (a few days back for
payments settled days after they started, disputes months back, a margin after midnight), and
the job runs after that margin (see `READ_MARGIN`).

Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from .charge import Charge
from .disputes import Dispute
from .events import EventType
from .model import Entity
from .refunds import Refund

# `refund_failure`: a succeeded refund the gateway failed afterwards, the money back with the
# merchant (counted in `refunds`, negatively, on the day it came back).
MovementKind = Literal["charge", "refund", "reversal", "dispute", "refund_failure"]
GatewayStatus = Literal["succeeded", "processing", "failed"]
DifferenceKind = Literal["missing_at_gateway", "missing_here", "amount_differs", "status_differs"]
ReconciliationStatus = Literal["matched", "mismatched"]
RECONCILIATION_STATUSES: tuple[str, ...] = ReconciliationStatus.__args__  # type: ignore[attr-defined]
Key = tuple[str, str]  # (kind, gateway_reference)

# The gateway is read this far past the day's end (a movement the books record at 23:59:59 and
# the gateway dates a little later); the daily job runs after it (template: 01:00 UTC).
READ_MARGIN = timedelta(minutes=30)
# How far back the gateway is read: a bank debit settles 3 TARGET business days after it started
# and may be reversed 2 business days after that (Stripe dates a payment when it started); a
# dispute may be lost months after it was opened.
PAYMENTS_LOOKBACK = timedelta(days=14)
DISPUTES_LOOKBACK = timedelta(days=120)
# The event types whose objects hold the day's movements (what the books read; `refund.failed`:
# a succeeded refund failed later, its money back).
MOVEMENT_EVENTS: tuple[EventType, ...] = (
    EventType.CHARGE_SUCCEEDED,
    EventType.CHARGE_REVERSED,
    EventType.REFUND_SUCCEEDED,
    EventType.REFUND_FAILED,
    EventType.DISPUTE_CLOSED,
)
# A run reconciles at most this many consecutive days of one merchant (a catch-up after missed
# days: one read of the books and of the gateway for all of them, one write).
MAX_DAYS_PER_RUN = 31


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a UTC day."""
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def reconciliation_id(merchant_id: str, day: date) -> str:
    """Deterministic from (merchant, day): running a day again finds the same report."""
    digest = hashlib.sha256(f"{merchant_id}|{day.isoformat()}".encode()).hexdigest()
    return f"rcn_{digest[:24]}"


@dataclass(frozen=True)
class Movement:
    """Money the service recorded as moved."""

    kind: MovementKind
    currency: str
    amount: int
    at: datetime
    gateway_reference: str
    charge_id: str | None = None
    refund_id: str | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.gateway_reference)


@dataclass(frozen=True)
class GatewayEntry:
    """What the gateway reports about one movement (only `succeeded` is money moved)."""

    kind: MovementKind
    status: GatewayStatus
    currency: str
    amount: int
    at: datetime
    gateway_reference: str
    gateway: str = "simulated"
    charge_id: str | None = None  # the charge the gateway was told it is for (None: not asked by us)
    refund_id: str | None = None

    @property
    def key(self) -> Key:
        return (self.kind, self.gateway_reference)

    @property
    def moved(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class Unmoved:
    """An object the books know for a gateway's movement, not recorded as moved (yet)."""

    charge_id: str | None
    refund_id: str | None = None


# ----------------------------------------------------------------------------- the books' movements


def movements_of_charge(charge: Charge) -> list[Movement]:
    """A charge's money moves: its paying attempt, and its return (a reversal)."""
    out: list[Movement] = []
    for attempt in charge.attempts:
        reference = attempt.gateway_reference
        if reference is None or not (attempt.outcome == "succeeded" or attempt.reversed_at is not None):
            continue
        paid_at = attempt.settled_at or attempt.at
        out.append(Movement("charge", charge.currency, charge.amount, paid_at, reference, charge_id=charge.id))
        if attempt.reversed_at is not None:
            out.append(Movement("reversal", charge.currency, charge.amount, attempt.reversed_at, reference, charge_id=charge.id))
    return out


def movements_of_refund(refund: Refund) -> list[Movement]:
    """A succeeded refund moved money when it was recorded succeeded; one that failed later moved
    it, then moved it back when the failure was recorded (two movements, each on its own day)."""
    if refund.gateway_reference is None:
        return []
    facts = {
        "currency": refund.currency,
        "amount": refund.amount,
        "gateway_reference": refund.gateway_reference,
        "charge_id": refund.charge_id,
        "refund_id": refund.id,
    }
    if refund.status == "succeeded":
        return [Movement("refund", at=refund.succeeded_at or refund.updated_at, **facts)]  # type: ignore[arg-type]
    if refund.failed_later_at is not None and refund.succeeded_at is not None:
        return [
            Movement("refund", at=refund.succeeded_at, **facts),  # type: ignore[arg-type]
            Movement("refund_failure", at=refund.failed_later_at, **facts),  # type: ignore[arg-type]
        ]
    return []


def movements_of_dispute(dispute: Dispute) -> list[Movement]:
    if dispute.status != "lost":
        return []
    at = dispute.closed_at or dispute.updated_at
    return [Movement("dispute", dispute.currency, dispute.amount, at, dispute.gateway_reference, charge_id=dispute.charge_id)]


# ----------------------------------------------------------------------------- the report


class Sums(BaseModel):
    model_config = ConfigDict(defer_build=True)

    charges: int = 0
    refunds: int = 0
    reversals: int = 0
    disputes: int = 0

    @property
    def net(self) -> int:
        """What the gateway holds for the merchant from the day's moves."""
        return self.charges - self.refunds - self.reversals - self.disputes

    def add(self, kind: MovementKind, amount: int) -> None:
        if kind == "refund_failure":  # a refund's money back: the day's refunds net of it
            self.refunds -= amount
            return
        field = {"charge": "charges", "refund": "refunds", "reversal": "reversals", "dispute": "disputes"}[kind]
        setattr(self, field, getattr(self, field) + amount)


class CurrencyTotals(BaseModel):
    model_config = ConfigDict(defer_build=True)

    currency: str
    recorded: Sums
    gateway: Sums


class Difference(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: DifferenceKind
    movement: MovementKind  # what moved: charge, refund, reversal, dispute
    currency: str
    gateway_reference: str
    # Defaults: stored records leave nulls out.
    charge_id: str | None = None
    refund_id: str | None = None
    recorded_amount: int | None = None  # what the books moved (None: unknown here; 0: known, not moved)
    gateway_amount: int | None = None  # what the gateway moved (None: unknown there; 0: known, not moved)


# A report lists at most this many differences (an item of DynamoDB holds 400 KB, an SNS message
# 256 KB: a day where everything differs, a gateway outage, still fits); `difference_count` says
# how many there were.
MAX_LISTED_DIFFERENCES = 500


class Reconciliation(Entity):
    date: date
    status: ReconciliationStatus
    totals: list[CurrencyTotals]
    differences: list[Difference]
    difference_count: int = 0

    @property
    def eventful(self) -> bool:
        """Money moved on either side, or something differs (a day with nothing at all is not)."""
        return bool(self.totals or self.differences or self.difference_count)

    def same_result(self, other: Reconciliation) -> bool:
        mine = (self.status, self.totals, self.differences, self.difference_count)
        return mine == (other.status, other.totals, other.differences, other.difference_count)


@dataclass(frozen=True)
class Result:
    status: ReconciliationStatus
    totals: list[CurrencyTotals]
    differences: list[Difference]


def reconcile(
    day: date,
    recorded: Iterable[Movement],
    reported: Iterable[GatewayEntry],
    unmoved: Mapping[Key, Unmoved] | None = None,
) -> Result:
    """The day's report. `recorded`: the books' movements (any day: each belongs to the day of its
    own time); `reported`: the gateway's entries read over a window around the day; `unmoved`:
    gateway movements whose object the books know but do not record as moved."""
    start, end = day_bounds(day)
    books = _net_of_same_day_failures({m.key: m for m in recorded}, start, end)
    gateway = _net_of_same_day_failures({e.key: e for e in reported}, start, end)
    unmoved = unmoved or {}
    sums: dict[str, tuple[Sums, Sums]] = {}
    differences: list[Difference] = []

    def sums_of(currency: str) -> tuple[Sums, Sums]:
        return sums.setdefault(currency, (Sums(), Sums()))

    for key in sorted(books.keys() | gateway.keys()):
        mine, theirs = books.get(key), gateway.get(key)
        if mine is not None:
            if not start <= mine.at < end:
                continue  # the books moved it on another day: that day's report
            sums_of(mine.currency)[0].add(mine.kind, mine.amount)
            if theirs is not None and theirs.moved:
                sums_of(theirs.currency)[1].add(theirs.kind, theirs.amount)
                if (theirs.amount, theirs.currency) != (mine.amount, mine.currency):
                    differences.append(_difference("amount_differs", mine, theirs.amount))
            else:
                kind: DifferenceKind = "missing_at_gateway" if theirs is None else "status_differs"
                differences.append(_difference(kind, mine, None if theirs is None else 0))
        elif theirs is not None and theirs.moved and start <= theirs.at < end:
            sums_of(theirs.currency)[1].add(theirs.kind, theirs.amount)
            known = unmoved.get(key)
            differences.append(
                Difference(
                    kind="missing_here" if known is None else "status_differs",
                    movement=theirs.kind,
                    currency=theirs.currency,
                    charge_id=known.charge_id if known is not None else None,
                    refund_id=known.refund_id if known is not None else None,
                    gateway_reference=theirs.gateway_reference,
                    recorded_amount=None if known is None else 0,
                    gateway_amount=theirs.amount,
                )
            )
    totals = [CurrencyTotals(currency=c, recorded=r, gateway=g) for c, (r, g) in sorted(sums.items())]
    return Result("mismatched" if differences else "matched", totals, differences)


def _difference(kind: DifferenceKind, mine: Movement, gateway_amount: int | None) -> Difference:
    return Difference(
        kind=kind,
        movement=mine.kind,
        currency=mine.currency,
        charge_id=mine.charge_id,
        refund_id=mine.refund_id,
        gateway_reference=mine.gateway_reference,
        recorded_amount=mine.amount,
        gateway_amount=gateway_amount,
    )


Side = TypeVar("Side", Movement, GatewayEntry)


def _net_of_same_day_failures(side: dict[Key, Side], start: datetime, end: datetime) -> dict[Key, Side]:
    """A refund and its failure moved on the same day, on one side, moved nothing that day: both
    are left out of that side (the books recorded a refund succeeded at 10:00 and failed at 15:00;
    Stripe moves the balance at a refund's creation even when it then fails at once)."""
    out = dict(side)
    for kind, reference in side:
        if kind != "refund_failure":
            continue
        failure, paid = side[(kind, reference)], side.get(("refund", reference))
        if paid is None or not (_moved(failure) and _moved(paid)):
            continue
        if start <= failure.at < end and start <= paid.at < end:
            del out[(kind, reference)], out[("refund", reference)]
    return out


def _moved(item: Movement | GatewayEntry) -> bool:
    return not isinstance(item, GatewayEntry) or item.moved
