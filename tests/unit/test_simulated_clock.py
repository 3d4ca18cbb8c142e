"""The simulated gateway's clock: changes leave the due list only once the queue took their events."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.service.gateway_events import GatewayEvent, MethodReport
from billing.service.simulated_clock import SimulatedGatewayClock

NOW = datetime(2027, 3, 10, 9, tzinfo=UTC)


def event(n: int) -> GatewayEvent:
    return GatewayEvent(
        id=f"change:chg_{n}:1:method",
        gateway="simulated",
        event_type="payment_method.automatically_updated",
        created=NOW,
        merchant_id="mch_a",
        method=MethodReport(mandate_id=f"mdt_{n}", last4="4444"),
    )


class Timeline:
    def __init__(self, due: int) -> None:
        self.due = [event(n) for n in range(due)]
        self.reported: list[str] = []

    def release_due(self, now: datetime, limit: int = 100) -> list[GatewayEvent]:
        return [e for e in self.due if e.id not in self.reported][:limit]

    def mark_reported(self, events: list[GatewayEvent]) -> None:
        self.reported += [e.id for e in events]


class Queue:
    def __init__(self, accepts: int = 1000) -> None:
        self.accepts, self.sent = accepts, []  # type: ignore[var-annotated]

    def send_events(self, events: list[GatewayEvent]) -> int:
        taken = events[: self.accepts]
        self.sent += taken
        return len(taken)


def test_every_due_change_is_reported_once_in_batches() -> None:
    # Given 5 changes due and batches of 2
    timeline, queue = Timeline(5), Queue()
    # When the clock runs
    run = SimulatedGatewayClock(timeline, queue, batch=2).run(NOW)
    # Then each was sent once and left the due list
    assert (run.released, run.sent) == (5, 5)
    assert [e.id for e in queue.sent] == [e.id for e in timeline.due] == timeline.reported


def test_changes_the_queue_did_not_take_stay_due_for_the_next_run() -> None:
    timeline = Timeline(3)
    run = SimulatedGatewayClock(timeline, Queue(accepts=1)).run(NOW)
    assert (run.released, run.sent) == (3, 1) and timeline.reported == []
    # The next run reports them all (the one sent twice is applied once, by its id)
    queue = Queue()
    assert SimulatedGatewayClock(timeline, queue).run(NOW).sent == 3 and len(timeline.reported) == 3
