"""Review 25c's fixes, at the pool adapter: what Cognito refuses is a 4xx, not a 500."""

from __future__ import annotations

import pytest

from billing.domain.errors import ValidationFailed
from tests.unit.test_review25c_users import stubbed_pool


def test_an_address_the_pool_refuses_for_any_reason_is_a_422_on_the_email() -> None:
    # Given the pool refusing an address the form's own checks let through
    pool, stub = stubbed_pool()
    stub.add_client_error("admin_create_user", "InvalidParameterException", "Invalid email address format.", 400)
    # When the adapter creates its user
    with stub, pytest.raises(ValidationFailed) as refused:
        pool.create_user("ona@a.example", "mch_a", "viewer")
    # Then it is a 422 naming the e-mail field
    assert refused.value.status == 422 and refused.value.param == "email"


def test_a_role_set_on_a_user_the_pool_no_longer_has_is_nothing_to_do() -> None:
    # Given a user the pool no longer has
    pool, stub = stubbed_pool()
    stub.add_client_error("admin_update_user_attributes", "UserNotFoundException", "User does not exist.", 400)
    # When their role is set, Then nothing is raised
    with stub:
        pool.set_role("u-9", "owner")
    stub.assert_no_pending_responses()


def test_a_sign_out_ends_the_sessions_of_the_user_the_sub_names_by_the_address_the_pool_holds() -> None:
    # Given a pool user whose address is what the pool holds now
    pool, stub = stubbed_pool()
    attributes = [{"Name": "sub", "Value": "u-9"}, {"Name": "email", "Value": "now@a.example"}]
    stub.add_response(
        "admin_get_user", {"Username": "u-9", "UserAttributes": attributes}, {"UserPoolId": pool.pool_id, "Username": "u-9"}
    )
    stub.add_response("admin_user_global_sign_out", {}, {"UserPoolId": pool.pool_id, "Username": "now@a.example"})
    # When they are signed out by their id
    with stub:
        pool.sign_out("u-9")
    # Then the pool was asked for that user by id, and signed out the address it holds (no token's claim)
    stub.assert_no_pending_responses()


def test_a_sign_out_of_a_user_the_pool_no_longer_has_is_nothing_to_do() -> None:
    pool, stub = stubbed_pool()
    stub.add_client_error("admin_get_user", "UserNotFoundException", "User does not exist.", 400)
    with stub:
        pool.sign_out("u-9")
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(("age_minutes", "deleted"), [(1, False), (10, True)])
def test_a_repeated_removal_deletes_an_unlisted_pool_user_only_past_the_invitation_window(
    age_minutes: int, deleted: bool
) -> None:
    from datetime import datetime, timedelta, timezone

    from billing.domain.dashboard_users import DashboardUser, PoolUser
    from billing.domain.errors import NotFound
    from tests.unit.test_dashboard_security import World

    # Given a pool user of the owner's merchant that no row lists: a minute old (another owner's
    # invitation in flight, its row not yet written) or ten (a removal whose pool delete failed)
    world = World()
    sub = world.pool.create_user("new@a.example", "mch_a", "viewer")
    created = datetime.now(timezone.utc) - timedelta(minutes=age_minutes)
    world.pool.user = lambda username: (  # type: ignore[method-assign]
        PoolUser(sub, "new@a.example", "mch_a", created) if username in (sub, "new@a.example") else None
    )
    owner = DashboardUser(world.owner_a.user_id, world.owner_a.email, "mch_a", "owner")
    # When an owner removes it by its id (a removal sent again)
    with pytest.raises(NotFound):
        world.users.remove(owner, sub)
    # Then it is deleted only once it is past an invitation's window
    assert (sub not in world.pool.users) is deleted
