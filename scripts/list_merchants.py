"""List every merchant for the daily jobs (once, after deploying the reconciliation):

    python scripts/list_merchants.py --stack recurring-payments      # or --table <BillingTableName>

Since this release a merchant's profile is listed (ListIndex, `MERCHANTS#<shard>`) when it is
created, so the daily reconciliation finds every merchant without a Scan. Merchants created before
were not: this scans the table (your credentials, not a function's) for their profiles and lists
them. It prints the merchants it listed and may be run again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.merchants import MerchantStore  # noqa: E402
from scripts.create_merchant import add_table_arguments, table_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    listed = MerchantStore(boto3.client("dynamodb"), table_of(args)).list_unlisted()
    print(f"{len(listed)} merchant(s) listed for the daily jobs.", file=sys.stderr)
    print(json.dumps(listed, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
