"""The billing engine end to end on moto: the real dispatcher, charger and API handlers, the
template's queue (with its redrive policy), the simulated gateway's DynamoDB ledger."""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.system import Client, EngineHarness, charges_of, mandate, plan, received, stream_records, subscribe_queue

# (token, charge status after day 7, attempts outcomes, mandate status)
PATHS = [
    ("pm_sim_ok", "succeeded", ["succeeded"], "active"),
    ("pm_sim_insufficient_funds", "failed", ["declined"] * 4, "past_due"),
    ("pm_sim_expired_card", "failed", ["declined"], "past_due"),
    ("pm_sim_fail_once", "succeeded", ["declined", "succeeded"], "active"),
    ("pm_sim_timeout", "succeeded", ["succeeded"], "active"),
    ("pm_sim_error", "failed", ["error"] * 4, "past_due"),
]


@pytest.mark.parametrize(("token", "status", "outcomes", "mandate_status"), PATHS, ids=[p[0] for p in PATHS])
def test_every_simulated_token_path_end_to_end(
    engine: EngineHarness, call: Client, token: str, status: str, outcomes: list[str], mandate_status: str
) -> None:
    # Given an active mandate on a plan retrying 1, 3 and 7 days after the due time
    m = mandate(call, plan(call, retry_schedule_days=[1, 3, 7]), token)
    # When the schedule fires at the due time and on each retry day
    engine.tick()
    for days in (1, 2, 4):
        engine.advance(days=days)
    # Then the charge went the way the contract says for this token
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == status and [a["outcome"] for a in charge["attempts"]] == outcomes
    assert charge["amount"] == 1999 and charge["currency"] == "EUR" and charge["cycle"] == 1
    assert call("GET", f"/v1/charges/{charge['id']}").json() == charge
    assert call("GET", f"/v1/mandates/{m['id']}").json()["status"] == mandate_status
    # And the gateway took money at most once
    taken = [e for e in engine.ledger() if e["mandate_id"] == m["id"]]
    assert len(taken) == (1 if status == "succeeded" else 0)
    events = [e["type"] for e in call("GET", "/v1/events?limit=100").json()["data"]]
    assert ("charge.succeeded" in events) == (status == "succeeded")
    assert ("charge.failed" in events) == (status == "failed")


