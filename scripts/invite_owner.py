"""Invite an owner to an existing merchant's dashboard (for an operator: a merchant whose only
owner lost access, or a merchant created before the dashboard existed):

    make owner MERCHANT=mch_… OWNER=ann@acme.example [STACK=recurring-payments]
    python scripts/invite_owner.py --stack recurring-payments --merchant mch_… --owner ann@acme.example

Cognito e-mails them a temporary password; they choose their own at sign-in (the stack's
`DashboardSignInUrl`). An e-mail already in the pool is refused (remove that user first, see
docs/runbook.md). Uses your normal AWS credentials and region.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.clock import SystemClock  # noqa: E402
from billing.adapters.cognito import CognitoUserPool  # noqa: E402
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers  # noqa: E402
from billing.adapters.merchants import MerchantStore  # noqa: E402
from billing.service.dashboard import DashboardUsers  # noqa: E402
from scripts import create_merchant  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True, help="the deployed stack (its table, user pool and sign-in page)")
    parser.add_argument("--merchant", required=True, help="the merchant's id (mch_…)")
    parser.add_argument("--owner", required=True, help="the new owner's e-mail")
    args = parser.parse_args(argv)
    dynamodb = boto3.client("dynamodb")
    table = create_merchant.table_from_stack(args.stack)
    if MerchantStore(dynamodb, table).merchant_name(args.merchant) is None:
        parser.error(f"no merchant {args.merchant!r} in {table}")
    pool = CognitoUserPool(boto3.client("cognito-idp"), create_merchant.output_of(args.stack, "DashboardUserPoolId"))
    users = DashboardUsers(pool, DynamoDashboardMembers(dynamodb, table), SystemClock())
    owner = users.invite_first_owner(args.merchant, args.owner)
    answer = {
        "merchant_id": args.merchant,
        "owner_email": owner.email,
        "dashboard_url": create_merchant.output_of(args.stack, "DashboardSignInUrl"),
    }
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
