"""The dashboard's figures on moto, built from template.yaml: the table's stream -> the event
publisher -> the events topic -> the figures queue (the template's subscription and filter) ->
the figures function -> the figures' items in the table; every call checked against the
function's role (least privilege)."""

from __future__ import annotations

import json

import boto3
import pytest

from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, active, plan, stream_records


def _figures(system: System, engine: EngineHarness) -> tuple[object, SqsEventSource]:
    from billing import bootstrap

    module = load_function("figures", bootstrap.Overrides(clock=engine.clock))
    source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["FiguresQueue"], lambda e: invoke(module, e, "FiguresFunction")
    )
    return module, source


def test_published_events_keep_the_figures_once_whatever_the_copies(system: System, engine: EngineHarness, call: Client) -> None:
    # Given a monthly and a yearly mandate, both charged, and a cancelled one
    monthly, yearly = plan(call), plan(call, amount=12000, interval="year")
    active(call, monthly)
    active(call, yearly)
    stopped = active(call, monthly)
    engine.tick()
    assert call("POST", f"/v1/mandates/{stopped['id']}/cancel").status == 200
    module, source = _figures(system, engine)
    # When the events are published twice (at least once) and the figures function takes them
    records = stream_records(system)
    for _ in range(2):
        assert invoke(system.publisher_module, {"Records": records}, "EventPublisherFunction") == {"batchItemFailures": []}
    delivery = source.drain()
    # Then every record is handled, and the overview counts each object once
    assert delivery.received > 0 and delivery.failed == 0
    keeper = module.deps.keeper
    (eur,) = keeper.overview(system.a.id, engine.clock.now())
    assert (eur.currency, eur.active, eur.mrr, eur.new, eur.ended) == ("EUR", 2, 1999 + 1000, 3, 1)
    assert eur.collected == 1999 + 12000 + 1999 and eur.collected_by_day[-1][1] == eur.collected
    assert eur.churn_rate is not None and eur.churn_rate * 3 == 1
    # And the other merchant has no figures
    assert keeper.overview(system.b.id, engine.clock.now()) == []
    # And a month later the next charges move the same figures on
    engine.advance(days=31)
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    assert source.drain().failed == 0
    (later,) = keeper.overview(system.a.id, engine.clock.now())
    assert later.collected == 1999  # the second monthly charge; the first ones are older than 30 days now
    assert later.mrr == 1999 + 1000 and sum(n for _, n in later.collected_by_day) == 1999 * 3 + 12000


def test_an_event_of_a_plan_is_not_taken_and_an_unknown_record_comes_back(
    system: System, engine: EngineHarness, call: Client
) -> None:
    # Given a plan created (its event published) and a record that is no event
    plan(call)
    module, source = _figures(system, engine)
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    # Then the template's filter keeps plan events out of the figures queue
    assert source.drain().received == 0
    # And a record that is not an event is answered as failed (it reaches the DLQ after its retries)
    bogus = {"messageId": "m-1", "body": "{}", "messageAttributes": {}}
    assert invoke(module, {"Records": [bogus]}, "FiguresFunction") == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def printed(out: str) -> dict[str, dict[str, int]]:
    """The script's report (the last document it printed; the functions' metric lines come before)."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    report: dict[str, dict[str, int]] = json.loads("\n".join(lines[start:]))
    return report


def test_a_backfill_builds_the_figures_the_events_would_and_runs_again_for_nothing(
    system: System, engine: EngineHarness, call: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.backfill_figures import main as backfill

    # Given a merchant whose history happened before the figures were kept: two mandates charged,
    # one cancelled, a partial refund
    monthly = plan(call)
    kept, stopped = active(call, monthly), active(call, monthly)
    engine.tick()
    call("POST", f"/v1/mandates/{stopped['id']}/cancel")
    [charge] = call("GET", f"/v1/charges?mandate_id={kept['id']}").json()["data"]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 500}).status == 201
    engine.tick()
    table = system.aws.tables["BillingTable"]
    # When the operator backfills it
    assert backfill(["--table", table, "--merchant", system.a.id]) == 0
    first = printed(capsys.readouterr().out)[system.a.id]
    # Then its figures are there
    module, source = _figures(system, engine)
    (eur,) = module.deps.keeper.overview(system.a.id, engine.clock.now())
    assert (eur.mrr, eur.active, eur.new, eur.ended, eur.collected, eur.refunded) == (1999, 1, 2, 1, 2 * 1999, 500)
    assert first["changed"] >= 5 and first["already_kept"] == 0
    # And the events arriving afterwards, and a second backfill, change nothing
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    assert source.drain().failed == 0
    assert backfill(["--table", table, "--merchant", system.a.id]) == 0
    assert printed(capsys.readouterr().out)[system.a.id]["changed"] == 0
    assert module.deps.keeper.overview(system.a.id, engine.clock.now()) == [eur]
