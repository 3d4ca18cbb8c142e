"""Review 25b: the creation forms' keys (`once.py`) used where they do not belong. Each held:
a plan form's key sent with the API key form (or the webhook form) is a conflict, never a replay of
the plan's result as a key's; a key form replayed after its key was revoked makes no new key and
shows no secret; the stored results hold no secret."""

from __future__ import annotations

import pytest

from billing.domain.webhooks import WebhookEndpoint
from billing.service.ports import PageRequest
from tests.unit.test_dashboard_confirmations import OWNER, form_key, post, text_of
from tests.unit.test_dashboard_owner_pages import GOLD, keys_of, plans_of
from tests.unit.test_dashboard_security import World
from tests.unit.test_dashboard_webhook_pages import HOOK
from tests.world import MERCHANT


@pytest.fixture
def world() -> World:
    return World()


def test_a_plan_forms_key_on_the_api_key_and_webhook_forms_is_a_conflict_not_a_replay(world: World) -> None:
    # Given a plan made with a form key
    key = form_key(world.request("GET", "/dashboard/plans", OWNER).body)
    assert post(world, "/dashboard/plans", OWNER, GOLD | {"form_key": key}).status == 303
    # When that key is sent with the API key form, and with the webhook form
    as_key = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    as_hook = post(world, "/dashboard/webhooks", OWNER, HOOK | {"form_key": key})
    # Then each is refused as sent before (409), nothing is made, and no plan id is shown as a key
    assert as_key.status == 409 and as_hook.status == 409
    assert keys_of(world) == [] and len(plans_of(world)) == 1
    assert world.billing.repo.page(WebhookEndpoint, MERCHANT, PageRequest(10)).data == []
    assert plans_of(world)[0].id not in as_key.body


def test_a_key_form_replayed_after_its_key_was_revoked_makes_none_and_shows_no_secret(world: World) -> None:
    key = form_key(world.request("GET", "/dashboard/api-keys", OWNER).body)
    first = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    assert first.status == 201
    [made] = keys_of(world)
    assert post(world, f"/dashboard/api-keys/{made.id}/revoke", OWNER, {}).status == 303
    again = post(world, "/dashboard/api-keys", OWNER, {"form_key": key})
    assert again.status == 200 and "already created" in text_of(again.body)
    assert len(keys_of(world)) == 1 and 'class="link secret" value="' not in again.body
    assert "secret" not in repr(world.idempotency.records).lower()
