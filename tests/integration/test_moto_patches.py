"""The emulation's transaction rollback still restores items and stream records exactly."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from billing.adapters.dynamodb.codec import from_attributes, to_attributes
from devtools.streams import TableStream


def test_a_failed_transaction_leaves_no_item_and_no_stream_record(aws) -> None:
    # Given an item, and the table's stream
    client = boto3.client("dynamodb")
    table = aws.tables["BillingTable"]
    client.put_item(TableName=table, Item=to_attributes({"pk": "A", "sk": "X", "v": 1}))

    def records() -> int:
        return len(TableStream(boto3.Session(), table).read())

    before = records()
    # When a transaction that puts one item fails on another's condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": to_attributes({"pk": "B", "sk": "X"})}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": to_attributes({"pk": "A", "sk": "X", "v": 2}),
                        "ConditionExpression": "v = :x",
                        "ExpressionAttributeValues": to_attributes({":x": 99}),
                    }
                },
            ]
        )
    # Then nothing of it was written, and the stream got no record
    assert "Item" not in client.get_item(TableName=table, Key=to_attributes({"pk": "B", "sk": "X"}))
    assert from_attributes(client.get_item(TableName=table, Key=to_attributes({"pk": "A", "sk": "X"}))["Item"])["v"] == 1
    assert records() == before
    # And a successful one after the rollback still works and streams.
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": to_attributes({"pk": "C", "sk": "X"})}}])
    assert records() == before + 1
