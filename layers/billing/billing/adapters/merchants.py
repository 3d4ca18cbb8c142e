"""Merchants and their API keys. Keys are shown once and stored only as a SHA-256 hash
(they are 256-bit random, so a fast hash is enough: there is nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from .dynamodb import keys
from .dynamodb.codec import to_attributes

API_KEY_PREFIX = "rk_live_"


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


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
        api_key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        created = keys.sortable(now)
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_attributes(
                            {
                                **keys.merchant_key(merchant_id),
                                "entity": "merchant",
                                "merchant_id": merchant_id,
                                "name": name,
                                "created_at": created,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_attributes(
                            {
                                **keys.api_key_key(hash_key(api_key)),
                                "entity": "api_key",
                                "merchant_id": merchant_id,
                                "status": "active",
                                "created_at": created,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        return NewMerchant(merchant_id, name, api_key)

    def merchant_for_key(self, api_key: str) -> str | None:
        """The merchant an active key belongs to, or None (unknown or revoked)."""
        if not api_key.startswith(API_KEY_PREFIX) or len(api_key) > 200:
            return None
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.api_key_key(hash_key(api_key))))
        item = response.get("Item")
        if not item:
            return None
        status = TypeDeserializer().deserialize(item["status"])
        return TypeDeserializer().deserialize(item["merchant_id"]) if status == "active" else None

    def merchant_name(self, merchant_id: str) -> str | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.merchant_key(merchant_id)))
        item = response.get("Item")
        return TypeDeserializer().deserialize(item["name"]) if item else None
