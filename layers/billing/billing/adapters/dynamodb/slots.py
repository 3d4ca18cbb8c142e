"""Per-endpoint attempt slots: a few items under the endpoint's merchant partition, each taken by
one attempt with a conditional write and freed after it (or when its hold runs out, if the
attempt's process died). However many delivery instances run, no endpoint gets more than
`size` attempts at once, and a slow endpoint only ever holds its own slots."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ...domain.webhooks import MAX_CONCURRENT_PER_ENDPOINT
from . import keys
from .codec import to_attributes


class DynamoEndpointSlots:
    def __init__(self, client: Any, table: str, size: int = MAX_CONCURRENT_PER_ENDPOINT) -> None:
        self.client, self.table, self.size = client, table, size
        self._held: dict[str, int] = {}

    def acquire(self, merchant_id: str, endpoint_id: str, holder: str, now: datetime, until: datetime) -> bool:
        for slot in random.sample(range(self.size), self.size):  # spread contention over the slots
            item = {**keys.endpoint_slot(merchant_id, endpoint_id, slot), "holder": holder, "held_until": keys.sortable(until)}
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item=to_attributes(item),
                    ConditionExpression="attribute_not_exists(pk) OR held_until < :now",
                    ExpressionAttributeValues=to_attributes({":now": keys.sortable(now)}),
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                continue
            self._held[holder] = slot
            return True
        return False

    def release(self, merchant_id: str, endpoint_id: str, holder: str) -> None:
        slot = self._held.pop(holder, None)
        if slot is None:
            return
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=to_attributes(keys.endpoint_slot(merchant_id, endpoint_id, slot)),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues=to_attributes({":me": holder}),
            )
        except ClientError as error:  # our hold ran out and another attempt took the slot: it is theirs now
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
