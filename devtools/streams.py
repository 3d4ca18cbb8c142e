"""The BillingTable stream as Lambda's event source mapping reads it: new records since the last
read, filtered with the template's own FilterCriteria for the event publisher."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .template import resources

# botocore derives an account-based streams endpoint from the ARN, which moto does not route;
# the regional endpoint is equivalent.
STREAMS_ENDPOINT = "https://streams.dynamodb.{region}.amazonaws.com"


class TableStream:
    def __init__(self, session: Any, table_name: str, start: str = "TRIM_HORIZON") -> None:
        region = session.region_name or "eu-west-1"
        self.client = session.client("dynamodbstreams", endpoint_url=STREAMS_ENDPOINT.format(region=region))
        arn = session.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shards = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterators = [
            self.client.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType=start)["ShardIterator"]
            for s in shards
        ]

    def read(self) -> list[dict[str, Any]]:
        """Every record written since the previous read (or since `start`)."""
        records: list[dict[str, Any]] = []
        for index, iterator in enumerate(self.iterators):
            while True:
                page = self.client.get_records(ShardIterator=iterator, Limit=1000)
                iterator = page.get("NextShardIterator") or iterator
                records += page["Records"]
                if not page["Records"]:
                    break
            self.iterators[index] = iterator
        return records


def _matches(pattern: Any, value: Any) -> bool:
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(key in value and _matches(sub, value[key]) for key, sub in pattern.items())
    return value in pattern  # a list of accepted values


@lru_cache(maxsize=1)
def _publisher_patterns() -> tuple[dict[str, Any], ...]:
    stream = resources("AWS::Serverless::Function")["EventPublisherFunction"]["Properties"]["Events"]["Stream"]["Properties"]
    return tuple(json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"])


def for_publisher(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records the template's filter lets through, shaped as the publisher's event records."""
    return [{**r, "eventSource": "aws:dynamodb"} for r in records if any(_matches(p, r) for p in _publisher_patterns())]