def test_redelivered_message_is_replayed_not_recharged(engine: EngineHarness, call: Client) -> None:
    # Given a due mandate whose attempt was dispatched
    m = mandate(call, plan(call))
    engine.dispatch()
    [message] = engine.sqs.receive_message(QueueUrl=engine.queue.url, MaxNumberOfMessages=10)["Messages"]
    # SQS delivers the same body twice (at-least-once), e.g. to two charger instances
    engine.sqs.change_message_visibility(QueueUrl=engine.queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    engine.sqs.send_message(QueueUrl=engine.queue.url, MessageBody=message["Body"])
    # When the charger receives the same message twice
    delivery = engine.queue.drain()
    assert delivery.received == 2 and delivery.failed == 0
    # Then one attempt is recorded and the gateway took money once
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == "succeeded" and len(charge["attempts"]) == 1
    assert len(engine.ledger()) == 1


def test_two_dispatchers_at_once_send_each_due_mandate_once(engine: EngineHarness, call: Client) -> None:
    # Given twelve due mandates
    pln = plan(call)
    ids = [mandate(call, pln)["id"] for _ in range(12)]
    # When two dispatcher runs overlap
    results: list[dict] = []
    runs = [threading.Thread(target=lambda: results.append(engine.dispatch())) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    # Then each mandate is sent once in all, and charged once
    assert sum(r["dispatched"] for r in results) == 12
    engine.queue.drain()
    assert sorted(e["mandate_id"] for e in engine.ledger()) == sorted(ids)


def test_crash_after_the_gateway_call_and_before_the_write(
    engine: EngineHarness, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a charger that dies once between the gateway's answer and the write
    m = mandate(call, plan(call))
    repository = engine.charger.charger.repo
    real_commit = repository.commit
    crashes = []

    def crash_once(changes):
        if not crashes:
            crashes.append(changes)
            raise SystemError("the process died")
        return real_commit(changes)

    monkeypatch.setattr(repository, "commit", crash_once)
    # When the attempt runs
    engine.dispatch()
    first = engine.queue.poll_once(retry_failed_now=True)
    # Then money was taken and the charge is still pending
    assert first.failed == 1 and len(engine.ledger()) == 1  # money taken, nothing recorded
    assert charges_of(call, m["id"])[0]["status"] == "pending"
    # When SQS redelivers, Then the gateway replays its answer: one attempt, one payment
    engine.queue.drain()  # SQS redelivers after the visibility timeout
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == "succeeded" and len(charge["attempts"]) == 1
    assert len(engine.ledger()) == 1


class ThrottledOnce:
    """A DynamoDB client whose chosen operation is throttled (after botocore's own retries) once."""

    def __init__(self, client: Any, operation: str, times: int = 1) -> None:
        self.client, self.operation, self.left = client, operation, times

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if name != self.operation:
            return method

        def throttled(**kwargs: Any) -> Any:
            if self.left:
                self.left -= 1
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, name)
            return method(**kwargs)

        return throttled


def test_dynamodb_throttling_in_the_charger_and_the_dispatcher_loses_and_duplicates_nothing(
    engine: EngineHarness, call: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two due mandates, and DynamoDB throttling one dispatcher claim
    pln = plan(call)
    first, second = mandate(call, pln)["id"], mandate(call, pln)["id"]
    dispatcher_repo = engine.dispatcher.deps.dispatcher.repo
    monkeypatch.setattr(dispatcher_repo.writer, "client", ThrottledOnce(dispatcher_repo.writer.client, "transact_write_items"))
    # When the dispatcher runs, Then one is sent and the other stays due
    summary = engine.dispatch()
    assert summary["dispatched"] == 1 and summary["errors"] == 1  # one claim throttled, the other sent
    # When the charger's result write is throttled once too, and the next run comes
    charger_repo = engine.charger.charger.repo
    monkeypatch.setattr(charger_repo.writer, "client", ThrottledOnce(charger_repo.writer.client, "transact_write_items"))
    engine.queue.drain(retry_failed_now=True)  # the throttled result write fails once, then is replayed
    engine.advance(minutes=1)  # the next run claims the one that was throttled
    # Then both are charged exactly once, with one attempt each
    assert {e["mandate_id"] for e in engine.ledger()} == {first, second} and len(engine.ledger()) == 2
    for mandate_id in (first, second):
        [charge] = charges_of(call, mandate_id)
        assert charge["status"] == "succeeded" and len(charge["attempts"]) == 1


def test_a_message_that_keeps_failing_reaches_the_dlq_after_max_receive_count(engine: EngineHarness) -> None:
    # Given a message that is not a gateway message
    engine.sqs.send_message(QueueUrl=engine.queue.url, MessageBody='{"not": "a charge message"}')
    # When the charger keeps failing it
    delivery = engine.queue.drain(retry_failed_now=True)
    # Then after the template's maxReceiveCount it is in the DLQ, unchanged
    assert delivery.received == 5 and delivery.failed == 5  # maxReceiveCount in template.yaml
    assert engine.dlq_bodies() == ['{"not": "a charge message"}']


def test_a_lost_message_is_sent_again_after_the_claim_lease(engine: EngineHarness, call: Client) -> None:
    # Given a claimed attempt whose message was lost before the charger
    m = mandate(call, plan(call))
    engine.dispatch()
    engine.sqs.purge_queue(QueueUrl=engine.queue.url)  # lost between the claim and the charger
    # When the schedule fires again, Then nothing is sent while the lease runs
    assert engine.advance(minutes=5)["dispatched"] == 0
    # And once the lease is over the same attempt is sent again, and charged once
    again = engine.advance(minutes=11)  # lease (900 s) over
    assert again["dispatched"] == 1 and again["resent"] == 1
    [charge] = charges_of(call, m["id"])
    assert charge["status"] == "succeeded" and len(engine.ledger()) == 1


def test_charge_lists_filter_and_paginate_and_isolate_merchants(engine: EngineHarness, call: Client, system) -> None:
    # Given a succeeded and a failed charge of merchant A
    pln = plan(call)
    ok = mandate(call, pln)["id"]
    bad = mandate(call, pln, "pm_sim_expired_card")["id"]
    engine.tick()
    # Then lists filter by status and page without gaps
    assert {c["mandate_id"] for c in call("GET", "/v1/charges?status=failed").json()["data"]} == {bad}
    assert {c["mandate_id"] for c in call("GET", "/v1/charges?status=succeeded").json()["data"]} == {ok}
    page = call("GET", "/v1/charges?limit=1").json()
    assert page["has_more"] and len(page["data"]) == 1
    rest = call("GET", f"/v1/charges?limit=1&cursor={page['next_cursor']}").json()
    assert {page["data"][0]["id"], rest["data"][0]["id"]} == {c["id"] for c in call("GET", "/v1/charges").json()["data"]}
    # And merchant B sees none of them; bad filters and ids are 4xx
    other = system.client(system.b)
    assert other("GET", "/v1/charges").json()["data"] == []
    assert other("GET", f"/v1/charges/{page['data'][0]['id']}").status == 404
    assert call("GET", "/v1/charges?status=bogus").status in (400, 422)
    assert call("GET", "/v1/charges/chg_nope").status == 404


def _published(system) -> list[dict]:
    """Run the table stream through the real event publisher into a subscribed queue."""
    from devtools.lambda_runtime import invoke

    url = subscribe_queue(system)
    assert invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction") == {
        "batchItemFailures": []
    }
    return received(url)


def test_a_scripted_month_of_billing_shows_every_spec_path(engine: EngineHarness, call: Client, system) -> None:
    # Given mandates for every path: succeeding, failing once, failing, expired, two-payment, paused, cancelled
    monthly = plan(call, retry_schedule_days=[1, 3])
    weekly_two = plan(call, interval="week", total_cycles=2)
    weekly = plan(call, interval="week")
    m = {
        "ok": mandate(call, monthly)["id"],
        "fail_once": mandate(call, monthly, "pm_sim_fail_once")["id"],
        "broke": mandate(call, monthly, "pm_sim_insufficient_funds")["id"],
        "expired": mandate(call, monthly, "pm_sim_expired_card")["id"],
        "weekly": mandate(call, weekly_two)["id"],
        "paused": mandate(call, weekly)["id"],
        "cancelled": mandate(
            call, monthly, start_at=(engine.clock.now().replace(microsecond=0) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        )["id"],
    }
    # When 35 days of daily schedules run, with a pause, a cancel and a new card on the way
    engine.tick()  # day 0: first charges of everything due now
    resume_at = (engine.clock.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert call("POST", f"/v1/mandates/{m['paused']}/pause", {"resume_at": resume_at}).status == 200
    for day in range(1, 35):  # the schedule fires daily; the charger drains the queue after each run
        engine.clock.advance(days=1)
        engine.dispatch()
        if day == 2:
            # The merchant cancels while the first charge is pending (dispatched, not yet collected).
            assert call("POST", f"/v1/mandates/{m['cancelled']}/cancel").status == 200
        if day == 5:
            # The customer gives a new card to the past-due mandate: its failed charge is tried again.
            body = {"gateway": "simulated", "token": "pm_sim_ok"}
            assert call("POST", f"/v1/mandates/{m['expired']}/payment_method", body).json()["status"] == "active"
        engine.queue.drain()
    # Then each mandate ends where the contract says, with the charges and events it says
    status = {k: call("GET", f"/v1/mandates/{v}").json()["status"] for k, v in m.items()}
    assert status == {
        "ok": "active",
        "fail_once": "active",
        "broke": "past_due",
        "expired": "active",
        "weekly": "completed",
        "paused": "active",
        "cancelled": "cancelled",
    }
    assert [c["status"] for c in charges_of(call, m["ok"])] == ["succeeded", "succeeded"]
    assert [len(c["attempts"]) for c in charges_of(call, m["fail_once"])] == [2, 2]
    assert [c["status"] for c in charges_of(call, m["broke"])] == ["failed"]
    assert [c["status"] for c in charges_of(call, m["expired"])] == ["succeeded", "succeeded"]
    assert [c["status"] for c in charges_of(call, m["cancelled"])] == ["cancelled"]
    assert [c["cycle"] for c in charges_of(call, m["paused"])] == [1, 3, 4, 5]  # cycle 2 (day 7) fell in the pause
    types = Counter(e["type"] for e in call("GET", "/v1/events?limit=100").json()["data"])
    for expected in (
        "charge.succeeded",
        "charge.retry_scheduled",
        "charge.failed",
        "charge.cancelled",
        "mandate.past_due",
        "mandate.completed",
        "mandate.paused",
        "mandate.resumed",
        "mandate.cancelled",
        "mandate.payment_method_updated",
    ):
        assert types[expected] >= 1, expected
    # Exactly once at the gateway: one ledger entry per succeeded charge, never two per (mandate, cycle)
    succeeded = [c for k in m.values() for c in charges_of(call, k) if c["status"] == "succeeded"]
    ledger = engine.ledger()
    assert len(ledger) == len(succeeded) and len({e["charge_id"] for e in ledger}) == len(ledger)
    # And merchants are told: every charge event reached SNS with its attributes
    published = _published(system)
    charge_events = [p for p in published if p["MessageAttributes"]["event_type"]["Value"].startswith("charge.")]
    assert len(charge_events) == sum(v for k, v in types.items() if k.startswith("charge."))
    assert all(p["MessageAttributes"]["merchant_id"]["Value"] == system.a.id for p in published)
    assert json.loads(charge_events[0]["Message"])["data"]["object"]["object"] == "charge"


def test_the_stripe_key_is_read_through_parameters_from_secrets_manager_or_ssm(aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.lambda_runtime import load_function

    # Given the Stripe key in Secrets Manager and in SSM
    boto3.client("secretsmanager").create_secret(Name="rp/stripe", SecretString="sk_live_from_secrets")
    boto3.client("ssm").put_parameter(Name="/rp/stripe", Value="sk_live_from_ssm", Type="SecureString")
    # When the charger is configured with either name, Then it reads that key; without a name there is no Stripe
    monkeypatch.setenv("STRIPE_SECRET_NAME", "rp/stripe")
    charger = load_function("charger")
    assert charger.deps.gateways["stripe"].secret_key() == "sk_live_from_secrets"
    monkeypatch.setenv("STRIPE_SECRET_NAME", "/rp/stripe")
    charger = load_function("charger")
    assert charger.deps.gateways["stripe"].secret_key() == "sk_live_from_ssm"
    monkeypatch.setenv("STRIPE_SECRET_NAME", "")
    assert "stripe" not in load_function("charger").deps.gateways


def test_the_sample_events_run_against_the_emulation(engine: EngineHarness) -> None:
    from devtools.lambda_runtime import invoke

    # When the repository's sample events are invoked, Then they run (the sample charge is not ours: dropped, not failed)
    tick = json.loads(open("events/dispatcher_tick.json").read())
    assert invoke(engine.dispatcher, tick, "DispatcherFunction")["found"] == 0
    batch = json.loads(open("events/charger_sqs_batch.json").read())
    # The sample names a charge this emulation does not hold: processed and dropped, not failed.
    assert invoke(engine.charger, batch, "ChargerFunction") == {"batchItemFailures": []}
