"""Benchmark (not a test): what one webhook delivery costs in AWS terms.

The whole system runs in-process (`make local`'s LocalSystem, on moto, the template's resources);
a merchant with one endpoint on a local receiver creates N plans, so N events are published,
fanned out and delivered by the real fan-out and delivery functions. A share of the receiver's
first answers fail (503), so the retry path is counted too. Every AWS call the functions make is
counted with botocore events (docs/scale.md uses these counts).
Run: `make bench` (BENCH_WEBHOOK_EVENTS overrides N).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
from devtools.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws(POWERTOOLS_LOG_LEVEL="ERROR", POWERTOOLS_METRICS_DISABLED="true")

from benchmarks.common import receiver  # noqa: E402
from devtools.costs import PRICE  # noqa: E402
from devtools.local.system import LocalSystem  # noqa: E402

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "200"))
FAIL_EVERY = 20  # one first attempt in 20 fails (5 %), retried 5 s later
DELIVERY_MEMORY_GB = 0.5
SECONDS_PER_BATCH = 0.5  # ten attempts side by side; the slowest endpoint answer in the batch


def main() -> None:
    url, seen, _ = receiver(FAIL_EVERY)
    with contextlib.redirect_stdout(io.StringIO()):
        system = LocalSystem(port=0, quiet=True)
    merchant = system.merchants.create("Bench hooks", system.clock.now())
    headers = {"Authorization": f"Bearer {merchant.api_key}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: Any) -> Any:
        response = system.gateway.request(method, path, headers, json.dumps(body))
        assert response.status < 300, response.body
        return response.json()

    call("POST", "/v1/webhook_endpoints", {"url": url, "enabled_events": ["plan.created"]})
    print(f"publishing {EVENTS} events to one endpoint (1 in {FAIL_EVERY} first attempts fails)...", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):
        for i in range(EVENTS):
            call("POST", "/v1/plans", {"name": f"Plan {i}", "amount": 1000 + i, "currency": "EUR", "interval": "month"})
        system.relay_events()  # the plans' events reach the topic (not counted: the publisher is the charge path's)
        system.stats.reset()
        system.deliver_webhooks()
        rounds = 0
        while seen["requests"] < EVENTS + seen["failed"] and rounds < 60:  # retries 5 s away, busy slots 2-8 s
            system.clock.advance(seconds=2)
            system.deliver_webhooks()
            rounds += 1
    stats = system.stats.snapshot()
    system.close()
    deliveries, attempts = EVENTS, seen["requests"]
    calls = stats["aws_calls"]
    print(
        f"\n{deliveries} deliveries, {attempts} attempts ({seen['failed']} failed first and were retried),"
        f" all made within {2 * rounds} s of local time (at most 4 at once to the one endpoint)"
    )
    print(f"  {'call':<32} {'count':>6} {'per delivery':>13}")
    for name, count in calls.items():
        print(f"  {name:<32} {count:>6} {count / deliveries:>13.2f}")
    wru, rru = stats["dynamodb_write_units"], stats["dynamodb_read_units"]
    print(f"  DynamoDB: {rru / deliveries:.2f} read units, {wru / deliveries:.2f} write units per delivery")
    batches = attempts / 10
    scale = 1e6 / deliveries
    sqs = sum(v for k, v in calls.items() if k.startswith("sqs.")) + 2 * (batches + deliveries / 10)  # + the pollers
    cost = {
        "DynamoDB": (wru * PRICE["dynamodb_wru"] + rru * PRICE["dynamodb_rru"]) * scale,
        "SQS": sqs * PRICE["sqs_request"] * scale,
        "KMS": calls.get("kms.Decrypt", 0) * 0.03 / 1e4 * scale,
        "Lambda": (
            (batches + deliveries / 10) * PRICE["lambda_request"]
            + batches * SECONDS_PER_BATCH * DELIVERY_MEMORY_GB * PRICE["lambda_gb_second"]
        )
        * scale,
    }
    print(
        f"  estimated AWS cost per 1,000,000 deliveries: ${sum(cost.values()):.2f}"
        f" ({', '.join(f'{k} {v:.2f}' for k, v in cost.items())}; assumes {SECONDS_PER_BATCH} s per batch of 10 attempts)"
    )


if __name__ == "__main__":
    main()
