"""The daily reconciliation on moto, built from template.yaml: the schedule's fan-out over every
merchant through ReconcileQueue, each merchant's day against the simulated gateway's ledger, the
stored report, `reconciliation.completed`, and the API (each call checked against the function's
role)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3

from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, active, plan

DAY = "2026-12-01"
MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
NEXT_RUN = datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc)  # the schedule: 01:00 UTC


class Reconciliation:
    """The function as its two event sources call it."""

    def __init__(self, system: System, engine: EngineHarness) -> None:
        from billing import bootstrap

        self.module = load_function("reconciliation", bootstrap.Overrides(clock=engine.clock))
        self.queue = SqsEventSource(
            boto3.client("sqs"), system.aws.queues["ReconcileQueue"], lambda e: invoke(self.module, e, "ReconciliationFunction")
        )

    def daily(self, at: datetime) -> dict[str, Any]:
        fan_out = invoke(self.module, {"scheduled_time": at.strftime("%Y-%m-%dT%H:%M:%SZ")}, "ReconciliationFunction", 120)
        self.queue.drain()
        return fan_out


def a_day_of_business(call: Client, engine: EngineHarness) -> str:
    """A charge and a partial refund of merchant A on DAY; returns the charge's id."""
    engine.clock.current = MORNING
    mandate = active(call, plan(call))
    engine.tick()
    [charge] = call("GET", f"/v1/charges?mandate_id={mandate['id']}").json()["data"]
    assert charge["status"] == "succeeded", charge
    engine.clock.advance(hours=1)
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}).status == 201
    engine.tick()
    return str(charge["id"])


def completed_events(call: Client) -> list[dict[str, Any]]:
    return list(call("GET", "/v1/events?type=reconciliation.completed").json()["data"])


def test_a_normal_day_is_matched_stored_once_and_announced_once(system: System, call: Client, engine: EngineHarness) -> None:
    # Given a day of business at the simulated gateway
    a_day_of_business(call, engine)
    job = Reconciliation(system, engine)

    # When the daily schedule fires the next morning, twice (a retried run)
    engine.clock.current = NEXT_RUN
    fan_out = job.daily(NEXT_RUN)
    job.daily(NEXT_RUN)

    # Then every merchant's day was reconciled; A's is matched with its totals
    assert fan_out == {"date": DAY, "merchants": 2, "queued": 2}
    report = call("GET", f"/v1/reconciliations/{DAY}").json()
    assert (report["object"], report["date"], report["status"], report["differences"]) == ("reconciliation", DAY, "matched", [])
    [eur] = report["totals"]
    expected = {"charges": 1999, "refunds": 500, "reversals": 0, "disputes": 0, "net": 1499}
    assert eur["currency"] == "EUR" and eur["recorded"] == expected and eur["gateway"] == expected
    # And it is stored once, announced once with the report as its object
    [event] = completed_events(call)
    assert event["data"]["object"] == report
    listed = call("GET", "/v1/reconciliations").json()
    assert [r["id"] for r in listed["data"]] == [report["id"]] and listed["has_more"] is False
    assert call("GET", "/v1/reconciliations?status=mismatched").json()["data"] == []
    # And merchant B has its own (empty, matched) day
    other = system.client(system.b)("GET", f"/v1/reconciliations/{DAY}").json()
    assert other["status"] == "matched" and other["totals"] == [] and other["id"] != report["id"]


def test_a_payment_never_asked_for_is_listed_for_its_merchant_only(system: System, call: Client, engine: EngineHarness) -> None:
    # Given a day of business, and a payment the gateway took that this service never asked for
    a_day_of_business(call, engine)
    [mine] = call("GET", "/v1/mandates").json()["data"]
    taken = engine.gateway.record_unrequested(mine["id"], 4200, "EUR", datetime(2026, 12, 1, 15, tzinfo=timezone.utc))
    job = Reconciliation(system, engine)

    # When the day is reconciled
    engine.clock.current = NEXT_RUN
    job.daily(NEXT_RUN)

    # Then A's report is mismatched and lists it; the totals show the gap
    report = call("GET", f"/v1/reconciliations/{DAY}").json()
    assert report["status"] == "mismatched"
    [difference] = report["differences"]
    assert difference["kind"] == "missing_here" and difference["charge_id"] is None
    assert (difference["recorded_amount"], difference["gateway_amount"]) == (None, 4200)
    assert taken["amount"] == 4200
    [eur] = report["totals"]
    assert eur["gateway"]["net"] - eur["recorded"]["net"] == 4200
    assert [r["id"] for r in call("GET", "/v1/reconciliations?status=mismatched").json()["data"]] == [report["id"]]
    # And B's day is matched (A's difference is not B's)
    assert system.client(system.b)("GET", f"/v1/reconciliations/{DAY}").json()["status"] == "matched"


