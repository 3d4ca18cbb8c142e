"""The rule every change to a merchant's users obeys (domain, pure): the acting owner is still an
owner, and the merchant keeps one; and a token issued before its user last signed out opens nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from billing.domain.dashboard_users import (
    DashboardUser,
    Forbidden,
    Member,
    NoOwnerLeft,
    Role,
    leaves_an_owner,
    owners_required,
    signed_out,
)

AT = datetime(2026, 12, 1, tzinfo=timezone.utc)


def member(user_id: str, role: Role) -> Member:
    return Member(user_id, f"{user_id}@a.example", role, AT)


def actor(user_id: str, role: Role = "owner") -> DashboardUser:
    return DashboardUser(user_id, f"{user_id}@a.example", "mch_a", role)


TWO_OWNERS = [member("a", "owner"), member("b", "owner"), member("v", "viewer")]
ONE_OWNER = [member("a", "owner"), member("v", "viewer")]


def test_an_owner_changing_someone_else_needs_only_to_still_be_an_owner() -> None:
    assert owners_required(ONE_OWNER, actor("a"), "v", None) == ("a",)
    assert owners_required(TWO_OWNERS, actor("a"), "b", None) == ("a",)
    assert owners_required(TWO_OWNERS, actor("a"), "b", "viewer") == ("a",)
    assert owners_required(ONE_OWNER, actor("a"), "v", "owner") == ("a",)


def test_an_owner_giving_up_their_own_ownership_needs_another_owner_to_remain() -> None:
    assert owners_required(TWO_OWNERS, actor("a"), "a", "viewer") == ("a", "b")
    with pytest.raises(NoOwnerLeft) as refused:
        owners_required(ONE_OWNER, actor("a"), "a", "viewer")
    assert refused.value.status == 409 and "at least one owner" in refused.value.message


def test_an_actor_no_longer_an_owner_in_the_directory_is_refused() -> None:
    # Given owner b removed (or demoted) by a's request that landed first
    with pytest.raises(Forbidden):
        owners_required(ONE_OWNER, actor("b"), "a", None)
    with pytest.raises(Forbidden):
        owners_required([member("a", "owner"), member("b", "viewer")], actor("b"), "a", None)
    with pytest.raises(Forbidden):
        owners_required(TWO_OWNERS, actor("v", "viewer"), "a", None)


@pytest.mark.parametrize(
    ("members", "user_id", "role", "kept"),
    [
        (ONE_OWNER, "a", None, False),
        (ONE_OWNER, "a", "viewer", False),
        (ONE_OWNER, "v", None, True),
        (ONE_OWNER, "v", "owner", True),
        (TWO_OWNERS, "a", None, True),
        ([member("v", "viewer")], "v", "owner", True),
        ([], "x", None, False),
    ],
)
def test_leaves_an_owner(members: list[Member], user_id: str, role: Role | None, kept: bool) -> None:
    assert leaves_an_owner(members, user_id, role) is kept


@pytest.mark.parametrize(
    ("claims", "refused"),
    [
        ({"auth_time": int(AT.timestamp()) - 1}, True),  # signed in before
        ({"auth_time": int(AT.timestamp())}, True),  # the same second: refused (the pool's times are whole seconds)
        ({"auth_time": int(AT.timestamp()) + 1}, False),  # signed in again after
        ({"iat": int(AT.timestamp()) + 1}, False),  # no auth_time: iat
        ({"auth_time": int(AT.timestamp()) - 1, "iat": int(AT.timestamp()) + 60}, True),  # refreshed: auth_time counts
        ({}, True),  # no time at all
        ({"auth_time": "later"}, True),
        ({"auth_time": True}, True),
    ],
)
def test_a_token_issued_before_the_last_sign_out_is_signed_out(claims: dict[str, object], refused: bool) -> None:
    signed_out_at = AT.replace(microsecond=400_000)
    assert signed_out(claims, signed_out_at) is refused
    assert signed_out(claims, None) is False  # never signed out
