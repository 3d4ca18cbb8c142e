"""Integration fixtures: moto resources created from template.yaml, the real handlers behind
the API Gateway stand-in, two merchants to prove isolation."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest

from billing.adapters.merchants import MerchantStore
from devtools.gateway import ApiGateway, HttpResponse
from devtools.lambda_runtime import invoke, load_function
from devtools.provision import Provisioned
from tests.support.emulation import Emulation
from tests.support.iam import LeastPrivilegeRecorder


@pytest.fixture(autouse=True, scope="session")
def moto_like_aws() -> Iterator[None]:
    """Atomic AWS calls across threads, and transactions that do not copy whole tables
    (devtools/moto_patches.py; a test proves the rollback)."""
    from devtools.moto_patches import fast_transactions, message_move_tasks, serialize_calls, unserialize_calls

    serialize_calls()
    fast_transactions()
    message_move_tasks()
    yield
    unserialize_calls()


@pytest.fixture(scope="session")
def expanded_template() -> dict[str, Any]:
    from devtools.template import expand

    return expand()


@pytest.fixture(scope="session")
def emulation(expanded_template: dict[str, Any]) -> Iterator[tuple[Emulation, LeastPrivilegeRecorder]]:
    """The template's resources on moto, provisioned once (tests/support/emulation.py), and the
    least-privilege checker on the session the functions use."""
    emulation = Emulation()
    recorder = LeastPrivilegeRecorder(expanded_template, emulation.resources)
    recorder.attach(emulation.session)
    yield emulation, recorder
    emulation.stop()


@pytest.fixture
def aws(emulation: tuple[Emulation, LeastPrivilegeRecorder]) -> Iterator[Provisioned]:
    """The template's resources on moto, as just provisioned. Every AWS call a function makes
    meanwhile is checked against that function's role in the template (tests/support/iam.py): a
    test fails if the code needs a permission the template does not grant."""
    from aws_lambda_powertools.utilities import parameters

    from tests.support.iam import executor_threads_keep_context

    aws, recorder = emulation
    aws.reset()
    recorder.clear()
    parameters.clear_caches()  # each test's emulation has its own secrets
    with aws.environment(), executor_threads_keep_context():
        yield aws.resources
    assert not recorder.denied, f"calls the template's roles would refuse: {recorder.report()}"


@dataclass
class Merchant:
    id: str
    key: str


class Client:
    """Calls the API as a merchant would, through the gateway stand-in."""

    def __init__(self, gateway: ApiGateway, key: str | None) -> None:
        self.gateway, self.key = gateway, key

    def __call__(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: str | None = None
    ) -> HttpResponse:
        h = {"Content-Type": "application/json", **(headers or {})}
        if self.key is not None:
            h["Authorization"] = f"Bearer {self.key}"
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.gateway.request(method, path, h, payload)
        assert response.status != 500, response.body  # bad input must never be a 500
        return response


@dataclass
class System:
    aws: Provisioned
    clock: Any  # every function's clock (tests.fakes.FakeClock: real time until a test sets it)
    api_module: Any
    publisher_module: Any
    customer_module: Any
    a: Merchant
    b: Merchant
    gateway: Any = None

    def client(self, merchant: Merchant | None = None, key: str | None = None) -> Client:
        return Client(self.gateway, key if key is not None else (merchant or self.a).key)

    def table_items(self) -> list[dict[str, Any]]:
        """Test-only inspection of everything stored (a Scan: never done by the system itself)."""
        from billing.adapters.dynamodb.codec import from_attributes

        client = boto3.client("dynamodb")
        return [from_attributes(i) for i in client.scan(TableName=self.aws.tables["BillingTable"])["Items"]]


@pytest.fixture
def system(aws: Provisioned) -> Iterator[System]:
    from billing import bootstrap
    from tests.fakes import FakeClock

    clock = FakeClock(None)
    with bootstrap.configured(clock=clock):  # the one composition root, with the test's clock
        api, authorizer = load_function("api"), load_function("authorizer")
        publisher, customer_page = load_function("event_publisher"), load_function("customer_page")
    store = MerchantStore(boto3.client("dynamodb"), aws.tables["BillingTable"])
    now = datetime.now(timezone.utc)
    a, b = store.create("Shop A <&>", now), store.create("Shop B", now)
    system = System(
        aws, clock, api, publisher, customer_page, Merchant(a.merchant_id, a.api_key), Merchant(b.merchant_id, b.api_key)
    )
    system.gateway = ApiGateway(
        authorizer=lambda event: invoke(authorizer, event, "AuthorizerFunction"),
        routes=[
            ("/v1/", lambda event: invoke(system.api_module, event, "ApiFunction"), True),
            ("/customer/", lambda event: invoke(system.customer_module, event, "CustomerPageFunction"), False),
        ],
    )
    yield system


@pytest.fixture
def call(system: System) -> Client:
    return system.client()


GOLD = {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month"}


# ------------------------------------------------------------------ billing engine
class EngineHarness:
    """The billing engine's real handlers on moto, on a test clock: the schedule is a call to
    the dispatcher with a tick time, the queue is drained through the SQS event source stand-in."""

    def __init__(self, system: System) -> None:
        from billing import bootstrap
        from billing.adapters.simulated_gateway import SimulatedGateway
        from devtools.sqs_source import SqsEventSource

        self.system = system
        # Every component reads the system's clock (the API, the charger, the gateway), from now on a test clock.
        self.clock = system.clock
        self.clock.current = datetime.now(timezone.utc).replace(microsecond=0)
        with bootstrap.configured(clock=self.clock):
            self.dispatcher = load_function("dispatcher")
            self.charger = load_function("charger")
        self.sqs = boto3.client("sqs")
        self.queue = SqsEventSource(
            self.sqs, system.aws.queues["ChargeQueue"], lambda e: invoke(self.charger, e, "ChargerFunction")
        )
        self.gateway = SimulatedGateway(boto3.client("dynamodb"), system.aws.tables["SimulatedGatewayLedgerTable"], self.clock)

    def dispatch(self, now: datetime | None = None) -> dict[str, Any]:
        when = (now or self.clock.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
        return invoke(
            self.dispatcher, {"scheduled_time": when, "execution_id": "test", "attempt": "1"}, "DispatcherFunction", 120
        )

    def tick(self, retry_failed_now: bool = True) -> dict[str, Any]:
        summary = self.dispatch()
        summary["delivery"] = self.queue.drain(retry_failed_now=retry_failed_now)
        return summary

    def advance(self, **delta: float) -> dict[str, Any]:
        self.clock.advance(**delta)
        return self.tick()

    def ledger(self) -> list[dict[str, Any]]:
        return self.gateway.ledger()

    def dlq_bodies(self) -> list[str]:
        url = self.system.aws.queues["ChargeDLQ"]
        return [m["Body"] for m in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


@pytest.fixture
def engine(system: System) -> EngineHarness:
    return EngineHarness(system)