def test_days_not_reconciled_and_bad_dates(call: Client) -> None:
    assert call("GET", "/v1/reconciliations/2026-11-30").status == 404
    for bad in ("2026-13-01", "2026-02-30", "yesterday", "1999-12-31", "2026-1-1"):
        response = call("GET", f"/v1/reconciliations/{bad}")
        assert response.status == 422 and response.json()["error"]["param"] == "date", (bad, response.body)
    assert call("GET", "/v1/reconciliations?status=bogus").status in (400, 422)
    assert call("GET", "/v1/reconciliations?limit=0").status in (400, 422)


class Counted:
    """A DynamoDB client whose calls on the billing table are counted (botocore's before-call)."""

    def __init__(self) -> None:
        self.client = boto3.client("dynamodb")
        self.calls: dict[str, int] = {}
        self.items_read = 0
        self.client.meta.events.register("before-call.dynamodb.*", self._count)
        self.client.meta.events.register("after-call.dynamodb.*", self._read)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] = self.calls.get(model.name, 0) + 1

    def _read(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.items_read += int(parsed.get("ScannedCount", 0))
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            self.items_read += 1 if "Item" in parsed else 0


def test_one_merchant_day_costs_one_query_per_event_shard(system: System, call: Client, engine: EngineHarness) -> None:
    from billing.adapters.dynamodb.keys import LIST_SHARDS
    from billing.adapters.dynamodb.repository import DynamoRepository
    from billing.adapters.ids import RandomIds
    from billing.adapters.simulated_gateway import SimulatedLedger
    from billing.service.reconciliations import Reconciliations

    # Given a day of business (a charge, a refund), reconciled on the billing table through a counted client
    a_day_of_business(call, engine)
    engine.clock.current = NEXT_RUN
    counted = Counted()
    repository = DynamoRepository(counted.client, system.aws.tables["BillingTable"])
    reconciliations = Reconciliations(repository, [SimulatedLedger(engine.gateway)], engine.clock, RandomIds())

    # When the day is reconciled
    run = reconciliations.run(system.a.id, datetime(2026, 12, 1).date())

    # Then the books were read with one Query per event shard (the day's key range, every
    # money-moving type at once), not one per shard and per event type
    assert run.reconciliation.status == "matched"
    print("reconciliation of one merchant-day:", counted.calls, "items read:", counted.items_read)
    assert counted.calls.get("Query", 0) <= LIST_SHARDS["EVENT"], counted.calls
    # And three missed days cost the same reads of the books as one
    counted.calls.clear()
    runs = reconciliations.run_days(system.a.id, datetime(2026, 11, 30).date(), datetime(2026, 12, 2).date())
    print("reconciliation of three merchant-days in one run:", counted.calls)
    assert [r.written for r in runs] == [True, False, True]
    assert counted.calls.get("Query", 0) <= LIST_SHARDS["EVENT"], counted.calls


def test_missed_days_are_reconciled_in_one_message_per_merchant_and_a_redelivery_changes_nothing(
    system: System, call: Client, engine: EngineHarness
) -> None:
    # Given a day of business on DAY, and the job that missed the day before and the day after
    a_day_of_business(call, engine)
    job = Reconciliation(system, engine)
    later = datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc)
    engine.clock.current = later

    # When the schedule's run catches up from 2026-11-30 through 2026-12-02, then runs again (a redelivery)
    schedule = {"scheduled_time": later.strftime("%Y-%m-%dT%H:%M:%SZ"), "since": "2026-11-30"}
    fan_out = invoke(job.module, schedule, "ReconciliationFunction", 120)
    drained = job.queue.drain()
    invoke(job.module, schedule, "ReconciliationFunction", 120)
    job.queue.drain()

    # Then one message per merchant covered the three days; each day has its report
    assert fan_out == {"date": "2026-12-02", "merchants": 2, "queued": 2, "since": "2026-11-30"} and drained.received == 2
    reports = {d: call("GET", f"/v1/reconciliations/{d}").json() for d in ("2026-11-30", DAY, "2026-12-02")}
    assert [r["status"] for r in reports.values()] == ["matched"] * 3
    assert [bool(r["totals"]) for r in reports.values()] == [False, True, False]
    # And only the day with business was announced, once
    assert [e["data"]["object"]["date"] for e in completed_events(call)] == [DAY]
    assert completed_events(system.client(system.b)) == []
    # And a day never reconciled answers 404 with what to expect
    missing = call("GET", "/v1/reconciliations/2026-11-29")
    assert missing.status == 404 and "01:00 UTC" in missing.json()["error"]["message"]
