"""Review 25c: the merchant's users after invitations went under the owners rule (decision 222).

- "If the row is not written, for any reason, the pool's user is deleted again": an exception from
  `DashboardMembers.add` does not mean the row was not written. Its TransactWriteItems carries no
  ClientRequestToken (decision 42 says every one does), so botocore's retry after a lost answer
  (a read timeout, a 500 after the commit) fails its own `attribute_not_exists` condition
  (MembersChanged), and the invitation deletes the pool user of a row it did write: the directory
  lists a user the pool does not have. Changing that user's role then answers 500 (the pool's
  `UserNotFoundException`, after the directory was written).
- An address the pool refuses (Cognito's user names are at most 128 characters; the form takes 254)
  is a 500 page, not the form again with the field named.
- The app client lets a user write their own `email` (WriteAttributes), with no verification before
  the change: any user can put an address they do not own on themselves, so an owner's invitation
  of that address is "already exists" (listed by the squatter's merchant) for ever.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from billing.adapters.cognito import CognitoUserPool
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers
from billing.domain.dashboard_users import DashboardUser, Member, MembersChanged
from billing.service.dashboard import DashboardUsers
from devtools.template import resources
from tests.unit.test_dashboard_security import POOL, REGION, Clock, World, token


@pytest.fixture
def world() -> World:
    return World()


def owner_of_a(world: World) -> DashboardUser:
    return DashboardUser(world.owner_a.user_id, world.owner_a.email, "mch_a", "owner")


def stubbed_pool() -> tuple[CognitoUserPool, Stubber]:
    client = boto3.client("cognito-idp", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    return CognitoUserPool(client, POOL), Stubber(client)


# ----------------------------------------------------------------------------- a write whose answer was lost


def test_an_invitation_whose_row_was_written_but_answered_an_error_keeps_the_pool_user(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the directory's transaction is written, but its answer is lost and botocore's retry
    # fails its own condition (no ClientRequestToken): MembersChanged, as the adapter maps it
    add = world.members.add

    def written_then_refused_on_retry(merchant_id: str, member: Member, owners: tuple[str, ...]) -> None:
        add(merchant_id, member, owners)
        raise MembersChanged("The merchant's users changed meanwhile: no one was invited. Reload and try again.")

    monkeypatch.setattr(world.members, "add", written_then_refused_on_retry)
    # When an owner invites someone
    with pytest.raises(MembersChanged):
        world.users.invite(owner_of_a(world), "ona@a.example", "viewer")
    # Then every user the directory lists still has their pool user (else: listed, never able to sign in)
    [row] = [m for m in world.members.list("mch_a") if m.email == "ona@a.example"]
    assert world.pool.user(row.user_id) is not None


class RecordingClient:
    """A DynamoDB client that records each TransactWriteItems and answers it as written."""

    def __init__(self) -> None:
        self.transactions: list[dict[str, Any]] = []

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.transactions.append(request)
        return {}


def test_the_directorys_transactions_are_idempotent_when_botocore_retries_them() -> None:
    # Given the directory's adapter
    client = RecordingClient()
    members = DynamoDashboardMembers(client, "t")
    member = Member("u-9", "ona@a.example", "viewer", Clock().now(), invited_by="u-1")
    # When it adds a user, changes a role and removes a user
    members.add("mch_a", member, ("u-1",))
    members.change("mch_a", "u-9", "owner", ("u-1",))
    members.change("mch_a", "u-9", None, ("u-1",))
    # Then each TransactWriteItems carries a ClientRequestToken (a retry after a lost answer is the same write)
    assert len(client.transactions) == 3
    assert all(t.get("ClientRequestToken") for t in client.transactions)


def test_a_role_change_of_a_listed_user_the_pool_no_longer_has_is_no_500(world: World) -> None:
    # Given a user the directory lists whose pool user is gone (the lost answer above, an operator's delete)
    pool, stub = stubbed_pool()
    world.users = DashboardUsers(pool, world.members, Clock())
    stub.add_client_error("admin_update_user_attributes", "UserNotFoundException", "User does not exist.", 400)
    session = token(sub=world.owner_a.user_id, email=world.owner_a.email)
    # When an owner makes them an owner
    with stub:
        response = world.request(
            "POST", f"/dashboard/users/{world.viewer_a.user_id}/role", session, {"role": "owner", "csrf": world.csrf(session)}
        )
    # Then the page says what happened (done, or a 4xx), never the 500 page
    assert response.status < 500, response.body


# ----------------------------------------------------------------------------- addresses the pool refuses


def test_an_address_the_pool_refuses_is_the_form_again_not_a_500(world: World) -> None:
    # Given the real pool adapter; Cognito's user names are 1-128 characters (AdminCreateUser's Username)
    pool, stub = stubbed_pool()
    world.users = DashboardUsers(pool, world.members, Clock())
    stub.add_client_error(
        "admin_create_user",
        "InvalidParameterException",
        "1 validation error detected: Value at 'username' failed to satisfy constraint: "
        "Member must have length less than or equal to 128",
        400,
    )
    session = token(sub=world.owner_a.user_id, email=world.owner_a.email)
    long_address = "a" * 64 + "@" + "b" * 60 + ".example.com"  # 137 characters: the form's own check lets it through
    # When an owner invites it
    with stub:
        response = world.request(
            "POST", "/dashboard/users", session, {"email": long_address, "role": "viewer", "csrf": world.csrf(session)}
        )
    # Then the users page says the e-mail is refused (422), not the 500 page
    assert response.status == 422, response.status


# ----------------------------------------------------------------------------- a user renaming themselves


def test_a_user_cannot_put_an_address_they_do_not_own_on_themselves() -> None:
    # Given the pool and its app client as deployed (SRP sign-in gives a user an access token that
    # may call UpdateUserAttributes on the attributes the client may write)
    [pool] = resources("AWS::Cognito::UserPool").values()
    [client] = resources("AWS::Cognito::UserPoolClient").values()
    writable = client["Properties"].get("WriteAttributes")
    verified_first = (
        pool["Properties"].get("UserAttributeUpdateSettings", {}).get("AttributesRequireVerificationBeforeUpdate", [])
    )
    # Then the e-mail is either not theirs to write, or changes only once the new address is verified
    assert (writable is not None and "email" not in writable) or "email" in verified_first


# ----------------------------------------------------------------------------- what held


def test_an_owner_of_one_merchant_cannot_delete_or_take_over_anothers_pool_user(world: World) -> None:
    # (holds) removing by another merchant's sub or e-mail, inviting their listed address: B untouched
    from billing.domain.errors import InvalidState, NotFound

    owner, theirs = owner_of_a(world), world.owner_b
    for user_id in (theirs.user_id, theirs.email, theirs.email.upper()):
        with pytest.raises(NotFound):
            world.users.remove(owner, user_id)
    for address in (theirs.email, theirs.email.upper(), f"  {theirs.email} "):
        with pytest.raises(InvalidState):
            world.users.invite(owner, address, "owner")
    assert world.pool.user(theirs.user_id) is not None and world.members.get("mch_b", theirs.user_id) == theirs


def test_an_unlisted_pool_user_still_within_its_invitation_is_never_adopted(world: World) -> None:
    # (holds) another merchant's invitation in flight (pool user a minute old, row not yet written)
    from datetime import datetime, timedelta, timezone

    from billing.domain.dashboard_users import PoolUser
    from billing.domain.errors import InvalidState

    sub = world.pool.create_user("new@b.example", "mch_b", "viewer")
    time_now = datetime.now(timezone.utc)
    world.pool.user = lambda username: (  # type: ignore[method-assign]
        PoolUser(sub, "new@b.example", "mch_b", time_now - timedelta(minutes=1)) if username in (sub, "new@b.example") else None
    )
    with pytest.raises(InvalidState):
        world.users.invite(owner_of_a(world), "new@b.example", "owner")
    assert sub in world.pool.users
