"""Wind up mandates that ended before this release (once, after deploying it):

    python scripts/wind_up.py --stack recurring-payments      # or --table <BillingTableName>

Since this release an ended mandate that still holds unbilled items or carried credit stays in
the due index until the dispatcher has voided its items and given its credit back (decision 87).
Mandates that ended before were written without that index entry. This scans the table (your
credentials, not a function's) for ended mandates, and saves again, on their version, those that
still hold something: the dispatcher then winds them up within a minute. It prints the mandates
it queued and may be run again (a mandate wound up holds nothing and is left as it is).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.dynamodb.repository import DynamoRepository  # noqa: E402
from billing.domain.model import Mandate  # noqa: E402
from billing.service.concurrency import retry_on_conflict  # noqa: E402
from billing.service.ports import Changes  # noqa: E402
from scripts.create_merchant import add_table_arguments, table_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    table = table_of(args)
    repo = DynamoRepository(boto3.client("dynamodb"), table)
    queued = []
    for merchant_id, mandate_id in repo.ended_mandates():

        def once(_: int, merchant_id: str = merchant_id, mandate_id: str = mandate_id) -> bool:
            mandate = repo.get(Mandate, merchant_id, mandate_id)
            if mandate is None or not mandate.winding_up:
                return False
            repo.commit(Changes(put=[mandate]))  # written again with its due-index entry
            return True

        if retry_on_conflict(once):
            queued.append({"merchant_id": merchant_id, "id": mandate_id})
    print(f"{len(queued)} ended mandate(s) queued to be wound up.", file=sys.stderr)
    print(json.dumps(queued, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
