"""Inbound gateway events end to end on moto: Stripe POSTs a signed event to /gateway/stripe/events
(through the API Gateway stand-in, no authorizer), the receiver verifies it with the official
library, stores it in the table's inbound log and queues it on GatewayEventsQueue; the applier
applies it once. Events are signed as Stripe signs them: `t=<unix>,v1=hex(hmac_sha256(secret,
"<t>.<payload>"))`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from devtools.gateway import ApiGateway, HttpResponse
from devtools.lambda_runtime import invoke, load_function
from devtools.sqs_source import SqsEventSource
from tests.support.system import Client, EngineHarness, System, charges_of, plan
from tests.support.values import CONSENT

SECRET = "whsec_test_current"
PATH = "/gateway/stripe/events"


def sign(payload: str, secret: str = SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(kind: str, obj: dict[str, Any], event_id: str = "evt_1") -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "api_version": "2026-10-28.endive",
            "livemode": False,
            "data": {"object": obj},
        }
    )


def intent(status: str, merchant_id: str, charge: dict[str, Any], attempt: int = 1, **extra: Any) -> dict[str, Any]:
    metadata = {
        "merchant_id": merchant_id,
        "mandate_id": charge["mandate_id"],
        "charge_id": charge["id"],
        "attempt": str(attempt),
    }
    return {"id": f"pi_{charge['id'][4:]}_{attempt}", "object": "payment_intent", "status": status, "metadata": metadata, **extra}


class Inbound:
    """The receiver behind the API Gateway stand-in, and the applier on its queue."""

    def __init__(self, system: System, secrets: str = SECRET) -> None:
        from billing import bootstrap

        boto3.client("secretsmanager").put_secret_value(SecretId=system.aws.secrets["StripeWebhookSecret"], SecretString=secrets)
        overrides = bootstrap.Overrides(clock=system.clock)
        self.receiver = load_function("gateway_events", overrides)
        self.applier = load_function("gateway_event_applier", overrides)
        self.gateway = ApiGateway(
            authorizer=lambda e: {},
            routes=[("/gateway/", lambda e: invoke(self.receiver, e, "GatewayEventsFunction"), False)],
        )
        self.sqs = boto3.client("sqs")
        self.queue_url = system.aws.queues["GatewayEventsQueue"]
        self.queue = SqsEventSource(self.sqs, self.queue_url, lambda e: invoke(self.applier, e, "GatewayEventApplierFunction"))
        self.system = system

    def post(self, payload: str, signature: str | None = None, signed: bool = True) -> HttpResponse:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0"}
        if signed:
            headers["Stripe-Signature"] = signature or sign(payload)
        return self.gateway.request("POST", PATH, headers, payload, source_ip="54.187.174.169")

    def apply(self) -> int:
        return self.queue.drain().received

    def waiting(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def logged(self) -> list[dict[str, Any]]:
        return [i for i in self.system.table_items() if str(i["pk"]).startswith("GWEVENT#")]


@pytest.fixture
def inbound(system: System) -> Inbound:
    return Inbound(system)


def processing_debit(system: System, engine: EngineHarness, call: Client) -> dict[str, Any]:
    """A SEPA debit's first charge, processing at the gateway."""
    plan_id = plan(call)
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "c-1", "email": "jonas@example.lt", "name": "Jonas Jonaitis"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_sepa_ok"},
        "consent": CONSENT,
    }
    response = call("POST", "/v1/mandates", body)
    assert response.status == 201, response.body
    engine.first_debit()
    [charge] = charges_of(call, response.json()["id"])
    assert charge["status"] == "processing", charge
    return charge


def event_types(call: Client) -> list[str]:
    return [e["type"] for e in call("GET", "/v1/events?limit=100").json()["data"]]


# ------------------------------------------------------------------ refused: nothing recorded


