"""The inbound gateway-event log: one item per (gateway, event id) under the deployment's own
keys (`GWEVENT#<gateway>#<event id>`, never a merchant's partition), holding the normalised event
and whether it was applied. Kept 30 days (the table's TTL): Stripe retries an event for 3 days."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ...service.gateway_events import GatewayEvent
from . import keys
from .codec import to_attributes

KEEP = timedelta(days=30)


class DynamoGatewayEventLog:
    def __init__(self, client: Any, table: str) -> None:
        self.client, self.table = client, table

    def record(self, event: GatewayEvent, now: datetime) -> bool:
        item = {
            **keys.gateway_event(event.gateway, event.id),
            "entity": "gateway_event",
            "event_type": event.event_type,
            "body": event.model_dump_json(),
            "received_at": keys.sortable(now),
            "expires_at": int((now + KEEP).timestamp()),
        }
        try:
            self.client.put_item(TableName=self.table, Item=to_attributes(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self.applied(event.gateway, event.id)
        return False

    def applied(self, gateway: str, event_id: str) -> bool:
        found = self.client.get_item(
            TableName=self.table,
            Key=to_attributes(keys.gateway_event(gateway, event_id)),
            ProjectionExpression="applied_at",
            ConsistentRead=True,
        ).get("Item")
        return bool(found and "applied_at" in found)

    def mark_applied(self, gateway: str, event_id: str, now: datetime) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=to_attributes(keys.gateway_event(gateway, event_id)),
            # An event the receiver never stored (the simulated gateway's, queued directly) is kept as long.
            UpdateExpression="SET applied_at = :now, expires_at = if_not_exists(expires_at, :expires)",
            ExpressionAttributeValues=to_attributes({":now": keys.sortable(now), ":expires": int((now + KEEP).timestamp())}),
        )
