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

Then two runs of bank debits (SEPA, `pm_sim_sepa_ok`, EUR, customers with an e-mail and a name):
BENCH_E2E_DEBITS mandates due on a Monday (BENCH_E2E_DEBIT_WEEKDAY) 10:00 UTC, their pre-notification
(mandatory) not given yet, followed from the tick that wakes it (14 days before) to the settlement
3 TARGET business days after the debit was accepted (`processing`), ticking whenever something is
due (the due index, and the gateway's changes to report; idle ticks are left out):

- bank debit, reported: the simulated gateway's clock reports the settlement through the
  gateway-events queue and the applier records it;
- bank debit, looked up: its reports withheld (the local runtime's switch), the engine's lookups
  (an hour after acceptance, then daily) find it.

Prints calls and items read per charge (per debit, also by phase), and the cost per million from the
end-to-end figures (devtools/costs.py). Run: `make bench` (BENCH_E2E_DUE / BENCH_E2E_IDLE /
BENCH_E2E_DEBITS override sizes; BENCH_E2E_ONLY one run by its label).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
from devtools.fake_aws import use_fake_aws  # noqa: E402

use_fake_aws(POWERTOOLS_LOG_LEVEL="ERROR", POWERTOOLS_METRICS_DISABLED="true")

from benchmarks.common import bench_plan, charged_once, receiver, write_records  # noqa: E402
from billing.adapters.dynamodb.keys import DUE_SHARDS  # noqa: E402
from billing.adapters.simulated_gateway import SETTLEMENT_BUSINESS_DAYS  # noqa: E402
from billing.domain.business_days import add_business_days  # noqa: E402
from billing.domain.model import Customer  # noqa: E402
from billing.domain.notices import MAX_NOTICE_DAYS  # noqa: E402
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
    """Items read (and write units, in tenths) counted under the function too (a diagnostic:
    BENCH_E2E_BY_FUNCTION)."""

    def counted(name: str, label: str, scale: int) -> property:
        def get(self: Any) -> Any:
            return self.__dict__.get(name, 0)

        def put(self: Any, value: Any) -> None:
            key = f"{running_function.get() or 'DispatcherFunction'} {label}"
            by_function[key] += round((value - self.__dict__.get(name, 0)) * scale)
            self.__dict__[name] = value

        return property(get, put)

    class Counted(type(stats)):  # type: ignore[misc]
        items_read = counted("_items_read", "items read", 1)
        write_units = counted("_wru_total", "WRU x10", 10)

    read, written = stats.items_read, stats.write_units
    stats.__class__ = Counted
    stats.__dict__["_items_read"], stats.__dict__["_wru_total"] = read, written


def until_quiet(system: LocalSystem) -> dict[str, Any]:
    """One tick, then every pipeline until nothing moves (what moved, and the tick's own summary)."""
    tick = system.tick()
    moved: dict[str, Any] = {
        "rounds": 1,
        "events": tick["events_published"],
        "tick": tick,
        "charger": tick["charger"]["messages"],
        "applied": tick["gateway_events_applied"],
        "receipts": tick["receipts_requested"],
        "emails": tick["email_requests"],
    }
    for _ in range(20):
        events = system.relay_events()
        charger = system.gateway_queue.drain().received
        receipts = system.receipt_requests.drain().received
        emails = system.notification_requests.drain().received
        figures = system.figure_events.drain().received  # the dashboard's figures (docs/metrics.md)
        moved["events"] += events
        moved["charger"] += charger
        moved["receipts"] += receipts
        moved["emails"] += emails
        step = charger + events + receipts + emails + figures + system.deliver_webhooks()
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


# ------------------------------------------------------------------ bank debits
DEBITS = int(os.environ.get("BENCH_E2E_DEBITS", "100"))
DEBIT_WEEKDAY = int(os.environ.get("BENCH_E2E_DEBIT_WEEKDAY", "0"))  # the debits' due day: 0 Monday .. 4 Friday
DEBIT_TOKEN = "pm_sim_sepa_ok"
PHASES = ("pre-notification", "dispatch (processing)", "lookups (processing)", "settlement")


def debit_due_time(now: datetime) -> datetime:
    """10:00 UTC on the first DEBIT_WEEKDAY at least 20 days ahead whose 3 TARGET business days
    after it hold no holiday (settled on the third working day, as the calendar usually has it)."""
    day = (now + timedelta(days=20)).replace(hour=10, minute=0, second=0, microsecond=0)
    while day.weekday() != DEBIT_WEEKDAY or add_business_days(day, SETTLEMENT_BUSINESS_DAYS) != _calendar_settlement(day):
        day += timedelta(days=1)
    return day


def _calendar_settlement(day: datetime) -> datetime:
    """Three business days later counting weekends only (no holiday in between)."""
    out, left = day, SETTLEMENT_BUSINESS_DAYS
    while left:
        out += timedelta(days=1)
        left -= out.weekday() < 5
    return out


def seed_debits(system: LocalSystem, merchant_id: str, due: datetime, horizon: datetime) -> None:
    """DEBITS bank-debit mandates (EUR, customers with an e-mail and a name) whose cycle 2 is due at
    `due`, their pre-notification not given yet; IDLE card mandates due after `horizon`."""
    plan = bench_plan(merchant_id, due)
    mandates = []
    for n in range(DEBITS + IDLE):
        if n < DEBITS:
            customer = Customer(reference=f"cust-{n}", email=f"c{n}@example.com", name=f"Customer {n}")
            mandate = charged_once(plan, n, due - timedelta(days=30), customer, due, token=DEBIT_TOKEN)
            mandate.next_charge_at = due  # its pre-notification (upcoming_charge) is part of the cost
        else:
            mandate = charged_once(plan, n, due - timedelta(days=30), Customer(reference=f"cust-{n}"), due)
            mandate.next_charge_at = horizon + timedelta(minutes=1 + n * 37 % 40000)
            mandate.noticed_cycle = mandate.next_cycle
        mandates.append(mandate)
    write_records(system.plumbing.client("dynamodb"), system.aws.tables["BillingTable"], [plan, *mandates])


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def next_due(system: LocalSystem, gateway_reports: bool) -> datetime | None:
    """The earliest moment something is due: an entry of the due index, or (when its reports reach
    us) a change the simulated gateway will report. Read on the runtime's own session (not counted):
    the benchmark ticks when something is due instead of every minute (idle ticks are left out)."""
    client = system.plumbing.client("dynamodb")
    found = []
    for shard in range(DUE_SHARDS):
        items = client.query(
            TableName=system.aws.tables["BillingTable"],
            IndexName="DueIndex",
            KeyConditionExpression="dpk = :p",
            ExpressionAttributeValues={":p": {"S": f"DUE#{shard}"}},
            Limit=1,
        )["Items"]
        found += [_parse(i["dsk"]["S"].split("#", 1)[0]) for i in items]
    if gateway_reports:
        items = client.query(
            TableName=system.aws.tables["SimulatedGatewayLedgerTable"],
            IndexName="Due",
            KeyConditionExpression="#d = :d",
            ExpressionAttributeNames={"#d": "due"},
            ExpressionAttributeValues={":d": {"S": "due"}},
            Limit=1,
        )["Items"]
        found += [_parse(i["due_at"]["S"]) for i in items]
    return min(found, default=None)


def _totals(snapshot: dict[str, Any]) -> Counter[str]:
    out: Counter[str] = Counter(snapshot["aws_calls"])
    out["items read"] = snapshot["dynamodb_items_read"]
    out["RRU"] = int(snapshot["dynamodb_read_units"] * 10)  # tenths: Counter holds ints
    out["WRU"] = int(snapshot["dynamodb_write_units"] * 10)
    return out


def run_debits(label: str, withhold: bool) -> dict[str, Any]:
    """DEBITS bank debits from the tick that wakes their pre-notification to their settlement, ticking
    whenever something is due; the gateway's reports applied, or withheld (settled by lookups)."""
    with contextlib.redirect_stdout(io.StringIO()):
        system = LocalSystem(port=0, quiet=True)
    try:
        due = debit_due_time(system.clock.now())
        settles = add_business_days(due, SETTLEMENT_BUSINESS_DAYS)
        horizon = settles + timedelta(days=5)
        system.clock.set(due - timedelta(days=MAX_NOTICE_DAYS + 1))
        merchant = system.merchants.create("Bench debits", system.clock.now())
        seed_debits(system, merchant.merchant_id, due, horizon)
        system.withhold_gateway_events = withhold
        phases: dict[str, Counter[str]] = {p: Counter() for p in PHASES}
        ticks: Counter[str] = Counter()
        moved_total: Counter[str] = Counter()
        lookups = notices = 0
        with contextlib.redirect_stdout(io.StringIO()):
            system.relay_events()
            system.stats.reset()
            by_function: Counter[str] = Counter()
            system.stats.calls = _ByFunction(by_function)
            _count_items_by_function(system.stats, by_function)
            by_phase: dict[str, Counter[str]] = {p: Counter() for p in PHASES}
            for _ in range(200):
                at = next_due(system, gateway_reports=not withhold)
                if at is None or at > horizon:
                    break
                system.clock.set(max(at, system.clock.now()))
                now = system.clock.now()
                phase = PHASES[0] if now < due else PHASES[1] if now == due else PHASES[2] if now < settles else PHASES[3]
                before, before_by = _totals(system.stats.snapshot()), Counter(by_function)
                moved = until_quiet(system)
                phases[phase] += _totals(system.stats.snapshot()) - before
                by_phase[phase] += by_function - before_by
                ticks[phase] += 1
                dispatch = moved["tick"]["dispatch"]
                lookups += dispatch.get("settlement_lookups", 0)
                notices += dispatch.get("notices", 0)
                moved_total.update({k: v for k, v in moved.items() if isinstance(v, int)})
        settled = [e for e in system.simulated_gateway.entries() if e["kind"] == "charge" and e["status"] == "succeeded"]
        stats = system.stats.snapshot()
        return {
            "label": label,
            "debits": DEBITS,
            "settled": len(settled),
            "due": due,
            "settles": settles,
            "ticks": ticks,
            "phases": phases,
            "lookups": lookups,
            "notices": notices,
            "events": moved_total["events"],
            "moved": moved_total,
            "by_phase": by_phase,
            "emails": Counter(str(e["kind"]) for e in system.emails.sent),
            **stats,
        }
    finally:
        system.close()


def report_debits(r: dict[str, Any]) -> None:
    n = max(1, r["debits"])
    calls = r["aws_calls"]
    total = sum(calls.values())
    print(
        f"\n== {r['label']}: {r['settled']}/{r['debits']} bank debits settled ({IDLE} idle mandates), due "
        f"{r['due']:%a %Y-%m-%d %H:%M}, settled {r['settles']:%a %Y-%m-%d %H:%M} UTC; "
        f"{sum(r['ticks'].values())} ticks, {r['lookups'] / n:.2f} lookups and {r['notices'] / n:.2f} pre-notifications per debit"
    )
    print("   e-mails per debit: " + ", ".join(f"{kind} {count / n:.2f}" for kind, count in sorted(r["emails"].items())))
    for name, count in calls.items():
        print(f"   {name:34s} {count:7d}   {count / n:.3f} per debit")
    print(f"   {'AWS calls per debit':34s} {total / n:.3f}")
    print(f"   {'DynamoDB items read per debit':34s} {r['dynamodb_items_read'] / n:.3f}")
    print(f"   {'DynamoDB items written per debit':34s} {r['dynamodb_items_written'] / n:.3f}")
    print(f"   {'DynamoDB RRU / WRU per debit':34s} {r['dynamodb_read_units'] / n:.2f} / {r['dynamodb_write_units'] / n:.2f}")
    print("   by phase (ticks; AWS calls, items read, WRU per debit; the due-index queries are the ticks'):")
    for phase, counted in r["phases"].items():
        phase_calls = sum(v for k, v in counted.items() if "." in k)
        print(
            f"      {phase:24s} {r['ticks'][phase]:3d} ticks   {phase_calls / n:6.3f} calls   "
            f"{counted['items read'] / n:6.3f} items   {counted['WRU'] / 10 / n:6.2f} WRU   "
            f"(Query {counted['dynamodb.Query'] / n:.3f})"
        )
        if os.environ.get("BENCH_E2E_BY_FUNCTION"):
            for name, count in sorted(r["by_phase"][phase].items()):
                print(f"         {name:60s} {count:7d}   {count / n:.3f}")


def cost_debits(r: dict[str, Any]) -> dict[str, float]:
    n = r["debits"]
    moved = r["moved"]
    ticks = sum(r["ticks"].values())
    # The dispatcher (and the gateway's clock) once per tick; the queue-fed functions per batch of 10.
    batches = (moved["charger"] + moved["applied"] + moved["receipts"] + moved["emails"]) / 10
    invocations = ticks * (1 if r["label"].endswith("looked up") else 2) + batches + moved["events"] / 100
    gateway_calls = (n + r["lookups"]) / max(1, n)  # the attempt, then each lookup: charger time
    return cost_per_million(r, n, r["events"], int(invocations), max(1, int(batches)), SECONDS_PER_ATTEMPT * gateway_calls)


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
    debit_runs = [("bank debit, reported", False), ("bank debit, looked up", True)]
    only = os.environ.get("BENCH_E2E_ONLY")  # e.g. "no e-mail", "bank debit, looked up"
    results = [run(*r) for r in runs if not only or r[0] == only]
    debits = [run_debits(*r) for r in debit_runs if not only or r[0] == only]
    for r in results:
        report(r)
    for r in debits:
        report_debits(r)
    if len(results) == len(runs):
        base, hook = results[0], results[2]
        per = max(1, hook["webhooks"])
        extra = sum(hook["aws_calls"].values()) - sum(base["aws_calls"].values())
        print(f"\nOne webhook delivery adds {extra / per:.2f} AWS calls (fan-out + delivery)")
    if not only:
        card = results[1]
        print(f"\nPer payment: {'AWS calls':>10s} {'items read':>11s} {'RRU':>7s} {'WRU':>7s}")
        for label, r, n in [(card["label"] + " (card)", card, max(1, card["charged"]))] + [
            (d["label"], d, d["debits"]) for d in debits
        ]:
            print(
                f"   {label:30s} {sum(r['aws_calls'].values()) / n:7.3f} {r['dynamodb_items_read'] / n:11.3f} "
                f"{r['dynamodb_read_units'] / n:7.2f} {r['dynamodb_write_units'] / n:7.2f}"
            )
    print("\nEstimated AWS cost per 1,000,000 charges, end to end (USD, us-east-1 list prices; docs/performance.md):")
    estimates = [(r["label"], cost(r)) for r in results] + [(r["label"], cost_debits(r)) for r in debits]
    for label, estimate in estimates:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in estimate.items() if k != "total")
        print(f"   {label:24s} ${estimate['total']:.2f}  ({parts})")


if __name__ == "__main__":
    main()
