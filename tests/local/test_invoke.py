"""`make invoke`: every sample event in events/ runs its function against a fresh emulation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from devtools.template import ROOT

SAMPLES = [
    ("api", "events/api_create_plan.json", lambda r: r["statusCode"] == 201 and json.loads(r["body"])["object"] == "plan"),
    ("api", "events/api_list_mandates.json", lambda r: r["statusCode"] == 200),
    # The sample key is not a merchant's key in a fresh emulation: the authorizer answers 401 as Lambda does.
    ("authorizer", "events/authorizer_token.json", lambda r: r["errorMessage"] == "Unauthorized"),
    ("event_publisher", "events/event_publisher_stream.json", lambda r: r == {"batchItemFailures": []}),
    ("dispatcher", "events/dispatcher_tick.json", lambda r: r["now"] == "2026-12-01T09:00:00Z" and r["found"] == 0),
    ("charger", "events/charger_sqs_batch.json", lambda r: r == {"batchItemFailures": []}),
    # A fresh emulation's simulated gateway has no change due: nothing reported.
    (
        "simulated_gateway_clock",
        "events/simulated_gateway_clock_tick.json",
        lambda r: r == {"now": "2026-12-01T09:00:00Z", "released": 0, "sent": 0},
    ),
    # An event of a merchant with no endpoint (the fan-out reads no event back): nothing to deliver, the message is done.
    ("webhook_fanout", "events/webhook_fanout_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # A mandate the fresh emulation does not have: no figure moves, the message is done.
    ("figures", "events/figures_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # A wake-up for a delivery that does not exist (any more): nothing to do, the message is done.
    ("webhook_delivery", "events/webhook_delivery_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # A charge the fresh emulation does not have: nothing to number, the message is done.
    ("receipts", "events/receipts_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # A receipt e-mail for a mandate the fresh emulation does not have: nothing to send, the message is done.
    ("notifier", "events/notifier_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # A forged signature (the sample cannot know the emulation's secret): refused with the contract's error, nothing stored.
    ("gateway_events", "events/gateway_events_post.json", lambda r: r["statusCode"] == 400 and "invalid_request" in r["body"]),
    # A settlement for a charge the fresh emulation does not have: ignored, the message is done.
    ("gateway_event_applier", "events/gateway_event_applier_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # An export the fresh emulation does not have: nothing to build, the message is done.
    ("exporter", "events/exporter_sqs.json", lambda r: r == {"batchItemFailures": []}),
    # The daily reconciliation on a fresh emulation: the previous day planned, no merchant to queue.
    ("reconciliation", "events/reconciliation_daily.json", lambda r: r["date"] == "2026-12-01" and r["queued"] == r["merchants"]),
    # A link that is not ours: the page says so (in Lithuanian, from Accept-Language), never a 500.
    ("customer_page", "events/customer_page_get.json", lambda r: r["statusCode"] == 404 and 'lang="lt"' in r["body"]),
    # The dashboard without a session: sent to sign in (under the stage), with its security headers.
    (
        "dashboard",
        "events/dashboard_get.json",
        lambda r: (
            r["statusCode"] in (302, 303)
            and r["multiValueHeaders"]["Location"] == ["/live/dashboard/sign-in"]
            and r["multiValueHeaders"]["Cache-Control"] == ["no-store"]
        ),
    ),
]


def _printed_result(stdout: str):
    """The pretty-printed result: the first line that is exactly "{" up to the end (EMF lines come before)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def test_every_function_has_a_sample_event() -> None:
    # Then every function has a sample event in events/
    functions = {p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()}
    assert functions == {fn for fn, _, _ in SAMPLES}


@pytest.mark.parametrize(("function", "event", "check"), SAMPLES, ids=[f"{f}:{e.split('/')[-1]}" for f, e, _ in SAMPLES])
def test_make_invoke_runs_the_sample(function: str, event: str, check) -> None:
    # When `make invoke` runs a function with its sample event, Then it gives the expected result
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "devtools.invoke", function, event], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    result = _printed_result(done.stdout)
    assert check(result), done.stdout + done.stderr
