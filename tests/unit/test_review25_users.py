"""Review 25: a merchant keeps an owner. Two owners removing each other (two requests in flight,
each session verified before the other's removal lands) must not leave the merchant with none."""

from __future__ import annotations

import pytest

from billing.domain.dashboard_users import DashboardUser
from billing.domain.errors import BillingError
from tests.unit.test_dashboard_security import World, token


@pytest.fixture
def world() -> World:
    return World()


def test_two_owners_removing_each_other_leave_one_owner(world: World) -> None:
    # Given merchant A with two owners (the fixture's and a second one), both signed in
    second, _ = world.users.create_owner("mch_a", "second@a.example")
    world.members.delete("mch_a", "u-owner")  # only the two under test
    first = DashboardUser(world.owner_a.user_id, "owner@a.example", "mch_a", "owner")
    other = DashboardUser(second.user_id, "second@a.example", "mch_a", "owner")
    # When each removes the other (both requests passed the session check before either removal)
    world.users.remove(first, other.user_id)
    try:
        world.users.remove(other, first.user_id)
    except BillingError:
        pass
    # Then the merchant still has an owner
    assert [m for m in world.members.list("mch_a") if m.role == "owner"]


def test_a_removed_owners_next_request_cannot_remove_anyone(world: World) -> None:
    # Sequentially, the removed owner's next request is refused at the session (holds)
    second, _ = world.users.create_owner("mch_a", "second@a.example")
    first_session, second_session = token(sub=world.owner_a.user_id), token(sub=second.user_id)
    csrf_second = world.csrf(second_session)
    assert world.request("POST", f"/dashboard/users/{second.user_id}/remove", first_session,
                         {"csrf": world.csrf(first_session)}).status == 303  # fmt: skip
    response = world.request("POST", f"/dashboard/users/{world.owner_a.user_id}/remove", second_session, {"csrf": csrf_second})
    assert response.status == 401 and world.members.get("mch_a", world.owner_a.user_id) is not None
