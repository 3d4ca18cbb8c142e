"""`make local`: the whole system on one machine, without Docker.

* an embedded AWS emulation (moto, in this process) with the tables, queues, topic and secret
  created from template.yaml's own resource definitions;
* the API on http://127.0.0.1:$PORT: each HTTP request becomes the API Gateway REST proxy event
  AWS would send, through the real authorizer (with its cache) and the real handler;
* the dispatcher fired on the template's schedule against the local clock; the charger fed from
  the charge queue in batches of the template's size, with partial batch failures, visibility
  timeouts (on the local clock) and the redrive policy; the table stream relayed to SNS by the
  real event publisher; and every SNS event printed as one readable line;
* the dev-only endpoints of the contract's "Local runtime" section under /_local.

Data lives as long as the process, unless `--state FILE` saves it on exit and loads it on start.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]
for key, value in {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "recurring-payments",
    "POWERTOOLS_METRICS_NAMESPACE": "RecurringPayments",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines would drown the event lines; CloudWatch has them on AWS
}.items():
    os.environ.setdefault(key, value)
os.environ.pop("AWS_PROFILE", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from billing import bootstrap  # noqa: E402
from billing.adapters.dynamodb.codec import from_attributes, to_attributes  # noqa: E402
from billing.adapters.merchants import MerchantStore  # noqa: E402
from billing.adapters.simulated_gateway import SimulatedGateway  # noqa: E402
from devtools.aws_stats import AwsStats, moto_images, template_indexes  # noqa: E402
from devtools.clock import ClockWentBack, LocalClock  # noqa: E402
from devtools.gateway import ApiGateway, HttpResponse  # noqa: E402
from devtools.lambda_runtime import invoke, load_function  # noqa: E402
from devtools.moto_patches import fast_transactions, serialize_calls  # noqa: E402
from devtools.provision import Provisioned, provision  # noqa: E402
from devtools.sqs_source import SqsEventSource  # noqa: E402
from devtools.streams import TableStream, for_publisher  # noqa: E402
from devtools.template import load_template, resources  # noqa: E402


def _rate_seconds(expression: str) -> float:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return 60.0
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return float(match.group(1)) * unit


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _patch_sqs_time(clock: LocalClock) -> None:
    """SQS visibility timeouts follow the local clock, so a failed message comes back (and reaches
    the DLQ after maxReceiveCount) when the test clock passes its timeout, as on AWS."""
    import moto.sqs.models as sqs_models

    sqs_models.unix_time = lambda dt=None: clock.epoch_seconds()  # type: ignore[assignment]
    sqs_models.unix_time_millis = lambda dt=None: clock.epoch_seconds() * 1000  # type: ignore[assignment]


class LocalSystem:
    def __init__(self, port: int, clock: LocalClock | None = None, quiet: bool = False) -> None:
        self.clock = clock or LocalClock()
        self.base_url = f"http://127.0.0.1:{port}"
        self.quiet = quiet
        self._mock = mock_aws()
        self._mock.start()
        serialize_calls()
        fast_transactions()
        _patch_sqs_time(self.clock)
        # The runtime's own plumbing (queue poller, stream reader, printer) uses its own session:
        # only the system's components are counted in /_local/stats.
        self.plumbing = boto3.Session()
        self.aws: Provisioned = provision(self.plumbing)
        os.environ.update(self.aws.env())
        os.environ["PUBLIC_BASE_URL"] = self.base_url
        self.stats = AwsStats(
            excluded_tables={self.aws.tables["SimulatedGatewayLedgerTable"]},
            images=moto_images(os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")),
            indexes={self.aws.tables["BillingTable"]: template_indexes(load_template()["Resources"]["BillingTable"])},
        )
        counted = boto3.Session()
        self.stats.attach(counted)
        boto3.DEFAULT_SESSION = counted  # the functions' module-level boto3.client(...) use it
        # Every component reads the local clock: the one composition root builds them with it.
        with bootstrap.configured(clock=self.clock):
            self.api = load_function("api")
            self.authorizer = load_function("authorizer")
            self.dispatcher = load_function("dispatcher")
            self.charger = load_function("charger")
            self.publisher = load_function("event_publisher")
            self.customer_page = load_function("customer_page")
        self.gateway = ApiGateway(
            authorizer=lambda event: invoke(self.authorizer, event, "AuthorizerFunction"),
            routes=[
                ("/v1/", lambda event: invoke(self.api, event, "ApiFunction"), True),
                ("/customer/", lambda event: invoke(self.customer_page, event, "CustomerPageFunction"), False),
            ],
        )
        functions = resources("AWS::Serverless::Function")
        batch_size = functions["ChargerFunction"]["Properties"]["Events"]["Charges"]["Properties"]["BatchSize"]
        self.charge_queue = SqsEventSource(
            self.plumbing.client("sqs"),
            self.aws.queues["ChargeQueue"],
            lambda event: invoke(self.charger, event, "ChargerFunction"),
            batch_size=batch_size,
        )
        schedule = load_template()["Parameters"]["DispatchScheduleExpression"]["Default"]
        self.rate = timedelta(seconds=_rate_seconds(schedule))
        self.next_tick = self.clock.now()
        self.engine = threading.Lock()  # one engine step at a time: a tick is synchronous
        # One request at a time through the handlers, as one Lambda instance serves one event at a
        # time (Powertools' resolvers keep the current event in module state).
        self.requests = threading.Lock()
        self._stream = TableStream(self.plumbing, self.aws.tables["BillingTable"], start="LATEST")
        self._printer = self._subscribe_printer()
        self.merchants = MerchantStore(self.plumbing.client("dynamodb"), self.aws.tables["BillingTable"])
        self.ledger_reader = SimulatedGateway(
            self.plumbing.client("dynamodb"), self.aws.tables["SimulatedGatewayLedgerTable"], self.clock
        )
        self.stopping = threading.Event()
        self.ready = False

    # ------------------------------------------------------------ plumbing
    def _subscribe_printer(self) -> str:
        sqs, sns = self.plumbing.client("sqs"), self.plumbing.client("sns")
        url = sqs.create_queue(QueueName="local-event-printer")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=self.aws.topics["EventsTopic"], Protocol="sqs", Endpoint=arn)
        return url

    def relay_events(self) -> int:
        """The table stream -> the real event publisher (template filter, batches of 100) -> SNS."""
        wanted = for_publisher(self._stream.read())
        for start in range(0, len(wanted), 100):
            invoke(self.publisher, {"Records": wanted[start : start + 100]}, "EventPublisherFunction")
        self._print_published()
        return len(wanted)

    def _print_published(self) -> None:
        sqs = self.plumbing.client("sqs")
        while batch := sqs.receive_message(QueueUrl=self._printer, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                if not self.quiet:
                    print(self.describe(json.loads(message["Body"])), flush=True)
            sqs.delete_message_batch(
                QueueUrl=self._printer, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )

    @staticmethod
    def describe(notification: dict[str, Any]) -> str:
        event = json.loads(notification["Message"])
        obj = event["data"]["object"]
        detail = {
            "charge": lambda o: (
                f"{o['id']} cycle {o['cycle']} {o['amount']} {o['currency']} {o['status']} attempts={len(o['attempts'])}"
                + (f" failure={o['failure_code']}" if o.get("failure_code") else "")
            ),
            "mandate": lambda o: f"{o['id']} {o['status']} next_charge_at={o.get('next_charge_at')}",
            "plan": lambda o: f"{o['id']} {o['name']} {o['amount']} {o['currency']}/{o['interval_count']} {o['interval']}",
        }.get(obj.get("object"), lambda o: o.get("id", ""))(obj)
        merchant = notification["MessageAttributes"]["merchant_id"]["Value"]
        return f"event {event['created_at']}  {event['type']:<32} {merchant}  {detail}"

    # --------------------------------------------------------------- engine
    def dispatch(self) -> dict[str, Any]:
        now = self.clock.now()
        self.next_tick = now + self.rate
        # Full precision (AWS sends whole seconds): something due at the local clock's exact now is due.
        scheduled = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return invoke(
            self.dispatcher, {"scheduled_time": scheduled, "execution_id": "local", "attempt": "1"}, "DispatcherFunction"
        )

    def tick(self) -> dict[str, Any]:
        """Dispatch once at the clock's now, drain the charge queue, record and publish everything."""
        with self.engine:
            dispatched = self.dispatch()
            delivery = self.charge_queue.drain()
            events = self.relay_events()
        return {
            "now": dispatched["now"],
            "dispatch": {k: v for k, v in dispatched.items() if k != "now"},
            "charger": {
                "messages": delivery.received,
                "succeeded": delivery.succeeded,
                "failed": delivery.failed,
                "batches": delivery.batches,
            },
            "events_published": events,
            "queues": self.queues(),
        }

    def queues(self) -> dict[str, dict[str, int]]:
        """Depth of every queue of the template (messages waiting, and received but not yet done)."""
        sqs = self.plumbing.client("sqs")
        out = {}
        for logical, url in self.aws.queues.items():
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            out[logical] = {
                "waiting": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            }
        return out

    def background(self) -> None:
        """What AWS does on its own: the schedule fires, the event source polls, the stream flows."""
        while not self.stopping.is_set():
            try:
                with self.engine:
                    if self.clock.now() >= self.next_tick:
                        self.dispatch()
                    self.charge_queue.drain()
                    self.relay_events()
            except Exception as error:  # keep the runtime alive; the failure is the system's, shown
                print(f"local runtime: background step failed: {error!r}", file=sys.stderr, flush=True)
            self.stopping.wait(0.5)

    # ------------------------------------------------------------- dev API
    def local_endpoint(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/_local/health" and method == "GET":
            return (
                (
                    200,
                    {"status": "ok", "api": self.base_url, "now": _iso(self.clock.now()), "test_clock": self.clock.is_test_clock},
                )
                if self.ready
                else (503, {"status": "starting"})
            )
        if path == "/_local/merchants" and method == "POST":
            name = (body or {}).get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not 1 <= len(name) <= 200:
                return 422, {"error": {"type": "validation_error", "message": "name: 1..200 characters", "param": "name"}}
            created = self.merchants.create(name, self.clock.now())
            return 201, {"merchant_id": created.merchant_id, "api_key": created.api_key}
        if path == "/_local/clock" and method == "GET":
            return 200, {"now": _iso(self.clock.now()), "test_clock": self.clock.is_test_clock}
        if path == "/_local/clock" and method == "POST":
            if not isinstance(body, dict) or len(body) != 1 or not ({"advance_seconds", "now"} & body.keys()):
                return 400, {
                    "error": {
                        "type": "invalid_request",
                        "message": 'send {"advance_seconds": N} or {"now": "<RFC 3339>"}',
                        "param": None,
                    }
                }
            try:
                if "advance_seconds" in body:
                    if not isinstance(body["advance_seconds"], int | float) or isinstance(body["advance_seconds"], bool):
                        raise ValueError("advance_seconds must be a number")
                    self.clock.advance(float(body["advance_seconds"]))
                else:
                    self.clock.set(datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00")))
            except ClockWentBack as error:
                return 409, {"error": {"type": "invalid_state", "message": str(error), "param": None}}
            except ValueError as error:
                return 400, {"error": {"type": "invalid_request", "message": str(error), "param": None}}
            return 200, {"now": _iso(self.clock.now()), "test_clock": True}
        if path == "/_local/tick" and method == "POST":
            return 200, self.tick()
        if path == "/_local/gateway/ledger" and method == "GET":
            return 200, {"entries": self.ledger_reader.ledger()}
        if path == "/_local/queues" and method == "GET":
            return 200, self.queues()
        if path == "/_local/stats" and method == "GET":
            return 200, self.stats.snapshot()
        if path == "/_local/stats/reset" and method == "POST":
            self.stats.reset()
            return 200, self.stats.snapshot()
        return 404, {"error": {"type": "not_found", "message": "No such local endpoint.", "param": None}}

    # ---------------------------------------------------------------- state
    def save(self, path: Path) -> None:
        client = self.plumbing.client("dynamodb")
        tables = {}
        for logical, name in self.aws.tables.items():
            items, request = [], {"TableName": name}
            while True:
                page = client.scan(**request)
                items += [from_attributes(i) for i in page["Items"]]
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            tables[logical] = items
        clock = _iso(self.clock.now()) if self.clock.is_test_clock else None
        path.write_text(json.dumps({"clock": clock, "tables": tables}))

    def load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        client = self.plumbing.client("dynamodb")
        for logical, items in state["tables"].items():
            name = self.aws.tables.get(logical)
            for start in range(0, len(items), 25) if name else []:
                client.batch_write_item(
                    RequestItems={name: [{"PutRequest": {"Item": to_attributes(i)}} for i in items[start : start + 25]]}
                )
        if state.get("clock"):
            self.clock.set(datetime.fromisoformat(state["clock"].replace("Z", "+00:00")))
        self._stream = TableStream(
            self.plumbing, self.aws.tables["BillingTable"], start="LATEST"
        )  # restored items are not new events

    def close(self) -> None:
        self.stopping.set()
        self._mock.stop()


def make_handler(system: LocalSystem) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "recurring-payments-local"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            if not system.quiet:
                sys.stderr.write(f"http {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")

        def _respond(self, status: int, headers: dict[str, str], body: str) -> None:
            payload = body.encode()
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            if path.startswith("/_local/"):
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._respond(
                        400,
                        {"Content-Type": "application/json"},
                        json.dumps({"error": {"type": "invalid_request", "message": "body is not JSON", "param": None}}),
                    )
                    return
                status, payload = system.local_endpoint(self.command, path, body)
                self._respond(status, {"Content-Type": "application/json"}, json.dumps(payload))
                return
            headers = {key: value for key, value in self.headers.items()}
            with system.requests:
                response: HttpResponse = system.gateway.request(
                    self.command,
                    self.path,
                    headers,
                    raw.decode("utf-8", errors="replace") if raw else None,
                    source_ip=self.client_address[0],
                )
            self._respond(response.status, response.headers, response.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the recurring payments system locally (no Docker).")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--state", type=Path, help="load this file on start (if it exists) and save to it on exit")
    parser.add_argument("--quiet", action="store_true", help="do not print events and requests")
    args = parser.parse_args(argv)

    system = LocalSystem(args.port, quiet=args.quiet)
    if args.state and args.state.exists():
        system.load(args.state)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(system))
    server.daemon_threads = True
    worker = threading.Thread(target=system.background, name="aws-background", daemon=True)
    worker.start()
    system.ready = True
    print(
        f"recurring payments running at {system.base_url}  (API /v1, dev endpoints /_local; data lives "
        f"{'in ' + str(args.state) if args.state else 'while this process runs'}; Ctrl-C stops)",
        flush=True,
    )

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # Ctrl-C (also when started from a shell that ignores SIGINT)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        system.stopping.set()
        worker.join(timeout=5)
        if args.state:
            system.save(args.state)
            print(f"state saved to {args.state}", flush=True)
        server.server_close()
        system.close()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
