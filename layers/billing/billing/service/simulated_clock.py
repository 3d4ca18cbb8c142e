"""The simulated gateway's clock: it reports the changes of its timeline that fell due.

The simulated gateway stands for an external provider that changes payments after it answered
them (a bank debit settles days later, is returned, a charge is disputed, a card is replaced, a
bank mandate cancelled). A real provider tells us through its webhooks; the simulated one is
told the time by this service (a scheduled function, or the local runtime's tick), and its
reports travel the same path as Stripe's: normalised `GatewayEvent`s onto the gateway-events
queue, applied by `GatewayEvents.apply` (at most once per event id, in any order).

A change is taken out of the gateway's due list only once its event was accepted by the queue;
a run that fails half way reports the rest next time (events are applied once by their id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .gateway_events import GatewayEvent
from .ports import GatewayEventQueue


class GatewayTimeline(Protocol):
    """The simulated gateway's side (adapters/simulated_gateway.SimulatedGateway)."""

    def release_due(self, now: datetime, limit: int = 100) -> list[GatewayEvent]:
        """The changes due at `now` not reported yet, as the events reporting them (oldest first)."""

    def mark_reported(self, events: list[GatewayEvent]) -> None:
        """Take these changes out of the due list."""


@dataclass(frozen=True)
class ClockRun:
    released: int  # changes that fell due
    sent: int  # their events accepted by the queue
    rounds: int


class SimulatedGatewayClock:
    def __init__(self, gateway: GatewayTimeline, queue: GatewayEventQueue, batch: int = 100, max_rounds: int = 10) -> None:
        self.gateway, self.queue, self.batch, self.max_rounds = gateway, queue, batch, max_rounds

    def run(self, now: datetime) -> ClockRun:
        """Report every change due at `now` (up to `max_rounds` batches; the rest next run)."""
        released = sent = rounds = 0
        while rounds < self.max_rounds:
            events = self.gateway.release_due(now, self.batch)
            rounds += 1
            if not events:
                break
            released += len(events)
            accepted = self.queue.send_events(events)
            sent += accepted
            if accepted < len(events):
                break  # the queue refused some: all of them stay due (applied once by id anyway)
            self.gateway.mark_reported(events)
            if len(events) < self.batch:
                break
        return ClockRun(released, sent, rounds)
