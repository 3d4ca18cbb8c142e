"""Review 25b: the merchant's users after role changes and removals went through one rule
(`owners_required`, `DashboardMembers.change`): what is still outside it.

- An invitation is not written under the rule: an owner demoted or removed while their request was
  in flight (the session verified just before) still invites, e.g. a new owner of their choosing.
  Removals and role changes refuse the same stale owner (tests/unit/test_dashboard_user_roles.py).
- The pool failing half-way leaves an e-mail address stuck: invited in the pool but never listed
  (the directory write failed), or removed from the directory but still in the pool (the pool's
  delete failed). Either way the dashboard can neither list, remove nor invite that address again
  ("already exists"), only an operator can."""

from __future__ import annotations

from dataclasses import replace

import pytest

from billing.domain.dashboard_users import DashboardUser
from billing.domain.errors import BillingError
from tests.unit.test_dashboard_security import World, token


@pytest.fixture
def world() -> World:
    world = World()
    world.members.delete("mch_a", "u-owner")  # mch_a: owner@a.example (owner) and viewer@a.example (viewer)
    return world


def listed(world: World, email: str) -> bool:
    return any(m.email == email for m in world.members.list("mch_a"))


def in_pool(world: World, email: str) -> bool:
    return any(e == email for e, _, _ in world.pool.users.values())


# ----------------------------------------------------------------------------- an invitation by a stale owner


def test_an_owner_demoted_while_their_invitation_is_in_flight_invites_no_one(world: World) -> None:
    # Given two owners; the first's request passed the session check as an owner
    first, second = world.owner_a, world.viewer_a
    world.members.put("mch_a", replace(second, role="owner"))
    acting_first = DashboardUser(first.user_id, first.email, "mch_a", "owner")
    # When the second owner demotes the first (landing before the first's invitation is written)
    world.users.change_role(DashboardUser(second.user_id, second.email, "mch_a", "owner"), first.user_id, "viewer")
    # And the first's in-flight request invites an owner of their choosing
    try:
        world.users.invite(acting_first, "backdoor@evil.example", "owner")
    except BillingError:
        pass
    # Then no one was invited: the directory no longer names the first as an owner
    assert not listed(world, "backdoor@evil.example") and not in_pool(world, "backdoor@evil.example")


def test_an_owner_removed_while_their_invitation_is_in_flight_invites_no_one(world: World) -> None:
    first, second = world.owner_a, world.viewer_a
    world.members.put("mch_a", replace(second, role="owner"))
    acting_first = DashboardUser(first.user_id, first.email, "mch_a", "owner")
    world.users.remove(DashboardUser(second.user_id, second.email, "mch_a", "owner"), first.user_id)
    try:
        world.users.invite(acting_first, "backdoor@evil.example", "owner")
    except BillingError:
        pass
    assert not listed(world, "backdoor@evil.example") and not in_pool(world, "backdoor@evil.example")


def test_sequentially_a_demoted_owners_invitation_is_refused_at_the_session(world: World) -> None:
    # (holds) the next request after the demotion reads the directory's role: 403
    session = token(sub=world.owner_a.user_id)
    csrf = world.csrf(session)
    world.members.put("mch_a", replace(world.viewer_a, role="owner"))
    world.members.put("mch_a", replace(world.owner_a, role="viewer"))
    response = world.request("POST", "/dashboard/users", session, {"email": "x@a.example", "role": "owner", "csrf": csrf})
    assert response.status == 403 and not in_pool(world, "x@a.example")


# ----------------------------------------------------------------------------- the pool failing half-way


class Outage(Exception):
    """DynamoDB or Cognito failing once (a throttle, a timeout)."""


def test_an_invitation_whose_directory_write_failed_can_be_sent_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = DashboardUser(world.owner_a.user_id, world.owner_a.email, "mch_a", "owner")
    put = world.members.put
    calls = {"n": 0}

    def failing_once(merchant_id: str, member: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Outage("ProvisionedThroughputExceededException")
        put(merchant_id, member)  # type: ignore[arg-type]

    monkeypatch.setattr(world.members, "put", failing_once)
    # When the owner invites someone and the directory's write fails (a 500 page)
    with pytest.raises(Outage):
        world.users.invite(owner, "ona@a.example", "viewer")
    # Then the owner can send the invitation again (or the pool user was taken back)
    try:
        world.users.invite(owner, "ona@a.example", "viewer")
    except BillingError as refused:
        pytest.fail(f"the address is stuck: {refused.message}")
    assert listed(world, "ona@a.example")


def test_a_removal_whose_pool_delete_failed_leaves_the_address_invitable(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = DashboardUser(world.owner_a.user_id, world.owner_a.email, "mch_a", "owner")
    viewer = world.viewer_a
    delete = world.pool.delete_user
    calls = {"n": 0}

    def failing_once(user_id: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Outage("TooManyRequestsException")
        delete(user_id)

    monkeypatch.setattr(world.pool, "delete_user", failing_once)
    # When the owner removes the viewer and the pool's delete fails (a 500 page)
    with pytest.raises(Outage):
        world.users.remove(owner, viewer.user_id)
    # Then retrying the removal, or inviting the address again, works
    try:
        world.users.remove(owner, viewer.user_id)
    except BillingError:
        pass  # 404: the row is gone already
    try:
        world.users.invite(owner, viewer.email, "viewer")
    except BillingError as refused:
        pytest.fail(f"the address is stuck: {refused.message}")
    assert listed(world, viewer.email)


def test_a_role_change_whose_pool_write_failed_is_mended_by_sending_it_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (holds) the directory is written first and counts; the same change again writes the pool's attribute
    owner = DashboardUser(world.owner_a.user_id, world.owner_a.email, "mch_a", "owner")
    set_role = world.pool.set_role
    calls = {"n": 0}

    def failing_once(user_id: str, role: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Outage("TooManyRequestsException")
        set_role(user_id, role)

    monkeypatch.setattr(world.pool, "set_role", failing_once)
    with pytest.raises(Outage):
        world.users.change_role(owner, world.viewer_a.user_id, "owner")
    assert world.members.get("mch_a", world.viewer_a.user_id).role == "owner"  # type: ignore[union-attr]
    world.users.change_role(owner, world.viewer_a.user_id, "owner")
    assert world.pool.users[world.viewer_a.user_id][2] == "owner"
