"""Changes reported by the gateway, applied to charges, refunds, disputes and mandates.

A gateway (Stripe's webhooks, or the simulated gateway as its clock reaches each change) reports
what happened after it answered: a bank debit settled or failed, a payment reversed, a refund that
failed later, a dispute opened or closed, a card replaced by the network, a bank mandate cancelled.
Each report is normalised by its adapter into a `GatewayEvent` (only what is needed: ids, amounts,
codes; no personal data), stored and queued by the receiver, and applied here asynchronously.

Every apply is a forward-only merge per object (the domain refuses anything else), so a report
applied twice, late or out of order changes nothing more: a `processing` after a `succeeded`, a
settlement of an attempt already settled, a dispute update after its close. An event about an
object this deployment did not create (or another merchant's: every read is keyed by the merchant
the gateway's metadata names) is acknowledged and ignored. Settlement never depends on these
events: the engine also looks processing attempts up (domain/engine).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from ..domain.charge import Charge, GatewayResult
from ..domain.disputes import Dispute, DisputeReport, DisputeStatus, apply_report, dispute_id
from ..domain.engine import Settlement, released, reverse, settle
from ..domain.events import EventType
from ..domain.model import Entity, Mandate
from ..domain.payment_methods import Gateway
from ..domain.refunds import Refund
from ..domain.wind_up import credit_refund_failed, is_credit_refund
from ..observability import logger
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, GatewayOwner, IdGenerator, Repository

_ID = r"^[A-Za-z0-9_:.\-]{1,255}$"
Ref = Annotated[StrictStr, StringConstraints(pattern=_ID)]


class PaymentReport(BaseModel):
    """One attempt's payment: `processing`, settled (`succeeded` / `declined`), or `reversed`
    (a succeeded payment failing afterwards: a returned bank debit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    charge_id: Ref
    attempt: Annotated[int, Field(ge=1, le=100)]
    outcome: Literal["processing", "succeeded", "declined", "reversed"]
    decline_code: Ref | None = None
    gateway_reference: Ref | None = None


class RefundReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    refund_id: Ref
    outcome: Literal["processing", "succeeded", "declined"]
    failure_code: Ref | None = None
    gateway_reference: Ref | None = None


class DisputeFacts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: Ref  # the gateway's dispute id
    charge_id: Ref | None = None  # None until resolved from the gateway's payment (`GatewayEvent.resolve`)
    amount: Annotated[int, Field(ge=0)]  # our minor units
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    reason: Ref | None = None
    status: DisputeStatus
    evidence_due_by: datetime | None = None


class MethodReport(BaseModel):
    """A card replaced by the network (new last four digits), or a bank mandate no longer usable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mandate_id: Ref | None = None  # None until resolved from the payment method (`GatewayEvent.resolve`)
    last4: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{4}$")] | None = None
    mandate_inactive: bool = False
    # The gateway's payment method it is about: a report on a method the mandate no longer uses
    # (replaced since) changes nothing.
    payment_method: Ref | None = None


class GatewayEvent(BaseModel):
    """A gateway's report, normalised (what the gateway-events queue carries and the log keeps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["gateway_event"] = "gateway_event"
    id: Ref  # the gateway's event id: applied at most once
    gateway: Gateway
    event_type: Ref  # the gateway's own name for it (`payment_intent.succeeded`)
    created: datetime
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")] | None = None
    mandate_id: Ref | None = None
    payment: PaymentReport | None = None
    refund: RefundReport | None = None
    dispute: DisputeFacts | None = None
    method: MethodReport | None = None
    # The gateway object whose metadata names the merchant and our object, when the report itself
    # does not (a dispute names its PaymentIntent, a card update its payment method), or, for a
    # declined payment, the gateway's record of why (a SEPA debit's charge: the bank's reason): read
    # when the event is applied (`GatewayObjects`), never by the receiver.
    resolve: Ref | None = None

    @property
    def about_anything(self) -> bool:
        """Whether it names an object of this deployment (else acknowledged and ignored)."""
        if self.merchant_id is None:
            return False
        if self.dispute is not None:
            return self.dispute.charge_id is not None
        if self.method is not None:
            return self.method.mandate_id is not None
        return any((self.payment, self.refund))

    @property
    def unresolved(self) -> bool:
        """It names a gateway object to read before it can be applied."""
        return self.resolve is not None and not self.about_anything

    @property
    def reason_elsewhere(self) -> bool:
        """A declined payment whose reason is to be read at the gateway (`resolve`)."""
        return self.payment is not None and self.payment.outcome == "declined" and self.resolve is not None

    def with_decline_code(self, code: str) -> GatewayEvent:
        assert self.payment is not None
        data = self.model_dump()
        data["payment"]["decline_code"] = code
        return GatewayEvent.model_validate(data)  # the gateway's code, validated as any input

    def resolved_each(self, owner: GatewayOwner) -> list[GatewayEvent]:
        """`resolved`, once per mandate the owner names for a report about a payment method used by
        several mandates of the merchant (each applies it to itself); else once."""
        if self.method is None or len(owner.mandate_ids) < 2:
            return [self.resolved(owner)]
        return [self.resolved(GatewayOwner(merchant_id=owner.merchant_id, mandate_id=m)) for m in owner.mandate_ids]

    def resolved(self, owner: GatewayOwner) -> GatewayEvent:
        """This event with the merchant and our object the gateway object's metadata names."""
        data = self.model_dump() | {"merchant_id": owner.merchant_id}
        if data["dispute"] is not None:
            data["dispute"]["charge_id"] = owner.charge_id
        if data["method"] is not None:
            data["method"]["mandate_id"] = owner.mandate_id
        return GatewayEvent.model_validate(data)  # the gateway's metadata, validated as any input


@dataclass
class Applied:
    """What applying one gateway event did (the handler turns it into metrics and logs).

    `duplicate`: the inbound log says the event was applied already (the applier skipped it)."""

    status: Literal["applied", "unchanged", "ignored", "duplicate"]
    events: list[str] = field(default_factory=list)
    amount: int = 0  # the charge's or refund's amount (the money-flow metrics)
    currency: str | None = None

    @property
    def disputes_opened(self) -> int:
        return self.events.count(EventType.DISPUTE_CREATED)


class GatewayEvents:
    """Applies gateway events to the aggregates (each change in one transaction, with its events)."""

    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator) -> None:
        self.repo, self.clock = repo, clock
        self.recorder = EventRecorder(ids)

    def apply(self, event: GatewayEvent) -> Applied:
        if not event.about_anything:
            return Applied("ignored")
        if event.payment is not None:
            return self._payment(event, event.payment)
        if event.refund is not None:
            return self._refund(event, event.refund)
        if event.dispute is not None:
            return self._dispute(event, event.dispute)
        assert event.method is not None
        return self._method(event, event.method)

    def _open_charge(self, mandate: Mandate, loaded: Charge | None = None) -> Charge | None:
        """The mandate's unsettled charge (the one already loaded when it is that one)."""
        if mandate.open_charge_id is None:
            return None
        if loaded is not None and loaded.id == mandate.open_charge_id:
            return loaded
        return self.repo.get(Charge, mandate.merchant_id, mandate.open_charge_id)

    # ------------------------------------------------------------------ payments
    def _payment(self, event: GatewayEvent, report: PaymentReport) -> Applied:
        merchant = event.merchant_id
        assert merchant is not None

        def once(_: int) -> Applied:
            charge = self.repo.get(Charge, merchant, report.charge_id)
            if charge is None:
                return Applied("ignored")
            mandate = self.repo.get(Mandate, merchant, charge.mandate_id)
            if mandate is None:
                return Applied("ignored")
            now = self.clock.now()
            attempt = next((a for a in charge.attempts if a.number == report.attempt), None)
            # A failure reported for an attempt recorded as succeeded is a returned debit (each
            # attempt has its own payment at the gateway, and a card payment never fails after it
            # succeeded): a reversal.
            returned = report.outcome == "declined" and attempt is not None and attempt.outcome == "succeeded"
            open_charge = self._open_charge(mandate, charge)  # another cycle's, cancelled if a revocation lets it go
            if report.outcome == "reversed" or returned:
                paid = Settlement()
                if report.outcome == "reversed" and _started(mandate, charge, report.attempt):
                    # Reversed before its success was recorded (that report lost or late, the lookup
                    # not run yet): a reversal says the attempt succeeded, so that is recorded first;
                    # else the lookup would later record a success whose money went back.
                    success = GatewayResult(outcome="succeeded", gateway_reference=report.gateway_reference)
                    paid = settle(mandate, charge, report.attempt, success, now)
                attempt = next((a for a in charge.attempts if a.number == report.attempt), None)
                if attempt is None or attempt.outcome != "succeeded":
                    return Applied("unchanged")  # not a succeeded attempt: nothing to reverse
                settlement = reverse(mandate, charge, report.decline_code or "insufficient_funds", now)
                settlement = Settlement(
                    settlement.recorded or paid.recorded,
                    paid.mandate_events + settlement.mandate_events,
                    paid.charge_events + settlement.charge_events,
                )
            else:
                answer = GatewayResult(
                    outcome=report.outcome, decline_code=report.decline_code, gateway_reference=report.gateway_reference
                )
                if not _started(mandate, charge, report.attempt):
                    return Applied("unchanged")  # an attempt this service has not started (or settled already)
                if report.outcome == "processing" and charge.status == "processing":
                    return Applied("unchanged")  # known already: its lookups keep their schedule
                settlement = settle(mandate, charge, report.attempt, answer, now)
            if not settlement.recorded:
                return Applied("unchanged")
            stopped, stopped_events = _stop_detached(mandate, open_charge if open_charge is not charge else None, now)
            events = self.recorder.events(
                [(charge, settlement.charge_events), (mandate, settlement.mandate_events), *stopped_events],
                now,
                _gateway_source(mandate),
            )
            self.repo.commit(Changes(put=[mandate, charge, *stopped], events=events))
            return Applied("applied", [e.type for e in events], charge.amount, charge.currency)

        return retry_on_conflict(once)

    # ------------------------------------------------------------------- refunds
    def _refund(self, event: GatewayEvent, report: RefundReport) -> Applied:
        merchant = event.merchant_id
        assert merchant is not None

        def once(_: int) -> Applied:
            refund = self.repo.get(Refund, merchant, report.refund_id)
            charge = self.repo.get(Charge, merchant, refund.charge_id) if refund is not None else None
            if refund is None or charge is None:
                return Applied("ignored")
            now = self.clock.now()
            if refund.status == "pending":
                if refund.started_at is None:
                    return Applied("unchanged")  # never sent by this service: the gateway cannot report it
                answer = GatewayResult(
                    outcome=report.outcome, decline_code=report.failure_code, gateway_reference=report.gateway_reference
                )
                refund_events = refund.record(answer, now)
                if not refund_events:
                    return Applied("unchanged")
                charge_events = charge.refund_settled(refund.amount, EventType.REFUND_SUCCEEDED in refund_events, now)
            elif refund.status == "succeeded" and report.outcome == "declined":
                refund_events, charge_events = refund.fail_later(report.failure_code, now), []
                charge.refund_failed_later(refund.amount, now)
                if is_credit_refund(refund):
                    return self._credit_refund_failed(refund, refund_events, charge, now)
            else:
                return Applied("unchanged")
            events = self.recorder.events([(refund, refund_events), (charge, charge_events)], now)
            self.repo.commit(Changes(put=[refund, charge], events=events))
            return Applied("applied", [e.type for e in events], refund.amount, refund.currency)

        return retry_on_conflict(once)

    def _credit_refund_failed(self, refund: Refund, refund_events: list[EventType], charge: Charge, now: datetime) -> Applied:
        """A leftover-credit refund failed after it succeeded: its amount is the ended mandate's
        credit again (refunded by the next wind-up), or reported forfeited after repeated failures
        (domain/wind_up `credit_refund_failed`); one transaction with the refund and the charge."""
        mandate = self.repo.get(Mandate, refund.merchant_id, refund.mandate_id)
        objects: list[tuple[Refund | Charge | Mandate, list[EventType]]] = [(refund, refund_events), (charge, [])]
        extra: dict[str, dict[str, object]] = {}
        if mandate is not None:
            lost = credit_refund_failed(mandate, charge, refund.amount, now)
            objects.append((mandate, [EventType.MANDATE_CREDIT_FORFEITED] if lost else []))
            if lost:
                extra[EventType.MANDATE_CREDIT_FORFEITED] = {"amount": lost.amount, "currency": lost.currency}
                logger.warning("mandate %s: credit refund failed again, %s reported forfeited", mandate.id, lost)
        events = self.recorder.events(objects, now, extra)
        self.repo.commit(Changes(put=[o for o, _ in objects], events=events))
        return Applied("applied", [e.type for e in events], refund.amount, refund.currency)

    # ------------------------------------------------------------------ disputes
    def _dispute(self, event: GatewayEvent, facts: DisputeFacts) -> Applied:
        merchant = event.merchant_id
        assert merchant is not None

        charge_id = facts.charge_id
        assert charge_id is not None

        def once(_: int) -> Applied:
            charge = self.repo.get(Charge, merchant, charge_id)
            mandate = self.repo.get(Mandate, merchant, charge.mandate_id) if charge is not None else None
            if charge is None or mandate is None or charge.currency != facts.currency:
                return Applied("ignored")
            now = self.clock.now()
            paid = Settlement()
            if not charge.took_money and charge.in_flight and _started(mandate, charge, charge.in_flight):
                # Disputed before its success was recorded (that report late, the lookup not run):
                # a dispute says the payment was taken, so its success is recorded first.
                paid = settle(mandate, charge, charge.in_flight, GatewayResult(outcome="succeeded"), now)
            if not charge.took_money:
                logger.warning("dispute %s reported on charge %s, which took no money", facts.reference, charge.id)
                return Applied("ignored")
            existing = self.repo.get(Dispute, merchant, dispute_id(merchant, event.gateway, facts.reference))
            report = DisputeReport(
                gateway=event.gateway,
                reference=facts.reference,
                amount=min(facts.amount, charge.amount),
                currency=facts.currency,
                reason=facts.reason,
                status=facts.status,
                evidence_due_by=facts.evidence_due_by,
            )
            open_charge = self._open_charge(mandate, charge)
            change = apply_report(report, existing, charge, mandate, now)
            if not change.changed and not paid.recorded:
                return Applied("unchanged")
            dispute = change.dispute or existing
            assert dispute is not None
            stopped, stopped_events = _stop_detached(mandate, open_charge, now)
            events = self.recorder.events(
                [
                    (charge, paid.charge_events),
                    (dispute, change.dispute_events),
                    (mandate, paid.mandate_events + change.mandate_events),
                    *stopped_events,
                ],
                now,
                _gateway_source(mandate),
            )
            put: list[Entity] = [charge]
            if change.dispute is not None:
                put.append(change.dispute)
            if change.mandate_events or change.mandate_changed or paid.recorded:
                put.append(mandate)
            put += [c for c in stopped if c.id != charge.id]
            self.repo.commit(Changes(put=put, events=events))
            return Applied("applied", [e.type for e in events])

        return retry_on_conflict(once)

    # ------------------------------------------------------- payment methods, bank mandates
    def _method(self, event: GatewayEvent, report: MethodReport) -> Applied:
        merchant = event.merchant_id
        assert merchant is not None

        mandate_id = report.mandate_id
        assert mandate_id is not None

        def once(_: int) -> Applied:
            mandate = self.repo.get(Mandate, merchant, mandate_id)
            if mandate is None:
                return Applied("ignored")
            current = mandate.payment_method
            if report.payment_method is not None and (
                current is None or report.payment_method not in (current.token, *current.token.split(":"))
            ):
                return Applied("unchanged")  # about a payment method replaced since
            now = self.clock.now()
            before = self.recorder.snapshot(mandate)["payment_method"]
            types: list[EventType] = []
            open_charge = self._open_charge(mandate)
            if report.mandate_inactive:
                if mandate.payment_method is None or not mandate.payment_method.bank_debit:
                    return Applied("unchanged")
                types = mandate.revoked_by_gateway(now)
            elif report.last4 is not None:
                types = mandate.method_updated_by_gateway(now, report.last4)
            if not types:
                return Applied("unchanged")
            stopped, stopped_events = _stop_detached(mandate, open_charge, now)
            extra = _gateway_source(mandate, {"previous_attributes": {"payment_method": before}})
            events = self.recorder.events([(mandate, types), *stopped_events], now, extra)
            self.repo.commit(Changes(put=[mandate, *stopped], events=events))
            return Applied("applied", [e.type for e in events])

        return retry_on_conflict(once)


