"""Disputes: a customer's bank clawing a payment back (a card chargeback, or a bank-debit refund
claim: unconditional within 8 weeks, 13 months if unauthorised).

Only the gateway opens one, on a succeeded charge; the merchant answers a card dispute in the
gateway's own tools and this service records its course. Reports arrive in any order and any
number of times, so a dispute only moves forward (`needs_response` -> `under_review` -> `won` |
`lost`); a report of a dispute never seen creates it in the state reported. While a dispute is
open or lost its amount cannot be refunded; a won dispute releases it. A fraud-type reason revokes
the mandate: the customer says they never agreed to pay. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .charge import Charge
from .events import EventType
from .lifecycles import DISPUTE
from .lifecycles import DisputeStatus as DisputeStatus
from .model import Entity, Mandate
from .money import Currency
from .payment_methods import Gateway

DisputeReason = Literal[
    "fraudulent",
    "unrecognized",
    "debit_not_authorized",
    "product_not_received",
    "duplicate",
    "subscription_canceled",
    "insufficient_funds",
    "general",
]
DISPUTE_REASONS: tuple[str, ...] = DisputeReason.__args__  # type: ignore[attr-defined]
# The customer says the payment was never theirs to make: the mandate is revoked.
REVOKING_REASONS: frozenset[str] = frozenset({"fraudulent", "unrecognized", "debit_not_authorized"})
OPEN: frozenset[str] = frozenset({"needs_response", "under_review"})
_RANK: dict[str, int] = {"needs_response": 0, "under_review": 1, "won": 2, "lost": 2}


def dispute_id(merchant_id: str, gateway: str, reference: str) -> str:
    """Deterministic from the gateway's reference: every report of one dispute finds the same object."""
    digest = hashlib.sha256(f"{merchant_id}|{gateway}|{reference}".encode()).hexdigest()
    return f"dsp_{digest[:24]}"


def reason_of(value: str | None) -> DisputeReason:
    """A gateway's reason as the contract names it (anything unknown is `general`)."""
    return value if value in DISPUTE_REASONS else "general"  # type: ignore[return-value]


class Dispute(Entity):
    charge_id: str
    mandate_id: str
    amount: int
    currency: Currency
    reason: DisputeReason = "general"
    status: DisputeStatus = "needs_response"
    evidence_due_by: datetime | None = None
    gateway: Gateway = "simulated"
    gateway_reference: str
    closed_at: datetime | None = None

    @property
    def holds_money(self) -> bool:
        """Open or lost: its amount is not the merchant's to refund."""
        return self.status != "won"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True)
class DisputeReport:
    """What the gateway says about one dispute at one moment (any order, any number of times)."""

    gateway: Gateway
    reference: str
    amount: int
    currency: str
    reason: str | None
    status: DisputeStatus
    evidence_due_by: datetime | None = None


@dataclass
class DisputeChange:
    dispute: Dispute | None = None  # created or changed: write it
    dispute_events: list[EventType] = field(default_factory=list)
    charge_changed: bool = False
    mandate_events: list[EventType] = field(default_factory=list)
    mandate_changed: bool = False  # its carried credit (backed by disputed money) was taken back

    @property
    def changed(self) -> bool:
        return self.dispute is not None or self.charge_changed or bool(self.mandate_events) or self.mandate_changed


def apply_report(
    report: DisputeReport, existing: Dispute | None, charge: Charge, mandate: Mandate, now: datetime
) -> DisputeChange:
    """Merge one report into the dispute (forward only), its charge's disputed amount and, the first
    time a fraud-type dispute is seen, the mandate (revoked: no attempt starts after it)."""
    change = DisputeChange()
    if existing is None:
        dispute = Dispute(
            id=dispute_id(charge.merchant_id, report.gateway, report.reference),
            merchant_id=charge.merchant_id,
            created_at=now,
            updated_at=now,
            charge_id=charge.id,
            mandate_id=charge.mandate_id,
            amount=report.amount,
            currency=charge.currency,
            reason=reason_of(report.reason),
            evidence_due_by=report.evidence_due_by,
            gateway=report.gateway,
            gateway_reference=report.reference,
        )
        change.dispute, change.dispute_events = dispute, [EventType.DISPUTE_CREATED]
        if report.status == "under_review":
            dispute.status = DISPUTE.move(dispute.status, "review")
        elif report.status in ("won", "lost"):
            dispute.status, dispute.closed_at = DISPUTE.move(dispute.status, "close", report.status), now
            change.dispute_events.append(EventType.DISPUTE_CLOSED)
        if dispute.reason in REVOKING_REASONS:
            change.mandate_events = mandate.revoked_by_gateway(now)
    else:
        dispute = existing
        moved = _RANK[report.status] > _RANK[dispute.status]
        due_changed = report.evidence_due_by is not None and report.evidence_due_by != dispute.evidence_due_by
        if moved and report.status in ("won", "lost"):
            dispute.status, dispute.closed_at = DISPUTE.move(dispute.status, "close", report.status), now
            change.dispute_events = [EventType.DISPUTE_CLOSED]
        elif moved:
            dispute.status = DISPUTE.move(dispute.status, "review")
            change.dispute_events = [EventType.DISPUTE_UPDATED]
        elif due_changed and dispute.is_open:
            change.dispute_events = [EventType.DISPUTE_UPDATED]
        if due_changed and dispute.is_open:
            dispute.evidence_due_by = report.evidence_due_by
        if change.dispute_events:
            dispute.updated_at = now
            change.dispute = dispute
    change.charge_changed = charge.dispute_changed(dispute.id, dispute.amount, dispute.holds_money, now)
    # No credit from money the bank holds (withheld), given back when it is released; only when this
    # report changed what the disputes hold (a report delivered again takes nothing granted since).
    credit_moved = charge.credit_after_dispute(mandate.credit, now) if change.charge_changed else 0
    if credit_moved:
        mandate.credit, mandate.updated_at, change.mandate_changed = mandate.credit + credit_moved, now, True
    return change
