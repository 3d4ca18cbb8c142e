"""The composition root builds each AWS client a function needs once (a client is a cold-start cost)."""

from __future__ import annotations

from collections import Counter

from billing import bootstrap
from billing.settings import Settings
from tests.fakes import FakeClock


class CountingClients:
    """A client factory that counts the clients made by service name (the clients do nothing)."""

    def __init__(self) -> None:
        self.made: Counter[str] = Counter()

    def __call__(self, service: str) -> object:
        self.made[service] += 1
        return object()


SETTINGS = Settings(
    table_name="billing",
    charge_queue_url="https://sqs/gateway",
    notify_queue_url="https://sqs/notify",
    receipt_queue_url="https://sqs/receipts.fifo",
    unpublished_events_queue_url="https://sqs/unpublished",
    events_topic_arn="arn:aws:sns:eu-west-1:123456789012:events",
)


def test_the_dispatcher_and_the_event_publisher_share_one_sqs_client_between_their_queues() -> None:
    # Given functions that each send to two queues
    for factory in (bootstrap.dispatcher, bootstrap.event_publisher):
        clients = CountingClients()
        # When the function's dependencies are built
        factory(bootstrap.Overrides(settings=SETTINGS, client=clients, clock=FakeClock(None)))
        # Then one SQS client serves both queues
        assert clients.made["sqs"] == 1, (factory.__name__, clients.made)
