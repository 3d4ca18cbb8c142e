"""An owner changes a user's role on the dashboard's users page, through its real routes, sessions
and the users use case with the fake pool and directory: the directory (the members list) and the
pool's `custom:role` agree afterwards; the user's session has the new role on its next request,
whatever the token still says (the directory is what counts); the last owner is never demoted nor
removed, not even by two owners at once; a viewer's change is 403 and changes nothing, another
merchant's user is 404, a role the dashboard does not know is 422; English and Lithuanian."""

from __future__ import annotations

import pytest

from billing.domain.dashboard_users import DashboardUser, Forbidden
from tests.unit.test_dashboard_security import World, token


@pytest.fixture
def world() -> World:
    world = World()
    world.members.delete("mch_a", "u-owner")  # mch_a: one owner (owner@a.example) and one viewer
    return world


def change(world: World, session: str, user_id: str, role: str, lang: str = "en"):  # type: ignore[no-untyped-def]
    form = {"role": role, "csrf": world.csrf(session)}
    return world.request("POST", f"/dashboard/users/{user_id}/role?lang={lang}", session, form)


def roles(world: World, user_id: str) -> tuple[str, str]:
    """The directory's role and the pool's `custom:role` of a user of mch_a."""
    member = world.members.get("mch_a", user_id)
    return (member.role if member else "-"), world.pool.users[user_id][2]


def test_an_owner_makes_a_viewer_an_owner_and_their_session_has_it_on_the_next_request(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    viewer = token(role="viewer", sub=world.viewer_a.user_id)  # the token says viewer for its hour
    page = world.request("GET", "/dashboard/users", owner).body
    assert f'action="/dashboard/users/{world.viewer_a.user_id}/role"' in page and "Make an owner" in page
    # When the owner makes the viewer an owner
    done = change(world, owner, world.viewer_a.user_id, "owner")
    # Then the directory and the pool agree
    assert done.status == 303 and done.headers["Location"] == "/dashboard/users?done=role_changed"
    assert roles(world, world.viewer_a.user_id) == ("owner", "owner")
    assert "applies from their next page" in world.request("GET", done.headers["Location"], owner).body
    # And the promoted user acts as an owner at once, with the token that still says viewer
    invited = world.request(
        "POST", "/dashboard/users", viewer, {"email": "x@a.example", "role": "viewer", "csrf": world.csrf(viewer)}
    )
    assert invited.status == 303


def test_a_demoted_owner_is_a_viewer_on_the_next_request(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    change(world, owner, world.viewer_a.user_id, "owner")
    second = token(sub=world.viewer_a.user_id)  # a token that says owner
    # When the first owner makes the second a viewer again
    assert change(world, owner, world.viewer_a.user_id, "viewer").status == 303
    assert roles(world, world.viewer_a.user_id) == ("viewer", "viewer")
    # Then the second's owner token no longer acts, and their page offers no action
    refused = world.request(
        "POST", "/dashboard/users", second, {"email": "y@a.example", "role": "owner", "csrf": world.csrf(second)}
    )
    assert refused.status == 403 and "Only an owner" in refused.body
    assert "/role" not in world.request("GET", "/dashboard/users", second).body


def test_the_last_owner_is_never_demoted(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    refused = change(world, owner, world.owner_a.user_id, "viewer")
    assert refused.status == 409 and "keeps at least one owner" in refused.body and 'role="alert"' in refused.body
    assert roles(world, world.owner_a.user_id) == ("owner", "owner")
    # Given a second owner, an owner may make themselves a viewer
    change(world, owner, world.viewer_a.user_id, "owner")
    assert change(world, owner, world.owner_a.user_id, "viewer").status == 303
    assert roles(world, world.owner_a.user_id) == ("viewer", "viewer")
    # And the one owner left can neither demote nor remove themselves
    last = token(sub=world.viewer_a.user_id)
    assert change(world, last, world.viewer_a.user_id, "viewer").status == 409
    assert (
        world.request("POST", f"/dashboard/users/{world.viewer_a.user_id}/remove", last, {"csrf": world.csrf(last)}).status == 409
    )
    assert roles(world, world.viewer_a.user_id) == ("owner", "owner")


def test_two_owners_demoting_each_other_at_once_leave_one_owner(world: World) -> None:
    # Given two owners, each having read the list (each sees the other as an owner)
    first, second = world.owner_a, world.viewer_a
    change(world, token(sub=first.user_id), second.user_id, "owner")
    users = world.users
    acting_first = DashboardUser(first.user_id, first.email, "mch_a", "owner")
    acting_second = DashboardUser(second.user_id, second.email, "mch_a", "owner")
    # When the first demotes the second, and the second (acting on what they saw) the first
    users.change_role(acting_first, second.user_id, "viewer")
    # (the directory, read when the second acts, no longer lists them as an owner: 403; read before
    # the first's write landed, the transaction refuses it: 409, on moto in test_dashboard_on_moto)
    with pytest.raises(Forbidden):
        users.change_role(acting_second, first.user_id, "viewer")
    # Then the merchant keeps its owner; nor can the demoted one remove them
    with pytest.raises(Forbidden):
        users.remove(acting_second, first.user_id)
    assert roles(world, first.user_id) == ("owner", "owner") and roles(world, second.user_id) == ("viewer", "viewer")


def test_a_viewers_change_is_403_and_changes_nothing(world: World) -> None:
    viewer = token(role="viewer", sub=world.viewer_a.user_id)
    refused = change(world, viewer, world.viewer_a.user_id, "owner")
    assert refused.status == 403 and "Only an owner" in refused.body
    assert roles(world, world.viewer_a.user_id) == ("viewer", "viewer")
    # A token that says owner does not help a user the directory lists as a viewer
    forged_role = token(sub=world.viewer_a.user_id)
    assert change(world, forged_role, world.viewer_a.user_id, "owner").status == 403
    assert roles(world, world.viewer_a.user_id) == ("viewer", "viewer")


def test_without_the_sessions_csrf_token_nothing_changes(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    response = world.request("POST", f"/dashboard/users/{world.viewer_a.user_id}/role", owner, {"role": "owner"})
    assert response.status == 403 and roles(world, world.viewer_a.user_id) == ("viewer", "viewer")


def test_another_merchants_user_is_404_and_unchanged(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    assert change(world, owner, world.owner_b.user_id, "viewer").status == 404
    assert change(world, owner, "u-nope", "viewer").status == 404
    assert world.members.get("mch_b", world.owner_b.user_id).role == "owner"  # type: ignore[union-attr]
    assert world.pool.users[world.owner_b.user_id][2] == "owner"


@pytest.mark.parametrize("role", ["", "admin", "OWNER", "owner " * 10])
def test_a_role_the_dashboard_does_not_know_is_a_422_page(world: World, role: str) -> None:
    owner = token(sub=world.owner_a.user_id)
    refused = change(world, owner, world.viewer_a.user_id, role)
    assert refused.status == 422 and "Please check the form" in refused.body
    assert roles(world, world.viewer_a.user_id) == ("viewer", "viewer")


def test_the_role_change_speaks_lithuanian(world: World) -> None:
    owner = token(sub=world.owner_a.user_id)
    page = world.request("GET", "/dashboard/users?lang=lt", owner).body
    assert "Padaryti savininku" in page
    done = change(world, owner, world.viewer_a.user_id, "owner", "lt")
    assert "Naudotojo vaidmuo pakeistas" in world.request("GET", done.headers["Location"] + "&lang=lt", owner).body
    assert "Padaryti žiūrėtoju" in world.request("GET", "/dashboard/users?lang=lt", owner).body
