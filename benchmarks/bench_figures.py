"""Benchmark (not a test): what the dashboard's overview reads for a merchant with 100,000 mandates.

BENCH_FIGURES_MANDATES mandates (default 100,000) on three plans (monthly, yearly, every 3
weeks), activated over the last 400 days, one in five cancelled since, each with its first charge
succeeded, are kept by the real keeper (`service/figures.FigureKeeper.keep_objects`, the fold of
`domain/figures`) into an in-memory store (the same conditional keep as DynamoDB's). The buckets
that results in are then written as the DynamoDB adapter lays them out (adapters/dynamodb/figures.py)
into the template's table on moto, and the overview is read through the real adapter, with every
call and item counted. The number of mandates never enters the read: only the calendar does.

Also printed: the transactions and items the keeping wrote (each batch's objects and the sum of
their changes to the buckets, written together), and the time the fold takes per object here. Run: `make bench` (or
`python benchmarks/bench_figures.py`).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from benchmarks.common import charged_once  # noqa: E402
from billing.adapters.dynamodb.codec import to_attributes  # noqa: E402
from billing.adapters.dynamodb.figures import DynamoFigureStore, bucket_key  # noqa: E402
from billing.domain.charge import Attempt, Charge  # noqa: E402
from billing.domain.figures import Counters  # noqa: E402
from billing.domain.model import Customer, Plan, PlanTerms  # noqa: E402
from billing.service.figures import FigureKeeper, Keep  # noqa: E402
from devtools.provision import provision  # noqa: E402

MANDATES = int(os.environ.get("BENCH_FIGURES_MANDATES", "100000"))
MERCHANT = "mch_bench"
NOW = datetime(2026, 12, 6, 12, tzinfo=timezone.utc)


class MemoryStore:
    def __init__(self) -> None:
        self.kept: dict[str, tuple[int, Counters, int]] = {}
        self.buckets_: dict[tuple[str, str], dict[str, int]] = {}
        self.writes: list[int] = []  # items per keep's transaction

    def kept_(self, object_ids: Sequence[str]) -> dict[str, tuple[int, Counters, int]]:
        return {i: self.kept[i] for i in object_ids if i in self.kept}

    def keep(self, merchant_id: str, keeps: Sequence[Keep], change: Counters) -> bool:
        for keep in keeps:
            self.kept[keep.object_id] = (keep.version, keep.contribution, keep.definition)
        for (currency, bucket, counter), value in change.items():
            found = self.buckets_.setdefault((currency, bucket), {})
            found[counter] = found.get(counter, 0) + value
        self.writes.append(len(keeps) + len({(c, b) for c, b, _ in change} | {(c, "T") for c, _, _ in change}))
        return True


class Adapter:
    """The FigureStore port over MemoryStore (its `kept` named apart from the dict)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def kept(self, merchant_id: str, object_ids: Sequence[str]) -> dict[str, tuple[int, Counters, int]]:
        return self.store.kept_(object_ids)

    def keep(self, *args: Any) -> bool:
        return self.store.keep(*args)

    def buckets(self, merchant_id: str, ranges: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
        raise NotImplementedError  # read on moto


class Counting:
    """A DynamoDB client that counts calls and the items its queries return."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls, self.items = client, Counter[str](), 0

    def query(self, **kwargs: Any) -> Any:
        self.calls["Query"] += 1
        response = self.client.query(**kwargs)
        self.items += len(response.get("Items", []))
        return response


def history() -> tuple[list[Any], list[Any]]:
    plans = [
        PlanTerms(amount=1999, currency="EUR", interval="month"),
        PlanTerms(amount=12000, currency="EUR", interval="year"),
        PlanTerms(amount=700, currency="EUR", interval="week", interval_count=3),
    ]
    customer = Customer(reference="c-1")
    mandates, charges = [], []
    for n in range(MANDATES):
        terms = plans[n % 3]
        plan = Plan(
            id=f"pln_bench{n % 3}",
            merchant_id=MERCHANT,
            created_at=NOW - timedelta(days=500),
            updated_at=NOW,
            name="P",
            terms=terms,
        )
        activated = NOW - timedelta(days=n % 400, hours=n % 7)
        mandate = charged_once(plan, n, activated, customer, NOW)
        mandate.version = 2
        if n % 5 == 0:
            mandate.cancel(activated + timedelta(days=(n % 400) // 2))
            mandate.version = 3
        mandates.append(mandate)
        charge = Charge(
            id=f"chg_bench{n:08d}",
            merchant_id=MERCHANT,
            created_at=activated,
            updated_at=activated,
            mandate_id=mandate.id,
            plan_id=plan.id,
            cycle=1,
            amount=terms.amount,
            currency=terms.currency,
            due_at=activated,
            status="succeeded",
            attempts=[Attempt(number=1, at=activated, outcome="succeeded")],
            version=2,
        )
        charges.append(charge)
    return mandates, charges


def main() -> None:
    mandates, charges = history()
    store = MemoryStore()
    keeper = FigureKeeper(None, Adapter(store))  # type: ignore[arg-type]  # no repository: the objects are given
    started = time.perf_counter()
    for start in range(0, len(mandates), 100):
        keeper.keep_objects(MERCHANT, mandates[start : start + 100] + charges[start : start + 100])
    fold_seconds = time.perf_counter() - started
    with mock_aws():
        session = boto3.Session(region_name="eu-west-1")
        table = provision(session).tables["BillingTable"]
        client = session.client("dynamodb")
        for (currency, bucket), counters in store.buckets_.items():
            client.put_item(TableName=table, Item=to_attributes({**bucket_key(MERCHANT, currency, bucket), **counters}))
        counting = Counting(client)
        reader = DynamoFigureStore(counting, table)
        keeper = FigureKeeper(None, reader)  # type: ignore[arg-type]
        started = time.perf_counter()
        (eur,) = keeper.overview(MERCHANT, NOW)
        read_seconds = time.perf_counter() - started
    print(f"overview of a merchant with {MANDATES:,} mandates and {len(charges):,} charges (moto, the real adapter)")
    print(f"  buckets kept: {len(store.buckets_):,} items (one per currency: totals; per day: what happened, charges due)")
    print(f"  read: {sum(counting.calls.values())} Query calls, {counting.items} items, {read_seconds * 1000:.0f} ms here")
    print(f"  MRR {eur.mrr / 100:,.2f} EUR, active {eur.active:,}, new in 30 days {eur.new:,}, ended {eur.ended:,}")
    kept = 2 * MANDATES
    print(f"  keeping {kept:,} objects in batches of 200: {len(store.writes)} transactions, {sum(store.writes):,} items written")
    print(f"  fold: {fold_seconds / (2 * MANDATES) * 1e6:.0f} µs per object here (without DynamoDB round trips)")


if __name__ == "__main__":
    main()
