"""Adversarial review of issue 24 on moto, through the API Gateway stand-in and the real handlers:
bad input is a 4xx, never a 5xx later when a document is asked for. Fails on the code as it landed."""

from __future__ import annotations

import boto3
import pytest

from billing import bootstrap
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, stream_records
from tests.support.values import CONSENT, GOLD


@pytest.mark.parametrize("fmt", ["xml", "pdf"])
def test_a_customer_name_with_a_control_character_never_makes_its_invoice_a_500(
    system: System, call: Client, engine: EngineHarness, fmt: str
) -> None:
    # Given a mandate whose customer's name holds a vertical tab (JSON "\u000b")
    plan = call("POST", "/v1/plans", GOLD).json()["id"]
    body = {
        "plan_id": plan,
        "customer": {"reference": "c-1", "name": "Ona\u000bPetraitė"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    created = call("POST", "/v1/mandates", body)
    if created.status == 422:
        return  # refused at the edge: the fix the contract asks for
    assert created.status == 201
    # And its first charge succeeded and was invoiced
    engine.tick()
    receipts = load_function("receipts", bootstrap.Overrides(clock=engine.clock))
    source = SqsEventSource(
        boto3.client("sqs"), system.aws.queues["ReceiptQueue"], lambda e: invoke(receipts, e, "ReceiptsFunction")
    )
    invoke(system.publisher_module, {"Records": stream_records(system)}, "EventPublisherFunction")
    assert source.drain().failed == 0
    [invoice] = call("GET", "/v1/invoices").json()["data"]
    # When the merchant asks for the document, Then it gets it (today: 500 internal_error from lxml)
    answer = call("GET", f"/v1/invoices/{invoice['id']}?format={fmt}")
    assert answer.status == 200, answer.body[:300]
