"""Integration fixtures: moto resources created from template.yaml (once per session, put back
to just provisioned before every test), the real handlers behind the API Gateway stand-in, two
merchants to prove isolation. What the fixtures build, and the helpers tests share, live in
tests/support/ (test modules import from there, not from here or from each other)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest

from billing.adapters.merchants import MerchantStore
from devtools.gateway import ApiGateway
from devtools.lambda_runtime import invoke, load_function
from devtools.provision import Provisioned
from tests.support.emulation import Emulation
from tests.support.iam import LeastPrivilegeRecorder
from tests.support.system import Client, EngineHarness, Merchant, System


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

    stack, recorder = emulation
    stack.reset()
    recorder.clear()
    parameters.clear_caches()  # a secret a previous test read may be gone or different now
    with stack.environment(), executor_threads_keep_context():
        yield stack.resources
    assert not recorder.denied, f"calls the template's roles would refuse: {recorder.report()}"


@pytest.fixture
def system(aws: Provisioned) -> Iterator[System]:
    from billing import bootstrap
    from tests.fakes import FakeClock

    clock = FakeClock(None)
    overrides = bootstrap.Overrides(clock=clock)  # the one composition root, with the test's clock
    api, authorizer = load_function("api", overrides), load_function("authorizer", overrides)
    publisher, customer_page = load_function("event_publisher", overrides), load_function("customer_page", overrides)
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


@pytest.fixture
def engine(system: System) -> EngineHarness:
    return EngineHarness(system)