def _stop_detached(
    mandate: Mandate, open_charge: Charge | None, now: datetime
) -> tuple[list[Charge], list[tuple[Charge, list[EventType]]]]:
    """A revocation by the gateway ends collection as the merchant's revoke does: an unsettled
    charge the mandate let go of (no attempt at the gateway) is cancelled, and gives its credit back."""
    if open_charge is None or mandate.open_charge_id is not None:
        return [], []
    types = open_charge.cancel(now)
    released(mandate, open_charge)
    return [open_charge], [(open_charge, types)]


def _started(mandate: Mandate, charge: Charge, attempt: int) -> bool:
    """A payment report is for the attempt this service started and has not settled (the gateway
    only ever sees started attempts; anything else is late, stale or not ours)."""
    return charge.records(attempt) and mandate.open_charge_id == charge.id and mandate.attempt_at_gateway


def _gateway_source(mandate: Mandate, method_extra: dict[str, object] | None = None) -> dict[str, dict[str, object]]:
    """The events a gateway report causes on a mandate say so (`data.source` `gateway`)."""
    return {
        EventType.MANDATE_REVOKED: {"source": "gateway"},
        EventType.MANDATE_PAST_DUE: {"source": "gateway"},
        EventType.MANDATE_PAYMENT_METHOD_UPDATED: {"source": "gateway", **(method_extra or {})},
    }


def parse_gateway_event(raw: str | bytes) -> GatewayEvent:
    """A gateway-events queue body (the queue's one message kind, `type` "gateway_event");
    raises ValidationError."""
    return GatewayEvent.model_validate_json(raw)
