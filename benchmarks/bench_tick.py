"""Benchmark (not a test): what one scheduler tick costs in AWS terms.

1,000 mandates fall due among 20,000 (and, to show the cost does not grow with idle
mandates, among 5,000). The real dispatcher, charger and event publisher handlers run on moto
with the template's resources; every AWS call they make is counted with botocore events. The
simulated gateway's own calls are left out: it stands for the payment provider.

Prints AWS calls per charge, DynamoDB items read per due mandate, and the estimated AWS cost
per 1,000,000 charges from those counts and public list prices (docs/performance.md).
Run: `make bench` (BENCH_DUE / BENCH_TOTAL override the sizes).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
from devtools.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws(POWERTOOLS_LOG_LEVEL="ERROR", POWERTOOLS_METRICS_DISABLED="true")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from benchmarks.common import bench_plan, charged_once, write_records  # noqa: E402
from billing.domain.model import Customer  # noqa: E402
from devtools.aws_stats import AwsStats, moto_images, template_indexes  # noqa: E402
from devtools.costs import cost_per_million  # noqa: E402
from devtools.lambda_runtime import invoke as _invoke  # noqa: E402
from devtools.lambda_runtime import load_function  # noqa: E402
from devtools.moto_patches import fast_transactions, serialize_calls  # noqa: E402
from devtools.provision import provision  # noqa: E402
from devtools.sqs_source import SqsEventSource  # noqa: E402
from devtools.streams import TableStream, for_publisher  # noqa: E402
from devtools.template import load_template  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
MERCHANT = "mch_bench"

# Assumption the counts cannot give (docs/performance.md).
SECONDS_PER_ATTEMPT = {"simulated gateway": 0.05, "Stripe (~600 ms per PaymentIntent)": 0.65}


def invoke(module, event, name, timeout):
    """Invoke a handler with its stdout (EMF metric lines) kept out of the report."""
    with contextlib.redirect_stdout(io.StringIO()):
        return _invoke(module, event, name, timeout)


def seed(client, table: str, total: int, due: int) -> None:
    print(f"seeding {total} mandates ({due} due) into the emulation...", flush=True)
    plan = bench_plan(MERCHANT, NOW)
    mandates = []
    for n in range(total):
        # Due ones were activated a month ago: cycle 2 is due now. Idle ones were activated over the
        # last 30 days: their cycle 2 falls due over the next 4 weeks. Cycle 1 of both was charged.
        activated = (
            datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
            if n < due
            else NOW - timedelta(days=30) + timedelta(minutes=1 + n % 40000)
        )
        mandates.append(charged_once(plan, n, activated, Customer(reference=f"cust-{n}"), NOW))
    write_records(client, table, [plan, *mandates])


def run(total: int, due: int) -> dict:
    with mock_aws():
        setup = boto3.Session()  # seeding, the queue poller and the stream reader: not the system's calls
        resources = provision(setup)
        os.environ.update(resources.env())
        seed(setup.client("dynamodb"), resources.tables["BillingTable"], total, due)
        stream = TableStream(setup, resources.tables["BillingTable"], start="LATEST")  # the tick's records only

        counted = boto3.Session()
        stats = AwsStats(
            excluded_tables={resources.tables["SimulatedGatewayLedgerTable"]},
            images=moto_images(os.environ["AWS_DEFAULT_REGION"]),
            indexes={resources.tables["BillingTable"]: template_indexes(load_template()["Resources"]["BillingTable"])},
        )
        stats.attach(counted)
        boto3.DEFAULT_SESSION = counted  # the functions' module-level boto3.client(...) calls use it
        dispatcher, charger, publisher = load_function("dispatcher"), load_function("charger"), load_function("event_publisher")

        summary = invoke(dispatcher, {"scheduled_time": NOW.strftime("%Y-%m-%dT%H:%M:%SZ")}, "DispatcherFunction", 900)
        queue = SqsEventSource(
            setup.client("sqs"), resources.queues["ChargeQueue"], lambda e: invoke(charger, e, "ChargerFunction", 60)
        )
        delivery = queue.drain()
        records = for_publisher(stream.read())
        publisher_batches = 0
        for start in range(0, len(records), 100):  # the template's stream BatchSize
            invoke(publisher, {"Records": records[start : start + 100]}, "EventPublisherFunction", 30)
            publisher_batches += 1
        snap = stats.snapshot()
        ledger = setup.client("dynamodb").scan(TableName=resources.tables["SimulatedGatewayLedgerTable"], Select="COUNT")["Count"]
        return {
            "total": total,
            "due": due,
            "dispatched": summary["dispatched"],
            "charged": ledger,
            "charger_batches": delivery.batches,
            "publisher_batches": publisher_batches,
            "events": len(records),
            **snap,
        }


def cost(result: dict, seconds_per_attempt: float) -> dict[str, float]:
    invocations = 1 + result["charger_batches"] + result["publisher_batches"]
    return cost_per_million(
        result, result["charged"], result["events"], invocations, result["charger_batches"], seconds_per_attempt
    )


def main() -> None:
    serialize_calls()  # the dispatcher's claim pool runs threads; moto needs each call atomic
    fast_transactions()
    due = int(os.environ.get("BENCH_DUE", "1000"))
    totals = [int(os.environ.get("BENCH_TOTAL", "20000")), 5000]
    results = [run(total, due) for total in totals]
    print(f"\nOne tick: {due} mandates due (happy path, pm_sim_ok), counted AWS calls of dispatcher + charger + publisher\n")
    for r in results:
        calls = r["aws_calls"]
        total_calls = sum(calls.values())
        print(
            f"== {r['due']} due among {r['total']} mandates: dispatched {r['dispatched']}, charged {r['charged']}, events {r['events']}"
        )
        for name, count in calls.items():
            print(f"   {name:34s} {count:7d}   {count / r['charged']:.3f} per charge")
        print(f"   {'AWS calls per charge':34s} {total_calls / r['charged']:.3f}   (target <= 3.5)")
        print(f"   {'DynamoDB items read per due mandate':34s} {r['dynamodb_items_read'] / r['due']:.3f}")
        print(f"   {'DynamoDB items written per charge':34s} {r['dynamodb_items_written'] / r['charged']:.3f}")
        print(
            f"   {'DynamoDB RRU / WRU per charge':34s} {r['dynamodb_read_units'] / r['charged']:.2f} / {r['dynamodb_write_units'] / r['charged']:.2f}"
        )
    first = results[0]
    print("\nEstimated AWS cost per 1,000,000 charges (USD, us-east-1 list prices; see docs/performance.md):")
    for label, seconds in SECONDS_PER_ATTEMPT.items():
        estimate = cost(first, seconds)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in estimate.items() if k != "total")
        print(f"   {label:38s} ${estimate['total']:.2f}  ({parts})")
    idle_independent = (
        abs(results[0]["dynamodb_items_read"] / results[0]["due"] - results[1]["dynamodb_items_read"] / results[1]["due"]) < 0.01
    )
    print(f"\nItems read per due mandate independent of idle mandates: {'yes' if idle_independent else 'NO'}")


if __name__ == "__main__":
    main()
