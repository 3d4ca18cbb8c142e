"""Adversarial review of issue 22's money-adjacent paths: each test is an attack (Given/When/Then)
that failed on the code as it landed, kept as a regression test next to its fix."""

from __future__ import annotations

import pytest

from billing.domain.webhooks import WebhookDelivery
from tests.webhook_world import A, Webhooks


@pytest.fixture
def w() -> Webhooks:
    return Webhooks()


# ----------------------------------------------------------------------------- webhook deliveries
def test_a_racing_wake_up_that_failed_never_moves_a_succeeded_delivery_back(w: Webhooks) -> None:
    # Given a pending delivery woken twice (its scheduled wake-up and a redelivered copy), both at
    # the endpoint at once: the second one's POST fails while the first one's succeeds and is recorded
    w.endpoint()
    [d] = w.fan_out.fan_out(w.event())
    w.sender.script = [(500, "http_status")]
    post = w.sender.post

    def racing_post(*args, **kwargs):  # type: ignore[no-untyped-def]
        w.sender.post = post
        answer = post(*args, **kwargs)  # the failed one
        w.deliverer.attempt(A, d.id)  # meanwhile the other wake-up succeeds and records first
        return answer

    w.sender.post = racing_post
    # When the failed attempt is recorded (on a fresh read, after its conflict)
    outcome = w.deliverer.attempt(A, d.id)
    # Then the delivery stays succeeded: no further attempt is scheduled, nothing is woken again
    stored = w.repo.get(WebhookDelivery, A, d.id)
    assert stored is not None and stored.status == "succeeded" and stored.next_attempt_at is None
    assert len(stored.attempts) == 2  # both attempts happened and are kept
    assert outcome.later is None
