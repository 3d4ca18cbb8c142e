"""The merchant's directory of dashboard users: one partition per merchant
(`M#<merchant>#DASHBOARD_USERS`, sort key `USER#<sub>`), so a merchant's users are one Query and
another merchant's user id is simply not there. The pool (Cognito) holds the credentials; this
lists who the merchant invited (Cognito's ListUsers cannot filter on a custom attribute) and the
role each has now (what sessions go by). A demotion or a removal is one transaction with a check
that another owner (the keeper) still is one, so the merchant always keeps an owner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ...domain.dashboard_users import NO_OWNER_LEFT, Member, Role
from ...domain.errors import InvalidState
from .codec import from_attributes, to_attributes
from .keys import sortable

MAX_MEMBERS = 200  # a merchant's users, read in one page


def _key(merchant_id: str, user_id: str) -> dict[str, str]:
    return {"pk": f"M#{merchant_id}#DASHBOARD_USERS", "sk": f"USER#{user_id}"}


def _member(item: dict[str, Any]) -> Member:
    return Member(
        user_id=item["user_id"],
        email=item["email"],
        role=item["role"],
        invited_at=datetime.fromisoformat(item["invited_at"].replace("Z", "+00:00")),
        invited_by=item.get("invited_by"),
    )


class DynamoDashboardMembers:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client, self.table = client, table_name

    def list(self, merchant_id: str) -> list[Member]:
        answer = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"M#{merchant_id}#DASHBOARD_USERS"}},
            Limit=MAX_MEMBERS,
        )
        return [_member(from_attributes(item)) for item in answer.get("Items", [])]

    def get(self, merchant_id: str, user_id: str) -> Member | None:
        if not user_id or len(user_id) > 128:
            return None
        answer = self.client.get_item(TableName=self.table, Key=to_attributes(_key(merchant_id, user_id)))
        return _member(from_attributes(answer["Item"])) if "Item" in answer else None

    def put(self, merchant_id: str, member: Member) -> None:
        item = {
            **_key(merchant_id, member.user_id),
            "entity": "dashboard_user",
            "merchant_id": merchant_id,
            "user_id": member.user_id,
            "email": member.email,
            "role": member.role,
            "invited_at": sortable(member.invited_at),
            "invited_by": member.invited_by,
        }
        self.client.put_item(TableName=self.table, Item=to_attributes(item))

    def delete(self, merchant_id: str, user_id: str, keeper: str | None = None) -> None:
        key = to_attributes(_key(merchant_id, user_id))
        if keeper is None:
            self.client.delete_item(TableName=self.table, Key=key)
            return
        self._transact([{"Delete": {"TableName": self.table, "Key": key}}, self._still_owner(merchant_id, keeper)])

    def set_role(self, merchant_id: str, user_id: str, role: Role, keeper: str | None = None) -> None:
        update = {
            "Update": {
                "TableName": self.table,
                "Key": to_attributes(_key(merchant_id, user_id)),
                "UpdateExpression": "SET #role = :role",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": {":role": {"S": role}},
            }
        }
        self._transact([update] + ([self._still_owner(merchant_id, keeper)] if keeper else []))

    def _still_owner(self, merchant_id: str, user_id: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self.table,
                "Key": to_attributes(_key(merchant_id, user_id)),
                "ConditionExpression": "#role = :owner",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": {":owner": {"S": "owner"}},
            }
        }

    def _transact(self, items: Sequence[dict[str, Any]]) -> None:
        """One write; a condition that no longer holds (the user gone, no owner left, or a
        concurrent change to the same users) is a 409, never a 500."""
        try:
            self.client.transact_write_items(TransactItems=list(items))
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            raise InvalidState(f"The users changed meanwhile: reload the page and try again. {NO_OWNER_LEFT}") from error
