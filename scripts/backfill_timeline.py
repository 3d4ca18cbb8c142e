"""Index the events written before events carried their mandate, so that older mandates' pages
show their whole timeline (the dashboard lists a mandate's events on ParentIndex):

    python scripts/backfill_timeline.py --stack recurring-payments --merchant mch_…   # one merchant
    python scripts/backfill_timeline.py --stack recurring-payments --all              # every listed merchant
    (or --table <BillingTableName> instead of --stack)

It reads the merchant's events newest first (each ListIndex shard, pages of 100, with your
credentials); an event already indexed (its `mandate_id` is projected) is left; the others are
read (BatchGetItem) and, when about a mandate, given `mandate_id` and the parent keys in one
conditional UpdateItem each (only where the keys are still missing). Idempotent: it may run while
events flow, and again (the second run indexes nothing). It prints, per merchant, how many events
it indexed, found indexed, and found about no mandate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.dynamodb import keys  # noqa: E402
from billing.adapters.dynamodb.codec import from_attributes, to_attributes  # noqa: E402
from billing.domain.model import Event  # noqa: E402
from scripts.create_merchant import add_merchant_arguments, add_table_arguments, merchants_of, table_of  # noqa: E402


def _unindexed(client: Any, table: str, merchant_id: str, counts: dict[str, int]) -> Any:
    """The keys of the merchant's events not yet on a mandate's timeline, shard by shard, in pages."""
    for shard in range(keys.LIST_SHARDS["EVENT"]):
        request: dict[str, Any] = {
            "TableName": table,
            "IndexName": "ListIndex",
            "KeyConditionExpression": "lpk = :p",
            "ExpressionAttributeValues": to_attributes({":p": keys.list_pk(merchant_id, "EVENT", shard)}),
            "Limit": 100,
        }
        while True:
            response = client.query(**request)
            rows = [from_attributes(row) for row in response["Items"]]
            counts["already_indexed"] += sum(1 for row in rows if row.get("mandate_id"))
            yield [{"pk": row["pk"], "sk": row["sk"], "lsk": row["lsk"]} for row in rows if not row.get("mandate_id")]
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def backfill(client: Any, table: str, merchant_ids: list[str]) -> dict[str, dict[str, int]]:
    out = {}
    for merchant_id in merchant_ids:
        counts = {"indexed": 0, "already_indexed": 0, "about_no_mandate": 0}
        for rows in _unindexed(client, table, merchant_id, counts):
            if not rows:
                continue
            wanted = [to_attributes({"pk": row["pk"], "sk": row["sk"]}) for row in rows]
            found = client.batch_get_item(RequestItems={table: {"Keys": wanted}})["Responses"][table]  # unprocessed: read below
            bodies = {(item["pk"], item["sk"]): item for item in (from_attributes(i) for i in found)}
            for row in rows:
                item = bodies.get((row["pk"], row["sk"]))
                if item is None:
                    got = client.get_item(TableName=table, Key=to_attributes({"pk": row["pk"], "sk": row["sk"]}))
                    item = from_attributes(got["Item"]) if "Item" in got else None
                if item is None:
                    continue
                mandate_id = Event.model_validate(item["body"]).mandate_id
                if mandate_id is None:
                    counts["about_no_mandate"] += 1
                    continue
                try:
                    client.update_item(
                        TableName=table,
                        Key=to_attributes({"pk": row["pk"], "sk": row["sk"]}),
                        UpdateExpression="SET mandate_id = :m, ppk = :p, psk = :s",
                        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(ppk)",
                        ExpressionAttributeValues=to_attributes(
                            {":m": mandate_id, ":p": keys.parent_pk(merchant_id, "EVENT", mandate_id), ":s": row["lsk"]}
                        ),
                    )
                    counts["indexed"] += 1
                except client.exceptions.ConditionalCheckFailedException:
                    counts["already_indexed"] += 1
        out[merchant_id] = counts
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser)
    add_merchant_arguments(parser)
    args = parser.parse_args(argv)
    client, table = boto3.client("dynamodb"), table_of(args)
    print(json.dumps(backfill(client, table, merchants_of(args, client, table)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
