"""Benchmark (not a test): what a charge costs end to end, everything it sets off included.

The whole system runs in-process (`make local`'s LocalSystem: moto with the template's resources,
the real handlers). DUE mandates fall due among IDLE others; one scheduler tick, then every
pipeline it set off runs until it is quiet: the gateway queue (charger), the table stream (event
publisher -> SNS -> the queues), the receipt queue (receipts), the notification queue (notifier, SES)
and the webhook queues (fan-out, delivery). Every AWS call the functions make is counted
(`/_local/stats`, devtools/aws_stats.py); the simulated gateway's ledger is left out (it stands
for the payment provider). Three runs:

- no e-mail: customers without an e-mail address, a merchant without webhook endpoints;
- receipt e-mail: every charged customer has an address (one receipt e-mail per charge);
- one webhook delivery: as the first, plus one endpoint subscribed to `charge.succeeded`
  (the delivery's own cost is the difference).

Prints calls and items read per charge, and the cost per million charges from the end-to-end
figures (devtools/costs.py). Run: `make bench` (BENCH_E2E_DUE / BENCH_E2E_IDLE override sizes).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
from devtools.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws(POWERTOOLS_LOG_LEVEL="ERROR", POWERTOOLS_METRICS_DISABLED="true")

from benchmarks.common import bench_plan, charged_once, receiver, write_records  # noqa: E402
from billing.domain.model import Customer  # noqa: E402
from devtools.costs import cost_per_million  # noqa: E402
from devtools.lambda_runtime import running_function  # noqa: E402
from devtools.local.system import LocalSystem  # noqa: E402

DUE = int(os.environ.get("BENCH_E2E_DUE", "200"))
IDLE = int(os.environ.get("BENCH_E2E_IDLE", "1000"))
TARGET = {"no e-mail": (4.0, 3.0), "receipt e-mail": (6.5, None)}
SECONDS_PER_ATTEMPT = 0.05  # the simulated gateway (docs/performance.md)


def seed(system: LocalSystem, merchant_id: str, email: bool) -> None:
    """DUE mandates whose cycle 2 is due now, IDLE ones due over the next four weeks."""
    now = system.clock.now()
    plan = bench_plan(merchant_id, now)
    mandates = []
    for n in range(DUE + IDLE):
        due = n < DUE
        customer = Customer(reference=f"cust-{n}", email=f"c{n}@example.com" if email and due else None)
        activated = now - timedelta(days=30) if due else now - timedelta(days=30) + timedelta(minutes=1 + n * 37 % 40000)
        mandate = charged_once(plan, n, activated, customer, now)
        if due:
            mandate.next_charge_at = now  # cycle 2 due at this tick
        mandate.noticed_cycle = mandate.next_cycle  # its notice went out before (not this benchmark's cost)
        mandates.append(mandate)
    write_records(system.plumbing.client("dynamodb"), system.aws.tables["BillingTable"], [plan, *mandates])


class _ByFunction(Counter[str]):
    """AwsStats' call counter that also counts each call under the function making it (the
    dispatcher's pool threads have no function context: theirs)."""

    def __init__(self, by_function: Counter[str]) -> None:
        super().__init__()
        self.by_function = by_function

    def __setitem__(self, key: str, value: int) -> None:
        self.by_function[f"{running_function.get() or 'DispatcherFunction'} {key}"] += value - self.get(key, 0)
        super().__setitem__(key, value)


def _count_items_by_function(stats: Any, by_function: Counter[str]) -> None:
    """Items read counted under the function reading them too (a diagnostic: BENCH_E2E_BY_FUNCTION)."""

    class Counted(type(stats)):  # type: ignore[misc]
        @property
        def items_read(self) -> int:
            return int(self.__dict__.get("_items_read", 0))

        @items_read.setter
        def items_read(self, value: int) -> None:
            key = f"{running_function.get() or 'DispatcherFunction'} items read"
            by_function[key] += value - self.__dict__.get("_items_read", 0)
            self.__dict__["_items_read"] = value

    read = stats.items_read
    stats.__class__ = Counted
    stats.__dict__["_items_read"] = read


def until_quiet(system: LocalSystem) -> dict[str, int]:
    """One tick, then every pipeline until nothing moves."""
    moved = {"rounds": 1, "events": system.tick()["events_published"]}
    for _ in range(20):
        events = system.relay_events()
        moved["events"] += events
        step = (
            system.gateway_queue.drain().received
            + events
            + system.receipt_requests.drain().received
            + system.notification_requests.drain().received
            + system.deliver_webhooks()
        )
        if step == 0 and system.webhook_wakeups.drain().received == 0:
            system.clock.advance(seconds=10)  # a wake-up put back (busy endpoint slots) comes back
            if system.deliver_webhooks() == 0:
                break
        moved["rounds"] += 1
    return moved


