"""The whole system on moto, as the integration tests drive it: the API through the API Gateway
stand-in (`System`, `Client`), the billing engine's handlers on a test clock (`EngineHarness`), and
the helpers more than one test module uses (the fixtures that build them: tests/integration/conftest.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlparse

import boto3
from botocore.exceptions import ClientError

from devtools.gateway import ApiGateway, HttpResponse
from devtools.lambda_runtime import invoke, load_function
from devtools.provision import Provisioned
from devtools.streams import TableStream, for_publisher
from tests.support.values import CONSENT, GOLD

HOST = "localapi01.execute-api.eu-west-1.amazonaws.com"  # the API's host, as links and pages name it
OK = {"gateway": "simulated", "token": "pm_sim_ok"}


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
        overrides = bootstrap.Overrides(clock=self.clock)
        self.dispatcher = load_function("dispatcher", overrides)
        self.charger = load_function("charger", overrides)
        self.sqs = boto3.client("sqs")
        self.queue = SqsEventSource(
            self.sqs, system.aws.queues["ChargeQueue"], lambda e: invoke(self.charger, e, "ChargerFunction")
        )
        self.gateway = SimulatedGateway(boto3.client("dynamodb"), system.aws.tables["SimulatedGatewayLedgerTable"], self.clock)
        self.mails: list[dict[str, Any]] = []  # what the notifier e-mailed (`announce`)
        self._overrides, self._notices = (
            bootstrap.Overrides(clock=self.clock, mail_observer=lambda **e: self.mails.append(e)),
            None,
        )

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

    def announce(self) -> Any:
        """The e-mails queued so far handled by the real notifier (a bank debit's announcement is
        marked e-mailed on its mandate); what it sent is in `mails`."""
        from devtools.sqs_source import SqsEventSource

        if self._notices is None:
            notifier = load_function("notifier", self._overrides)
            queue = self.system.aws.queues["NotifyQueue"]
            self._notices = SqsEventSource(self.sqs, queue, lambda e: invoke(notifier, e, "NotifierFunction"))
        return self._notices.drain()

    def first_debit(self, notice_days: int = 3) -> dict[str, Any]:
        """A bank debit due now: a tick gives its pre-notification, e-mailed, which holds the debit
        for the account's notice days (3 by default), then the debit is presented on that date."""
        self.tick()
        self.announce()
        return self.advance(days=notice_days)

    def ledger(self) -> list[dict[str, Any]]:
        return self.gateway.ledger()

    def dlq_bodies(self) -> list[str]:
        url = self.system.aws.queues["ChargeDLQ"]
        return [m["Body"] for m in self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]


# ------------------------------------------------------------------ the merchant API
def make_plan(call: Client, **extra) -> dict:
    response = call("POST", "/v1/plans", {**GOLD, **extra})
    assert response.status == 201, response.body
    return response.json()


def make_mandate(call: Client, plan_id: str, reference: str = "cust-42", active: bool = True, **extra) -> dict:
    body = {"plan_id": plan_id, "customer": {"reference": reference, "email": "jonas@example.lt", "name": "Jonas"}, **extra}
    if active:
        body |= {"payment_method": OK, "consent": CONSENT}
    response = call("POST", "/v1/mandates", body)
    assert response.status == 201, response.body
    return response.json()


def plan(call: Client, **terms: Any) -> str:
    response = call("POST", "/v1/plans", {**GOLD, **terms})
    assert response.status == 201, response.body
    return response.json()["id"]


def mandate(call: Client, plan_id: str, token: str = "pm_sim_ok", **extra: Any) -> dict:
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "cust-42"},
        "payment_method": {"gateway": "simulated", "token": token},
        "consent": CONSENT,
        **extra,
    }
    response = call("POST", "/v1/mandates", body)
    assert response.status == 201, response.body
    return response.json()


def active(call: Client, plan_id: str, token: str = "pm_sim_ok") -> dict:
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "c-1"},
        "payment_method": {"gateway": "simulated", "token": token},
        "consent": CONSENT,
    }
    mandate = call("POST", "/v1/mandates", body).json()
    assert mandate["status"] == "active"
    return mandate


def charges_of(call: Client, mandate_id: str) -> list[dict]:
    response = call("GET", f"/v1/charges?mandate_id={mandate_id}&limit=100")
    assert response.status == 200, response.body
    return sorted(response.json()["data"], key=lambda c: c["cycle"])


# ------------------------------------------------------------------ the customer's page
def pending(call: Client) -> dict:
    plan = call("POST", "/v1/plans", {**GOLD, "trial_days": 7}).json()
    mandate = call(
        "POST", "/v1/mandates", {"plan_id": plan["id"], "customer": {"reference": "c-1", "name": "<b>Jonas</b>"}}
    ).json()
    assert mandate["status"] == "pending_approval" and mandate["approval_url"]
    return mandate


def path_of(mandate: dict) -> str:
    return "/customer/" + urlparse(mandate["approval_url"]).path.split("/customer/", 1)[1]


def page(system: System, path: str, **headers: str):
    return system.gateway.request("GET", path, {"Host": HOST, **headers})


def post(system: System, path: str, fields: dict, origin: str | None = f"https://{HOST}"):
    headers = {"Host": HOST, "Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Mozilla/5.0 (test)"}
    if origin:
        headers["Origin"] = origin
    return system.gateway.request("POST", path, headers, urlencode(fields), source_ip="198.51.100.7")


def hidden(body: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]+)"', body).group(1)


def approval_form(body: str, **choice: str) -> dict[str, str]:
    """The approve form as the page filled it (CSRF token, terms hash), with the customer's choice and consent."""
    return {"csrf": hidden(body, "csrf"), "terms_sha256": hidden(body, "terms_sha256"), **choice, "consent": "yes"}


# ------------------------------------------------------------------ events: the stream and the topic
def stream_records(system: System) -> list[dict]:
    """Read the table's stream as Lambda's event source mapping would, applying the template's filter."""
    return for_publisher(TableStream(boto3.Session(), system.aws.tables["BillingTable"]).read())


def subscribe_queue(system: System) -> str:
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    url = sqs.create_queue(QueueName="merchant-webhook-consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=system.aws.topics["EventsTopic"], Protocol="sqs", Endpoint=arn)
    return url


def received(url: str) -> list[dict]:
    sqs, out = boto3.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out += [json.loads(m["Body"]) for m in batch]
    return out


# ------------------------------------------------------------------ DynamoDB under contention
class ConflictingTransactions:
    """A DynamoDB client on which the next `times` transactions are cancelled with
    TransactionConflict (another transaction held an item), as DynamoDB does under contention."""

    def __init__(self, client: Any, times: int, race: Callable[[], object] | None = None) -> None:
        """`race`: what the other writer does before the first cancelled transaction (it wins)."""
        self.client, self.left, self.race = client, times, race
        self.tokens: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)
        if name != "transact_write_items":
            return method

        def transact(**kwargs: Any) -> Any:
            self.tokens.append(kwargs.get("ClientRequestToken", ""))
            if self.left:
                self.left -= 1
                if self.race is not None:
                    race, self.race = self.race, None
                    race()
                error = {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}
                reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
                raise ClientError({"Error": error, "CancellationReasons": reasons}, "TransactWriteItems")
            return method(**kwargs)

        return transact
