"""Merchants and the authorizer's side of their API keys.

A merchant is created with its first key (`make merchant`, `POST /_local/merchants`); more keys
are managed over the API (`service/api_keys.py`). Keys are shown once and stored as a digest.
A key with a locator is read from the merchant's own partition and compared in constant time.
A key made before locators existed is found by its digest (`APIKEY#<sha256>`, which names its
merchant); once adopted among that merchant's keys (`first_format_keys`, then the service's
`ApiKeys.adopt_first_format`: `scripts/api_keys.py migrate-legacy`) the adopted key decides,
as for any other key: revoked or rolled, it is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..domain import api_keys
from ..domain.api_keys import ApiKey
from .dynamodb import keys, records
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
            # Listed for the daily jobs (reconciliation): ListIndex, by shard.
            "lpk": keys.merchants_pk(keys.shard_of(merchant_id, keys.MERCHANT_SHARDS)),
            "lsk": merchant_id,
        }
        writer = Writer(self.client, self.table)
        new_profile = {"TableName": self.table, "Item": to_attributes(profile), "ConditionExpression": "attribute_not_exists(pk)"}
        writer.transact([{"Put": new_profile}, writer.versioned_put(key)])
        return NewMerchant(merchant_id, name, api_key)

    def merchant_for_key(self, api_key: str, now: datetime) -> str | None:
        """The merchant a usable key belongs to, or None (unknown, revoked or expired)."""
        located = api_keys.locate(api_key)
        if located is None:
            return self._first_format(api_key, now)
        merchant_id, key_id, secret = located
        key = self._key(merchant_id, key_id)
        if key is None or not (key.matches(secret) and key.usable(now)):
            return None
        self._mark_used(key, now, api_keys.last4(secret))
        return merchant_id

    def _key(self, merchant_id: str, key_id: str) -> ApiKey | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.primary(merchant_id, key_id, "APIKEY")))
        return records.load(ApiKey, from_attributes(response["Item"])) if "Item" in response else None

    def _first_format(self, api_key: str, now: datetime) -> str | None:
        """A key made before locators: its digest item names the merchant. Adopted among the
        merchant's keys, that key decides (and is compared like any other); not adopted yet, the
        digest item's status does."""
        if not api_key.startswith(api_keys.PREFIX) or len(api_key) > 200:
            return None
        key_hash = hash_key(api_key)
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.api_key_key(key_hash)))
        item = from_attributes(response["Item"]) if "Item" in response else None
        if not item:
            return None
        merchant_id = str(item["merchant_id"])
        adopted = self._key(merchant_id, api_keys.first_format_key_id(key_hash))
        if adopted is None:
            return merchant_id if item.get("status") == "active" else None
        if not (adopted.matches(api_key) and adopted.usable(now)):
            return None
        self._mark_used(adopted, now, api_keys.last4(api_key))
        return merchant_id

    def first_format_keys(self) -> Iterator[tuple[str, str, datetime | None]]:
        """(merchant id, digest, made at) of each key made before locators that still works: the
        operator's one-off migration (a Scan, with the operator's credentials: no function's role
        may scan). Adopted ones are listed again; adopting is idempotent."""
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :prefix) AND #status = :active",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_attributes({":prefix": "APIKEY#", ":active": "active"}),
        )
        for page in pages:
            for raw in page["Items"]:
                item = from_attributes(raw)
                made = item.get("created_at")
                created = datetime.fromisoformat(str(made).replace("Z", "+00:00")) if made else None
                yield str(item["merchant_id"]), str(item["pk"]).removeprefix("APIKEY#"), created

    def _mark_used(self, key: ApiKey, now: datetime, last4: str) -> None:
        """`last_used_at`, at most once an hour per key (no version change: it is not a state
        change); and the last four of an adopted key made before locators, not known until used."""
        if key.last_used_at is not None and now - key.last_used_at < LAST_USED_GRANULARITY:
            return
        at = keys.sortable(now)
        values = {":at": at, ":cutoff": keys.sortable(now - LAST_USED_GRANULARITY)}
        update = "SET body.last_used_at = :at"
        if key.last4 is None:
            update, values[":last4"] = update + ", body.last4 = :last4", last4
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_attributes(keys.primary(key.merchant_id, key.id, "APIKEY")),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(body.last_used_at) OR body.last_used_at < :cutoff)",
                ExpressionAttributeValues=to_attributes(values),
            )
        except ClientError as error:  # another authorizer marked it meanwhile: nothing to do
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def merchant_ids(self) -> Iterator[str]:
        """Every merchant's id (the `MerchantDirectory` port), shard by shard, a page at a time."""
        for shard in range(keys.MERCHANT_SHARDS):
            request: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": "ListIndex",
                "KeyConditionExpression": "lpk = :pk",
                "ExpressionAttributeValues": to_attributes({":pk": keys.merchants_pk(shard)}),
                "ProjectionExpression": "lsk",
            }
            while True:
                response = self.client.query(**request)
                for item in response["Items"]:
                    yield str(from_attributes(item)["lsk"])
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def list_unlisted(self) -> list[str]:
        """Merchants created before they were listed for the daily jobs, listed now: an operator's
        one-off backfill (a Scan, with the operator's credentials: no function's role may scan).
        May be run again (a listed merchant is left as it is)."""
        listed: list[str] = []
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table,
            FilterExpression="entity = :merchant AND attribute_not_exists(lpk)",
            ExpressionAttributeValues=to_attributes({":merchant": "merchant"}),
            ProjectionExpression="pk, sk, merchant_id",
        )
        for page in pages:
            for raw in page["Items"]:
                item = from_attributes(raw)
                merchant_id = str(item["merchant_id"])
                self.client.update_item(
                    TableName=self.table,
                    Key=to_attributes({"pk": item["pk"], "sk": item["sk"]}),
                    UpdateExpression="SET lpk = :lpk, lsk = :lsk",
                    ExpressionAttributeValues=to_attributes(
                        {":lpk": keys.merchants_pk(keys.shard_of(merchant_id, keys.MERCHANT_SHARDS)), ":lsk": merchant_id}
                    ),
                )
                listed.append(merchant_id)
        return listed

    def merchant_name(self, merchant_id: str) -> str | None:
        response = self.client.get_item(TableName=self.table, Key=to_attributes(keys.merchant_key(merchant_id)))
        item = response.get("Item")
        return str(from_attributes(item)["name"]) if item else None