@pytest.mark.parametrize(
    ("case", "post"),
    [
        ("unsigned", lambda i, p: i.post(p, signed=False)),
        ("forged", lambda i, p: i.post(p, sign(p, "whsec_not_ours"))),
        ("stale", lambda i, p: i.post(p, sign(p, at=int(time.time()) - 301))),
        ("tampered", lambda i, p: i.post(p.replace("succeeded", "processing"), sign(p))),
        ("garbage header", lambda i, p: i.post(p, "v1=deadbeef")),
    ],
)
def test_unsigned_forged_stale_or_tampered_events_are_refused_and_nothing_is_recorded(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound, case: str, post: Callable[[Inbound, str], HttpResponse]
) -> None:
    # Given a processing bank debit
    charge = processing_debit(system, engine, call)
    payload = stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge))
    # When the event arrives without a valid, fresh signature
    response = post(inbound, payload)
    # Then it is refused with the contract's error object, and nothing is stored, queued or changed
    assert response.status == 400, (case, response.body)
    error = response.json()["error"]
    assert error["type"] == "invalid_request" and error["param"] is None and error["message"]
    assert inbound.logged() == [] and inbound.waiting() == 0
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "processing"


@pytest.mark.parametrize(
    "payload", ["{not json", '{"object": "list", "data": []}', '["evt_1"]', '{"id": "evt_2", "object": "event"}']
)
def test_a_signed_payload_that_is_not_an_event_is_refused(system: System, inbound: Inbound, payload: str) -> None:
    response = inbound.post(payload)
    assert response.status == 400, response.body
    assert response.json()["error"]["type"] == "invalid_request"
    assert inbound.logged() == [] and inbound.waiting() == 0


def test_a_body_that_cannot_be_read_is_a_400_never_a_500(inbound: Inbound) -> None:
    # Given a request whose body API Gateway marks as base64 but is not
    event = inbound.gateway.proxy_event("POST", PATH, "/gateway/", "", {"Stripe-Signature": "t=1,v1=00"}, "%%%", {}, "1.2.3.4")
    event["isBase64Encoded"] = True
    # Then it is refused with the contract's error object, and nothing is stored or queued
    answer = invoke(inbound.receiver, event, "GatewayEventsFunction")
    assert answer["statusCode"] == 400 and json.loads(answer["body"])["error"]["type"] == "invalid_request"
    assert inbound.logged() == [] and inbound.waiting() == 0


def test_a_secret_of_the_stripe_key_kind_but_wrong_does_not_pass_and_the_path_answers_post_only(inbound: Inbound) -> None:
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    assert inbound.gateway.request("GET", PATH, {}, None).status == 405
    assert inbound.gateway.request("POST", "/gateway/paypal/events", {"Stripe-Signature": sign(payload)}, payload).status == 404


# ------------------------------------------------------------------ verified: stored, queued, applied once


