"""Build the dashboard's figures of merchants that existed before they were kept (docs/metrics.md):

    python scripts/backfill_figures.py --stack recurring-payments --merchant mch_…   # one merchant
    python scripts/backfill_figures.py --stack recurring-payments --all              # every listed merchant
    (or --table <BillingTableName> instead of --stack)

It reads every mandate, charge, refund and dispute of the merchant (pages of 100, with your
credentials) and keeps each through the same path as the figures function: an object already
kept at its version is left, a newer version replaces its contribution in one conditional write.
So it is idempotent, may run while events flow, and may be run again (the second run changes
nothing). It prints, per merchant, how many objects moved the figures and how many were already kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.dynamodb.figures import DynamoFigureStore  # noqa: E402
from billing.adapters.dynamodb.repository import DynamoRepository  # noqa: E402
from billing.service.figures import FigureKeeper  # noqa: E402
from scripts.create_merchant import add_merchant_arguments, add_table_arguments, merchants_of, table_of  # noqa: E402


def backfill(client: object, table: str, merchant_ids: list[str]) -> dict[str, dict[str, int]]:
    keeper = FigureKeeper(DynamoRepository(client, table), DynamoFigureStore(client, table))
    out = {}
    for merchant_id in merchant_ids:
        changed, unchanged = keeper.backfill(merchant_id)
        out[merchant_id] = {"changed": changed, "already_kept": unchanged}
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
