"""`make redrive QUEUE=events`: what the publisher did for an event, the replay does again."""

from __future__ import annotations

from billing.domain.model import Event
from billing.service.event_replay import EventReplay
from billing.service.messages import ReceiptRequest
from billing.service.ports import Changes
from tests.world import MERCHANT, World, settled_charge


class Topic:
    def publish(self, events: list[tuple[str, Event]]) -> set[str]:
        return set()


class Receipts:
    """A receipt queue that takes every request, or refuses them all."""

    def __init__(self, refuse: bool = False) -> None:
        self.asked: list[ReceiptRequest] = []
        self.refuse = refuse

    def send(self, requests: list[ReceiptRequest]) -> set[int]:
        self.asked.extend(requests)
        return set(range(len(requests))) if self.refuse else set()


def succeeded_event(world: World) -> tuple[str, Event]:
    charge = settled_charge(world, MERCHANT, 1)
    event = Event(
        id="evt_replay0001",
        merchant_id=MERCHANT,
        type="charge.succeeded",
        created_at=world.clock.now(),
        data={"object": {"id": charge.id, "mandate_id": charge.mandate_id}},
        customer_has_email=True,
    )
    world.repo.commit(Changes(events=[event]))
    return charge.id, event


def test_a_replayed_charge_succeeded_asks_again_for_its_receipt_number() -> None:
    # Given a charge.succeeded whose stream batch went to the publisher's DLQ (its receipt request may be what failed)
    world = World()
    charge_id, event = succeeded_event(world)
    receipts = Receipts()
    # When the operator redrives it
    published, left = EventReplay(world.repo, Topic(), receipts).republish([(MERCHANT, event.id)])
    # Then it is published and its receipt is asked for, as the publisher does
    assert (published, left) == (1, [])
    assert [(r.charge_id, r.customer_has_email) for r in receipts.asked] == [(charge_id, True)]


def test_a_receipt_request_the_queue_refuses_on_replay_leaves_the_event_for_the_next_redrive() -> None:
    world = World()
    _, event = succeeded_event(world)
    published, left = EventReplay(world.repo, Topic(), Receipts(refuse=True)).republish([(MERCHANT, event.id)])
    assert left == [(MERCHANT, event.id)]
