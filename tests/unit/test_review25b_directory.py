"""Review 25b: the merchant's directory was read in one page of at most 200 users
(`DynamoDashboardMembers.list`, `Limit=200`, no cursor), while invitations have no limit. From the
201st user on, the rule every removal and role change obeys (`owners_required`) read a list that
missed users at random (the sort key is the pool's random `sub`): an owner not in the first 200
was refused as "not an owner" (403), another owner could be missed ("no owner would be left", 409),
and the users page never listed the rest. Now every page is read. On moto, the adapter as
deployed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing.adapters.dynamodb.dashboard_members import PAGE_SIZE as MAX_MEMBERS
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers
from billing.domain.dashboard_users import DashboardUser, Member
from billing.domain.errors import BillingError
from billing.service.dashboard import DashboardUsers
from tests.unit.test_dashboard_security import Clock, FakePool

AT = datetime(2026, 12, 1, tzinfo=timezone.utc)


@pytest.fixture
def members() -> Iterator[DynamoDashboardMembers]:
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDashboardMembers(client, "t")


def test_an_owner_of_a_merchant_with_more_than_200_users_can_still_change_a_role(members: DynamoDashboardMembers) -> None:
    # Given a merchant with 200 viewers (invited one by one: nothing stops the 201st) and an owner
    # whose pool id sorts after theirs
    for n in range(MAX_MEMBERS):
        members.put("mch_a", Member(f"a-{n:04d}", f"v{n}@a.example", "viewer", AT))
    members.put("mch_a", Member("z-owner", "owner@a.example", "owner", AT))
    pool = FakePool()
    pool.users["a-0000"] = ("v0@a.example", "mch_a", "viewer")  # the one whose role changes
    users = DashboardUsers(pool, members, Clock())
    owner = DashboardUser("z-owner", "owner@a.example", "mch_a", "owner")
    # When the owner (the directory lists them as one: their session is an owner's) makes a viewer an owner
    try:
        users.change_role(owner, "a-0000", "owner")
    except BillingError as refused:
        pytest.fail(f"refused ({refused.status}): {refused.message}")
    # Then it is done, and every user is on the users page
    assert members.get("mch_a", "a-0000").role == "owner"  # type: ignore[union-attr]
    assert len(users.list(owner)) == MAX_MEMBERS + 1
