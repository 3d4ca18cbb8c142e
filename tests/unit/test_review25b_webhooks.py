"""Review 25b: the webhooks page's secret rotation sent twice (a double click, a reload of the POST's
page). The rotation form carries no form key and no confirmation, so each send rotates: the second
rotation moves the first one's secret (never seen by anyone: the browser shows the last response)
into the 24-hour overlap and drops the secret the merchant's server is actually using at once.
Every delivery then fails its signature check until the merchant deploys the new secret, which
breaks the contract's "for the next 24 h the previous secret still signs" promise."""

from __future__ import annotations

import pytest

from billing.domain.webhooks import WebhookEndpoint
from tests.unit.test_dashboard_owner_pages import OWNER, post
from tests.unit.test_dashboard_security import World
from tests.unit.test_dashboard_webhook_pages import endpoint, endpoints_of, secret_on
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def secrets_that_sign(world: World, hook: WebhookEndpoint) -> set[str]:
    """The secrets a receiver may verify with now: the current one and, during the overlap, the previous."""
    box, now = world.secret_box, world.billing.clock.now()
    found = {box.open(hook.sealed_secret, MERCHANT, hook.id)}
    if hook.previous_sealed_secret and hook.previous_secret_expires_at and hook.previous_secret_expires_at > now:
        found.add(box.open(hook.previous_sealed_secret, MERCHANT, hook.id))
    return found


def test_a_rotation_sent_twice_keeps_the_secret_in_use_valid_for_the_overlap(world: World) -> None:
    # Given an endpoint whose secret the merchant's server verifies with
    endpoint_id = endpoint(world)
    in_use = world.secret_box.open(endpoints_of(world)[0].sealed_secret, MERCHANT, endpoint_id)
    # When the owner double-clicks "Rotate secret" (the same form sent twice)
    first = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER)
    second = post(world, f"/dashboard/webhooks/{endpoint_id}/rotate", OWNER)
    assert first.status == 200 and second.status in (200, 303, 409)
    # Then the secret the server still uses keeps signing for the overlap the contract promises
    [hook] = endpoints_of(world)
    assert in_use in secrets_that_sign(world, hook)
    # And the secret the owner is shown (the last response's) signs too
    if second.status == 200 and 'id="new-secret"' in second.body:
        assert secret_on(second.body) in secrets_that_sign(world, hook)
