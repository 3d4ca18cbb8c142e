"""The webhook system on in-memory fakes: endpoints use cases, fan-out and deliverer, wired as
the composition root wires them, with hands on the sender, the queue and the clock."""

from __future__ import annotations

import os
import time

from billing.domain.model import Event
from billing.service.event_recorder import EventRecorder
from billing.service.ports import Changes, WebhookPorts
from billing.service.webhooks import WebhookDeliverer, WebhookEndpoints, WebhookFanOut
from tests.fakes import (
    FakeClock,
    FakeDestinations,
    FakeSecretBox,
    FakeSender,
    FakeSlots,
    FakeWebhookQueue,
    InMemoryRepository,
    SequentialIds,
)

A, B = "mch_a", "mch_b"


class Webhooks:
    def __init__(self) -> None:
        self.clock, self.repo, self.ids = FakeClock(), InMemoryRepository(), SequentialIds()
        self.box, self.queue, self.sender, self.slots = FakeSecretBox(), FakeWebhookQueue(), FakeSender(), FakeSlots()
        self.destinations = FakeDestinations({"rebound.example"})
        self.recorder = EventRecorder(self.ids)
        self.wall = time.time()
        ports = WebhookPorts(
            box=self.box,
            destinations=self.destinations,
            queue=self.queue,
            slots=self.slots,
            sender=self.sender,
            random_bytes=os.urandom,
            wall_clock=lambda: self.wall,
        )
        self.endpoints = WebhookEndpoints(self.repo, self.clock, self.ids, self.recorder, ports)
        self.fan_out = WebhookFanOut(self.repo, self.clock, self.queue)
        from billing.shapes import render_event

        self.deliverer = WebhookDeliverer(self.repo, self.clock, self.ids, self.recorder, ports, render_event)

    def endpoint(self, merchant: str = A, **fields: object) -> tuple[str, str]:
        body = {"url": "https://shop.example/hooks", "enabled_events": ["*"], "description": None, "metadata": {}, **fields}
        made = self.endpoints.create(merchant, type("New", (), body)())
        return made.endpoint.id, made.secret

    def event(self, merchant: str = A, type: str = "charge.succeeded") -> Event:
        event = Event(
            id=self.ids.new("evt"), merchant_id=merchant, type=type, created_at=self.clock.now(), data={"object": {"id": "chg_1"}}
        )
        self.repo.commit(Changes(events=[event]))
        return event

    def run_due(self) -> list:
        """Attempt every woken delivery (the queue's consumer), once."""
        return [self.deliverer.attempt(m, d) for m, d in self.queue.take()]
