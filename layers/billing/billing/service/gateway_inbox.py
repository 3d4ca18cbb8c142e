"""The gateway's inbound events: received (verified, stored, queued) and applied (once each).

The receiver answers the gateway within a second: it verifies and normalises the request (the
gateway's adapter, `InboundEvents`), stores the normalised event in the inbound log (by gateway and
event id) and queues it. A duplicate that was applied already is acknowledged and not queued
again; one that is still unapplied is queued again (its first queueing may have failed: the
gateway retries because the receiver answered 5xx, so nothing is lost between storing and
applying). Applying twice is harmless anyway: every apply is a forward-only merge.

The applier takes the queue: it skips an event already applied, resolves the owner of a report
that only names a gateway object (a dispute's PaymentIntent, an updated card's payment method) by
reading it at the gateway (a payment method's report reaches every mandate of the merchant that
uses it), reads why a declined payment failed when the report says only "declined" (a SEPA
debit's reason is on the gateway's charge), applies it (`GatewayEvents`) and marks it applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from ..observability import logger
from .gateway_events import Applied, GatewayEvent, GatewayEvents
from .ports import Clock, GatewayEventLog, GatewayEventQueue, GatewayObjects, InboundEvents


class QueueingFailed(Exception):
    """The event is stored but not queued: answer 5xx so the gateway sends it again."""


@dataclass(frozen=True)
class Received:
    status: Literal["queued", "duplicate", "ignored"]
    event: GatewayEvent | None = None


class GatewayEventReceiver:
    def __init__(self, inbound: InboundEvents, log: GatewayEventLog, queue: GatewayEventQueue, clock: Clock) -> None:
        self.inbound, self.log, self.queue, self.clock = inbound, log, queue, clock

    def receive(self, payload: bytes, signature: str | None) -> Received:
        """Raises RejectedGatewayEvent (nothing stored) or QueueingFailed (stored, not queued)."""
        event = self.inbound.read(payload, signature)
        if event is None:
            return Received("ignored")
        if self.log.record(event, self.clock.now()):
            logger.info("gateway event already applied", extra={"gateway_event_id": event.id})
            return Received("duplicate", event)
        if self.queue.send_events([event]) != 1:
            raise QueueingFailed(event.id)
        return Received("queued", event)


class GatewayEventApplier:
    def __init__(self, events: GatewayEvents, log: GatewayEventLog, objects: dict[str, GatewayObjects], clock: Clock) -> None:
        """objects: per gateway, where a report's owner is read when the report does not name it."""
        self.events, self.log, self.objects, self.clock = events, log, objects, clock

    def handle(self, event: GatewayEvent) -> Applied:
        if self.log.applied(event.gateway, event.id):
            logger.info("gateway event applied already; skipped", extra={"gateway_event_id": event.id})
            return Applied("duplicate")
        results = [self.events.apply(resolved) for resolved in self._resolved(event)]  # one per mandate reached
        # Marked once all applied: a failure part way redelivers it, and what was applied changes
        # nothing the second time (forward-only merges).
        self.log.mark_applied(event.gateway, event.id, self.clock.now())
        outcomes = {applied.status for applied in results}
        overall: Literal["applied", "unchanged", "ignored"] = (
            "applied" if "applied" in outcomes else "unchanged" if "unchanged" in outcomes else "ignored"
        )
        moved = next((applied for applied in results if applied.amount), None)
        return Applied(
            overall,
            [event_type for applied in results for event_type in applied.events],
            moved.amount if moved else 0,
            moved.currency if moved else None,
        )

    def _resolved(self, event: GatewayEvent) -> list[GatewayEvent]:
        objects = self.objects.get(event.gateway)
        if event.reason_elsewhere and event.resolve is not None and objects is not None:
            code = objects.failure_code(event.resolve)  # the bank's reason, on the gateway's charge
            return [event.with_decline_code(code) if code else event]
        if not event.unresolved or event.resolve is None:
            return [event]
        owner = objects.owner_of(event.resolve) if objects is not None else None
        if owner is None:
            logger.info("gateway event about an object of no merchant here", extra={"gateway_event_id": event.id})
            return [event]  # ignored by GatewayEvents (names nothing of ours)
        try:
            return event.resolved_each(owner)
        except ValidationError:  # metadata that names nothing this service could have written
            logger.warning("gateway object's metadata is not ours", extra={"gateway_event_id": event.id})
            return [event]


__all__ = ["Applied", "GatewayEventApplier", "GatewayEventReceiver", "QueueingFailed", "Received"]
