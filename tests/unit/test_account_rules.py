"""The account's rules on fakes: partial changes, merged notification settings, no write when
nothing changed, a race redone on fresh state."""

from __future__ import annotations

import pytest

from billing.api.requests import AccountUpdate
from billing.domain.errors import ValidationFailed
from billing.service.ports import Changes
from tests.world import MERCHANT, World


def patch(world: World, **body: object):
    return world.api.account.update(MERCHANT, AccountUpdate.model_validate(body))


def test_notification_settings_merge_and_an_unchanged_patch_writes_nothing() -> None:
    world = World()
    first = patch(world, notifications={"trial_ending_days": 0}, legal_name="UAB A")
    assert first.notifications.trial_ending_days == 0 and first.notifications.upcoming_charge_days == 3
    commits = len(world.repo.commits)
    same = patch(world, notifications={"trial_ending_days": 0}, legal_name="UAB A")
    assert same.version == first.version and len(world.repo.commits) == commits
    second = patch(world, notifications={"receipts": False})
    assert second.notifications.trial_ending_days == 0 and second.notifications.receipts is False


def test_required_fields_cannot_be_cleared_and_the_domain_validates_too() -> None:
    world = World()
    with pytest.raises(ValidationFailed):
        world.api.account.update(MERCHANT, AccountUpdate.model_construct(name=None, _fields_set={"name"}))
    account = world.api.account.get(MERCHANT)
    with pytest.raises(ValueError):
        account.update(account.updated_at, {"receipt_prefix": "bad prefix"})
    assert world.api.account.get(MERCHANT).receipt_prefix == "R"


def test_a_concurrent_change_is_redone_on_the_fresh_account() -> None:
    world = World()
    patch(world, vat_id="LT100000019")
    world.repo.conflicts_left = 1
    changed = patch(world, support_email="help@shop.test")
    assert changed.vat_id == "LT100000019" and changed.support_email == "help@shop.test"


def test_the_domain_refuses_line_breaks_in_one_line_text_but_keeps_what_was_stored_before() -> None:
    world = World()
    account = world.api.account.get(MERCHANT)
    # When a name with a line break reaches the domain (whatever the edge let through), Then it is refused naming it
    with pytest.raises(ValidationFailed) as refused:
        account.update(account.updated_at, {"name": "Shop\r\nBcc: x@y.z"})
    assert refused.value.param == "name"
    # Given an account stored before the rule, with a line break in its name
    account.name = "Old\nname"
    world.repo.commit(Changes(put=[account]))
    # When another field changes, Then it loads and changes (the old name is not checked again)
    assert patch(world, vat_id="LT100000019").name == "Old\nname"
