"""Merchants and the authorizer's side of their API keys.

A merchant is created with its first key (`make merchant`, `POST /_local/merchants`); more keys
are managed over the API (`service/api_keys.py`). Keys are shown once and stored as a digest.
A key with a locator is read from the merchant's own partition and compared in constant time;
a key made before locators existed is found by its digest (`APIKEY#<sha256>`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..domain import api_keys
from ..domain.api_keys import ApiKey
from .dynamodb import items, keys
from .dynamodb.codec import from_attributes, to_attributes
from .dynamodb.writes import Writer

LAST_USED_GRANULARITY = timedelta(hours=1)  # at most one write per key and hour for last_used_at


def hash_key(api_key: str) -> str:
    """The digest of a key made before locators existed (the whole key string)."""
    return api_keys.digest(api_key)


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    name: str
    api_key: str  # shown once, never stored


class MerchantStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self.client, self.table = client, table_name

    def create(self, name: str, now: datetime) -> NewMerchant:
        merchant_id = "mch_" + secrets.token_hex(12)
        key, api_key, _ = api_keys.new_key("key_" + secrets.token_hex(12), merchant_id, secrets.token_urlsafe(32), now)
        profile = {
            **keys.merchant_key(merchant_id),
            "entity": "merchant",
            "merchant_id": merchant_id,
            "name": name,
            "created_at": keys.sortable(now),
        }
        writer = Writer(self.client, self.table)
        new_profile = {"TableName": self.table, "Item": to_attributes(profile), "ConditionExpression": "attribute_not_exists(pk)"}
        writer.transact([{"Put": new_profile}, writer.versioned_put(key)])
        return NewMerchant(merchant_id, name, api_key)

    def merchant_for_key(self, api_key: str, now: datetime) -> str | None:
        """The merchant a usable key belongs to, or None (unknown, revoked or expired)."""
        located = api_keys.locate(api_key)
        if located is None:
            return self._legacy(api_key)
        merchant_id, key_id, secret = located
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.primary(merchant_id, key_id, "APIKEY")))
        if "Item" not in response:
            return None
        key = items.load(ApiKey, from_attributes(response["Item"]))
        if not (key.matches(secret) and key.usable(now)):
            return None
        self._mark_used(key, now)
        return merchant_id

    def _legacy(self, api_key: str) -> str | None:
        if not api_key.startswith(api_keys.PREFIX) or len(api_key) > 200:
            return None
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.api_key_key(hash_key(api_key))))
        item = from_attributes(response["Item"]) if "Item" in response else None
        return str(item["merchant_id"]) if item and item.get("status") == "active" else None

    def _mark_used(self, key: ApiKey, now: datetime) -> None:
        """`last_used_at`, at most once an hour per key (no version change: it is not a state change)."""
        if key.last_used_at is not None and now - key.last_used_at < LAST_USED_GRANULARITY:
            return
        at = keys.sortable(now)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_attributes(keys.primary(key.merchant_id, key.id, "APIKEY")),
                UpdateExpression="SET body.last_used_at = :at",
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(body.last_used_at) OR body.last_used_at < :cutoff)",
                ExpressionAttributeValues=to_attributes({":at": at, ":cutoff": keys.sortable(now - LAST_USED_GRANULARITY)}),
            )
        except ClientError as error:  # another authorizer marked it meanwhile: nothing to do
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def merchant_name(self, merchant_id: str) -> str | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.merchant_key(merchant_id)))
        item = response.get("Item")
        return str(from_attributes(item)["name"]) if item else None
