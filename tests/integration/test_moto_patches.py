"""The emulation's transaction rollback still restores items and stream records exactly."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from billing.adapters.dynamodb import from_attributes, to_attributes


def test_a_failed_transaction_leaves_no_item_and_no_stream_record(aws) -> None:
    client = boto3.client("dynamodb")
    table = aws.tables["BillingTable"]
    client.put_item(TableName=table, Item=to_attributes({"pk": "A", "sk": "X", "v": 1}))
    streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.eu-west-1.amazonaws.com")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]

    def records() -> int:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return len(streams.get_records(ShardIterator=iterator)["Records"])

    before = records()
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": to_attributes({"pk": "B", "sk": "X"})}},
                {"Put": {"TableName": table, "Item": to_attributes({"pk": "A", "sk": "X", "v": 2}), "ConditionExpression": "v = :x",
                         "ExpressionAttributeValues": to_attributes({":x": 99})}},
            ]
        )
    assert "Item" not in client.get_item(TableName=table, Key=to_attributes({"pk": "B", "sk": "X"}))
    assert from_attributes(client.get_item(TableName=table, Key=to_attributes({"pk": "A", "sk": "X"}))["Item"])["v"] == 1
    assert records() == before
    # And a successful one after the rollback still works and streams.
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": to_attributes({"pk": "C", "sk": "X"})}}])
    assert records() == before + 1
