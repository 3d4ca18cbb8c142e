"""An operator's view of a merchant's API keys (the merchant manages them over /v1/api_keys):

    python scripts/api_keys.py --stack recurring-payments list   --merchant mch_…
    python scripts/api_keys.py --stack recurring-payments create --merchant mch_…   # prints the key once
    python scripts/api_keys.py --table <BillingTableName> revoke --merchant mch_… --key key_… [--expires-in 3600]
    python scripts/api_keys.py --stack recurring-payments migrate-legacy   # once, after deploying

Uses your normal AWS credentials and region. Every change is the API's own use case (so it is
recorded as an event the merchant sees), built by the composition root.

`migrate-legacy` adopts every key made before locators (`rk_live_<secret>`, found by its digest)
that still works among its merchant's keys: the merchant then sees it in GET /v1/api_keys (its
last four once it is next used) and revokes or rolls it like any other key. The key itself keeps
working unchanged. It scans the table (your credentials, not a function's), prints the keys it
adopted, and may be run again: a key already adopted is left as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402

from billing.adapters.clock import SystemClock  # noqa: E402
from billing.adapters.merchants import MerchantStore  # noqa: E402
from billing.api.responses import ApiKeyOut  # noqa: E402
from billing.bootstrap import Aws  # noqa: E402
from billing.domain.api_keys import ApiKey  # noqa: E402
from billing.domain.errors import BillingError  # noqa: E402
from billing.service.api_keys import ApiKeys  # noqa: E402
from billing.service.event_recorder import NoLinks  # noqa: E402
from billing.service.ports import PageRequest  # noqa: E402
from billing.settings import Settings  # noqa: E402
from scripts.create_merchant import add_table_arguments, table_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_table_arguments(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate-legacy", help="adopt keys made before locators among their merchants' keys")
    for name in ("list", "create", "revoke"):
        command = commands.add_parser(name)
        command.add_argument("--merchant", required=True)
        if name == "revoke":
            command.add_argument("--key", required=True)
            command.add_argument("--expires-in", type=int, default=0, help="seconds the key keeps working (0..604800)")
    args = parser.parse_args(argv)
    table = table_of(args)
    billing = Aws(Settings(table_name=table), boto3.client, SystemClock())
    keys = billing.use_cases(NoLinks()).api_keys
    try:
        if args.command == "migrate-legacy":
            adopted = [
                keys.adopt_first_format(m, digest, made)
                for m, digest, made in MerchantStore(billing.dynamodb, table).first_format_keys()
            ]
            shown: Any = [{"merchant_id": k.merchant_id, "id": k.id} for k in adopted if k is not None]
            print(f"{len(shown)} key(s) made before locators adopted.", file=sys.stderr)
        elif args.command == "list":
            shown = [ApiKeyOut.of(k).model_dump(mode="json", exclude={"secret"}) for k in _all(keys, args.merchant)]
        elif args.command == "create":
            created = keys.create(args.merchant)
            shown = ApiKeyOut.of(created.key, created.secret).model_dump(mode="json")
            print("The key is shown this once; give it to the merchant through a secure channel.", file=sys.stderr)
        else:
            revoked = keys.revoke(args.merchant, args.key, timedelta(seconds=args.expires_in))
            shown = ApiKeyOut.of(revoked).model_dump(mode="json", exclude={"secret"})
    except BillingError as error:
        print(f"{error.type}: {error.message}", file=sys.stderr)
        return 1
    print(json.dumps(shown, indent=2))
    return 0


def _all(keys: ApiKeys, merchant_id: str) -> list[ApiKey]:
    found: list[ApiKey] = []
    cursor: str | None = None
    while True:
        page = keys.page(merchant_id, PageRequest(100, cursor))
        found += page.data
        if not page.has_more:
            return found
        cursor = page.next_cursor


if __name__ == "__main__":
    raise SystemExit(main())
