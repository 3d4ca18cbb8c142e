"""Create a merchant and print its API key once (only its SHA-256 hash is stored).

    make merchant NAME="Acme Fitness" TABLE=<BillingTableName output of the stack>
    python scripts/create_merchant.py --name "Acme Fitness" --stack recurring-payments
    make merchant NAME="Acme Fitness" OWNER=ann@acme.example   # also invites its dashboard owner

With `--owner` (and `--stack`) the merchant's first dashboard owner is invited in the stack's
Cognito user pool: Cognito e-mails them a temporary password; they choose their own at sign-in.

Uses your normal AWS credentials and region (AWS_PROFILE / AWS_REGION). The local runtime
reuses MerchantStore for POST /_local/merchants.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "billing"))

import boto3  # noqa: E402

from billing.adapters.clock import SystemClock  # noqa: E402
from billing.adapters.cognito import CognitoUserPool  # noqa: E402
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers  # noqa: E402
from billing.adapters.merchants import MerchantStore  # noqa: E402
from billing.service.dashboard import DashboardUsers  # noqa: E402


def output_of(stack: str, key: str) -> str:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]
    return str(next(o["OutputValue"] for o in outputs if o["OutputKey"] == key))


def table_from_stack(stack: str) -> str:
    return output_of(stack, "BillingTableName")


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """`--table` or `--stack`: where the operator's scripts find the BillingTable."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--table", help="the BillingTable name")
    where.add_argument("--stack", help="a deployed stack name; its BillingTableName output is used")


def table_of(args: argparse.Namespace) -> str:
    return str(args.table or table_from_stack(args.stack))


def add_merchant_arguments(parser: argparse.ArgumentParser) -> None:
    """`--merchant` (repeatable) or `--all`: which merchants an operator's backfill goes through."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--merchant", action="append", help="a merchant id (may be repeated)")
    which.add_argument("--all", action="store_true", help="every merchant listed for the daily jobs")


def merchants_of(args: argparse.Namespace, client: object, table: str) -> list[str]:
    return list(MerchantStore(client, table).merchant_ids()) if args.all else list(args.merchant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the merchant's display name (shown to customers)")
    parser.add_argument("--owner", help="invite this e-mail as the merchant's dashboard owner (needs --stack)")
    add_table_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= len(args.name) <= 200:
        parser.error("--name must be 1..200 characters")
    if args.owner and not args.stack:
        parser.error("--owner needs --stack (the user pool is the stack's DashboardUserPoolId output)")
    table = table_of(args)
    created = MerchantStore(boto3.client("dynamodb"), table).create(args.name, datetime.now(timezone.utc))
    answer = {"merchant_id": created.merchant_id, "name": created.name, "api_key": created.api_key}
    if args.owner:
        pool = CognitoUserPool(boto3.client("cognito-idp"), output_of(args.stack, "DashboardUserPoolId"))
        members = DynamoDashboardMembers(boto3.client("dynamodb"), table)
        owner = DashboardUsers(pool, members, SystemClock()).invite_first_owner(created.merchant_id, args.owner)
        answer |= {"owner_email": owner.email, "dashboard_url": output_of(args.stack, "DashboardSignInUrl")}
    print(json.dumps(answer, indent=2))
    print("The API key is shown this once; store it in your secrets manager.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