def test_a_settlement_event_settles_the_processing_debit_once_however_often_it_comes(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    # Given a processing bank debit
    charge = processing_debit(system, engine, call)
    payload = stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_settled")
    # When Stripe reports it succeeded, and sends the same event twice more (a retry racing the first, then a replay)
    started = time.monotonic()
    first = inbound.post(payload)
    assert time.monotonic() - started < 1.0  # answered within a second
    second = inbound.post(payload)  # before it was applied: queued again (the applier skips it)
    assert first.status == second.status == 200 and first.json()["status"] == "queued"
    assert inbound.apply() == 2
    third = inbound.post(payload)
    # Then the charge succeeded, once; the replay after it was applied is acknowledged and not queued
    assert third.status == 200 and third.json()["status"] == "duplicate" and inbound.waiting() == 0
    [settled] = charges_of(call, charge["mandate_id"])
    assert settled["status"] == "succeeded"
    assert event_types(call).count("charge.succeeded") == 1
    [logged] = inbound.logged()
    assert logged["pk"] == "GWEVENT#stripe#evt_settled" and logged["applied_at"] and "merchant_id" not in logged
    assert "Jonas" not in json.dumps(logged)  # ids, amounts, codes: nothing personal


def test_events_out_of_order_succeeded_before_processing_end_succeeded(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    charge = processing_debit(system, engine, call)
    # When succeeded arrives (and is applied) before the earlier processing event
    assert inbound.post(stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_b")).status == 200
    inbound.apply()
    assert (
        inbound.post(stripe_event("payment_intent.processing", intent("processing", system.a.id, charge), "evt_a")).status == 200
    )
    inbound.apply()
    # Then the charge stays succeeded (states only move forward)
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "succeeded"
    assert event_types(call).count("charge.succeeded") == 1


def test_a_returned_debit_reported_after_success_reverses_the_charge(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    charge = processing_debit(system, engine, call)
    inbound.post(stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_ok"))
    inbound.apply()
    # When the bank returns the debit: the PaymentIntent fails after it succeeded
    failed = intent(
        "requires_payment_method", system.a.id, charge, last_payment_error={"code": "insufficient_funds", "type": "card_error"}
    )
    assert inbound.post(stripe_event("payment_intent.payment_failed", failed, "evt_returned")).status == 200
    inbound.apply()
    # Then the charge is reversed back into the decline rules (a soft code: retried on the plan's schedule)
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "retrying"
    assert "charge.reversed" in event_types(call)


def test_events_about_unknown_objects_are_acknowledged_and_ignored(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    charge = processing_debit(system, engine, call)
    # A type this service does not handle: 200, nothing stored
    response = inbound.post(stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_other"))
    assert response.status == 200 and response.json()["status"] == "ignored" and inbound.logged() == []
    # A PaymentIntent this deployment did not create (no metadata of ours): 200, ignored
    foreign = {"id": "pi_foreign", "object": "payment_intent", "status": "succeeded", "metadata": {}}
    response = inbound.post(stripe_event("payment_intent.succeeded", foreign, "evt_foreign"))
    assert response.status == 200 and response.json()["status"] == "ignored"
    # Metadata naming a charge that does not exist: stored, applied as nothing
    ghost = intent("succeeded", system.a.id, {**charge, "id": "chg_doesnotexist"})
    assert inbound.post(stripe_event("payment_intent.succeeded", ghost, "evt_ghost")).status == 200
    assert inbound.apply() == 1
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "processing"


def test_an_event_naming_merchant_a_about_merchant_bs_charge_changes_nothing(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    # Given merchant B's processing debit
    b = system.client(system.b)
    charge = processing_debit(system, engine, b)
    # When an event's metadata names merchant A with B's charge
    payload = stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_cross")
    assert inbound.post(payload).status == 200
    inbound.apply()
    # Then B's charge is still processing, and A has no new event
    assert charges_of(b, charge["mandate_id"])[0]["status"] == "processing"
    assert "charge.succeeded" not in event_types(call) + event_types(b)


def test_both_secrets_are_accepted_during_a_rotation(system: System, engine: EngineHarness, call: Client) -> None:
    # Given the secret holds the old and the new signing secret (Stripe signs with both for a while)
    inbound = Inbound(system, "whsec_old, whsec_new")
    charge = processing_debit(system, engine, call)
    processing = stripe_event("payment_intent.processing", intent("processing", system.a.id, charge), "evt_p")
    succeeded = stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_s")
    # Then an event signed with either is accepted, one signed with neither is not
    assert inbound.post(processing, sign(processing, "whsec_old")).status == 200
    assert inbound.post(succeeded, sign(succeeded, "whsec_new")).status == 200
    assert inbound.post(succeeded, sign(succeeded, SECRET)).status == 400
    # And a header carrying both signatures (as Stripe sends during a roll) passes
    both = f"{sign(succeeded, 'whsec_new')},v1={sign(succeeded, 'whsec_old').split('v1=')[1]}"
    assert inbound.post(succeeded, both).status == 200
    inbound.apply()
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "succeeded"


class RefusingQueue:
    """SQS refusing every message, `times` calls long (an outage between storing and queueing)."""

    def __init__(self, real: Any, times: int) -> None:
        self.real, self.left = real, times

    def send_events(self, events: list[Any]) -> int:
        if self.left:
            self.left -= 1
            return 0
        return int(self.real.send_events(events))


def test_a_crash_between_storing_and_applying_loses_nothing(
    system: System, engine: EngineHarness, call: Client, inbound: Inbound
) -> None:
    charge = processing_debit(system, engine, call)
    receiver = inbound.receiver.deps.receivers["stripe"]
    receiver.queue = RefusingQueue(receiver.queue, times=1)
    payload = stripe_event("payment_intent.succeeded", intent("succeeded", system.a.id, charge), "evt_crash")
    # When the event is stored but its queueing fails
    response = inbound.post(payload)
    # Then the gateway is told to retry (5xx), the event is stored unapplied, nothing queued
    assert response.status == 503, response.body
    [logged] = inbound.logged()
    assert "applied_at" not in logged and inbound.waiting() == 0
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "processing"
    # When Stripe sends it again
    assert inbound.post(payload).json()["status"] == "queued"
    inbound.apply()
    # Then it is applied, once
    assert charges_of(call, charge["mandate_id"])[0]["status"] == "succeeded"
    assert event_types(call).count("charge.succeeded") == 1
    assert "applied_at" in inbound.logged()[0]