def run(label: str, email: bool, webhook: bool) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):
        system = LocalSystem(port=0, quiet=True)
    server = None
    try:
        system.clock.set(system.clock.now() + timedelta(seconds=1))  # a test clock: it moves only when told
        merchant = system.merchants.create("Bench e2e", system.clock.now())
        seen = {"requests": 0}
        if webhook:
            url, seen, server = receiver()
            headers = {"Authorization": f"Bearer {merchant.api_key}", "Content-Type": "application/json"}
            body = json.dumps({"url": url, "enabled_events": ["charge.succeeded"]})
            response = system.gateway.request("POST", "/v1/webhook_endpoints", headers, body)
            assert response.status < 300, response.body
        seed(system, merchant.merchant_id, email)
        by_function: Counter[str] = Counter()
        with contextlib.redirect_stdout(io.StringIO()):
            system.relay_events()  # the endpoint's creation, published before the tick (not counted)
            system.stats.reset()
            system.stats.calls = _ByFunction(by_function)
            _count_items_by_function(system.stats, by_function)
            moved = until_quiet(system)
        stats = system.stats.snapshot()
        ledger = system.plumbing.client("dynamodb").scan(
            TableName=system.aws.tables["SimulatedGatewayLedgerTable"], Select="COUNT"
        )["Count"]
        return {
            "label": label,
            "charged": ledger,
            "webhooks": seen["requests"],
            "events": moved["events"],
            "by_function": by_function,
            **stats,
        }
    finally:
        if server is not None:
            server.shutdown()
        system.close()


def report(r: dict[str, Any]) -> None:
    charged = max(1, r["charged"])
    calls = r["aws_calls"]
    total = sum(calls.values())
    print(f"\n== {r['label']}: {r['charged']} charged ({DUE} due among {IDLE} idle), {r['webhooks']} webhook deliveries")
    for name, count in calls.items():
        print(f"   {name:34s} {count:7d}   {count / charged:.3f} per charge")
    if os.environ.get("BENCH_E2E_BY_FUNCTION"):
        for name, count in sorted(r["by_function"].items()):
            print(f"      {name:60s} {count:7d}   {count / charged:.3f}")
    limits = TARGET.get(r["label"])
    print(f"   {'AWS calls per charge':34s} {total / charged:.3f}" + (f"   (target <= {limits[0]})" if limits else ""))
    items = r["dynamodb_items_read"] / charged
    print(
        f"   {'DynamoDB items read per charge':34s} {items:.3f}" + (f"   (target <= {limits[1]})" if limits and limits[1] else "")
    )
    print(f"   {'DynamoDB items written per charge':34s} {r['dynamodb_items_written'] / charged:.3f}")
    print(
        f"   {'DynamoDB RRU / WRU per charge':34s} "
        f"{r['dynamodb_read_units'] / charged:.2f} / {r['dynamodb_write_units'] / charged:.2f}"
    )


def cost(r: dict[str, Any]) -> dict[str, float]:
    charged = r["charged"]
    calls = r["aws_calls"]
    # Every function's batches (about one invocation per 10 records, the publisher's per 100).
    invocations = 1 + charged / 10 * (3 + (1 if calls.get("sesv2.SendEmail") else 0) + (2 if r["webhooks"] else 0))
    return cost_per_million(r, charged, r["events"], int(invocations), max(1, charged // 10), SECONDS_PER_ATTEMPT)


def main() -> None:
    runs = [("no e-mail", False, False), ("receipt e-mail", True, False), ("one webhook delivery", False, True)]
    only = os.environ.get("BENCH_E2E_ONLY")  # e.g. "no e-mail"
    results = [run(*r) for r in runs if not only or r[0] == only]
    for r in results:
        report(r)
    if len(results) < len(runs):
        return
    base, hook = results[0], results[2]
    per = max(1, hook["webhooks"])
    extra = sum(hook["aws_calls"].values()) - sum(base["aws_calls"].values())
    print(f"\nOne webhook delivery adds {extra / per:.2f} AWS calls (fan-out + delivery)")
    print("\nEstimated AWS cost per 1,000,000 charges, end to end (USD, us-east-1 list prices; docs/performance.md):")
    for r in results:
        estimate = cost(r)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in estimate.items() if k != "total")
        print(f"   {r['label']:24s} ${estimate['total']:.2f}  ({parts})")


if __name__ == "__main__":
    main()
