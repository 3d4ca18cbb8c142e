"""The merchant's directory of dashboard users: one partition per merchant
(`M#<merchant>#DASHBOARD_USERS`, sort key `USER#<sub>`), so a merchant's users are one Query and
another merchant's user id is simply not there. The pool (Cognito) holds the credentials; this
lists who the merchant invited (Cognito's ListUsers cannot filter on a custom attribute) and the
role each has now (what sessions go by). A demotion or a removal is one transaction with a check
that the owners the rule names (`owners_required`) still are, so the merchant always keeps an owner."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ...domain.dashboard_users import Member, MembersChanged, Role
from .codec import from_attributes, to_attributes
from .keys import sortable

PAGE_SIZE = 200  # a merchant's users read a Query page at a time, every page followed


def _key(merchant_id: str, user_id: str) -> dict[str, str]:
    return {"pk": f"M#{merchant_id}#DASHBOARD_USERS", "sk": f"USER#{user_id}"}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _token() -> str:
    """Each transaction's own ClientRequestToken (decision 42): a retry of the same call (botocore's,
    after a lost answer) is the same write, answered done. Random, never derived from the content:
    a promotion, a demotion and the same promotion again within DynamoDB's ten minutes are three
    writes, and a repeated token would answer the third done without writing it."""
    return str(uuid.uuid4())


def _member(item: dict[str, Any]) -> Member:
    return Member(
        user_id=item["user_id"],
        email=item["email"],
        role=item["role"],
        invited_at=_time(item["invited_at"]),
        invited_by=item.get("invited_by"),
        signed_out_at=_time(item["signed_out_at"]) if item.get("signed_out_at") else None,
    )


def _row(merchant_id: str, member: Member) -> dict[str, Any]:
    return {
        **_key(merchant_id, member.user_id),
        "entity": "dashboard_user",
        "merchant_id": merchant_id,
        "user_id": member.user_id,
        "email": member.email,
        "role": member.role,
        "invited_at": sortable(member.invited_at),
        "invited_by": member.invited_by,
        "signed_out_at": sortable(member.signed_out_at) if member.signed_out_at else None,
    }


class DynamoDashboardMembers:
    def __init__(self, client: Any, table_name: str, page_size: int = PAGE_SIZE) -> None:
        self.client, self.table, self.page_size = client, table_name, page_size

    def list(self, merchant_id: str) -> list[Member]:
        """Every user of the merchant: the Query's pages followed to the last (`LastEvaluatedKey`),
        since the owner rule (`owners_required`) must see them all."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"M#{merchant_id}#DASHBOARD_USERS"}},
            "Limit": self.page_size,
        }
        members: list[Member] = []
        while True:
            answer = self.client.query(**query)
            members.extend(_member(from_attributes(item)) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return members
            query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get(self, merchant_id: str, user_id: str) -> Member | None:
        if not user_id or len(user_id) > 128:
            return None
        answer = self.client.get_item(TableName=self.table, Key=to_attributes(_key(merchant_id, user_id)))
        return _member(from_attributes(answer["Item"])) if "Item" in answer else None

    def put(self, merchant_id: str, member: Member) -> None:
        self.client.put_item(TableName=self.table, Item=to_attributes(_row(merchant_id, member)))

    def delete(self, merchant_id: str, user_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=to_attributes(_key(merchant_id, user_id)))

    def change(self, merchant_id: str, user_id: str, role: Role | None, owners: tuple[str, ...]) -> None:
        """One transaction: the user's row removed (or its role set), on condition that it exists,
        with a check that each of `owners` is still an owner (on the user's own row when they are
        one of them). DynamoDB serialises transactions on the same items: of two owners removing
        or demoting each other, the second finds its condition false."""
        is_owner = "#role = :owner"
        names, owner = {"#role": "role"}, {":owner": {"S": "owner"}}
        target_condition = "attribute_exists(pk)" + (f" AND {is_owner}" if user_id in owners else "")
        target: dict[str, Any] = {"TableName": self.table, "Key": to_attributes(_key(merchant_id, user_id))}
        if user_id in owners:
            target |= {"ExpressionAttributeNames": names, "ExpressionAttributeValues": owner}
        if role is None:
            operations: list[dict[str, Any]] = [{"Delete": {**target, "ConditionExpression": target_condition}}]
        else:
            values = {**target.get("ExpressionAttributeValues", {}), ":role": {"S": role}}
            operations = [
                {
                    "Update": {
                        **target,
                        "UpdateExpression": "SET #role = :role",
                        "ConditionExpression": target_condition,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            ]
        for other in sorted(set(owners) - {user_id}):
            check = {"TableName": self.table, "Key": to_attributes(_key(merchant_id, other))}
            operations.append(
                {
                    "ConditionCheck": {
                        **check,
                        "ConditionExpression": is_owner,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": owner,
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=operations, ClientRequestToken=_token())
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise MembersChanged("The merchant's users changed meanwhile: nothing was changed. Reload and try again.") from error

    def add(self, merchant_id: str, member: Member, owners: tuple[str, ...]) -> None:
        """One transaction: the new user's row put on condition that there is none of that id,
        with a check that each of `owners` (the inviting owner) is still an owner, as `change`."""
        put = {"TableName": self.table, "Item": to_attributes(_row(merchant_id, member))}
        operations: list[dict[str, Any]] = [{"Put": put | {"ConditionExpression": "attribute_not_exists(pk)"}}]
        for owner in sorted(set(owners)):
            operations.append(
                {
                    "ConditionCheck": {
                        "TableName": self.table,
                        "Key": to_attributes(_key(merchant_id, owner)),
                        "ConditionExpression": "#role = :owner",
                        "ExpressionAttributeNames": {"#role": "role"},
                        "ExpressionAttributeValues": {":owner": {"S": "owner"}},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=operations, ClientRequestToken=_token())
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise MembersChanged("The merchant's users changed meanwhile: no one was invited. Reload and try again.") from error

    def signed_out(self, merchant_id: str, user_id: str, at: datetime) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_attributes(_key(merchant_id, user_id)),
                UpdateExpression="SET signed_out_at = :at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"S": sortable(at)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
