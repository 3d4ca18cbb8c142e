"""The whole system in one process: the AWS emulation built from template.yaml, the real
handlers (built by the composition root on the local clock), and the steps AWS takes on its
own (the schedule fires, the event source polls the gateway queue, the table stream flows)."""

from __future__ import annotations

import os
import re
import sys
import threading
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from billing import bootstrap
from billing.adapters.cognito import CognitoUserPool
from billing.adapters.dynamodb.dashboard_members import DynamoDashboardMembers
from billing.adapters.merchants import MerchantStore
from billing.adapters.simulated_gateway import SimulatedGateway
from billing.domain.reconciliation import MAX_DAYS_PER_RUN
from billing.service.dashboard import DashboardUsers
from devtools.aws_stats import AwsStats, moto_images, template_indexes
from devtools.clock import LocalClock
from devtools.gateway import ApiGateway
from devtools.lambda_runtime import invoke, load_function
from devtools.local import state
from devtools.local.event_lines import EmailLines, EventLines, InvitationEmails, WebhookLines
from devtools.local.stripe_config import stripe_env
from devtools.moto_patches import fast_transactions, local_email_domains, serialize_calls, sqs_on_clock
from devtools.provision import Provisioned, provision
from devtools.sqs_source import SqsEventSource
from devtools.streams import TableStream, for_publisher
from devtools.template import load_template, resources


def rate_seconds(expression: str) -> float:
    """The period of an EventBridge `rate(...)` expression (a minute if it is not one)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return 60.0
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return float(match.group(1)) * unit


RECONCILIATION_TIME = time(1, 0)  # template.yaml: the reconciliation's schedule, cron(0 1 * * ? *) UTC
# A clock moved days ahead reconciles every day it skipped since the last one reconciled, in order,
# on the next tick, at most this many back: one fan-out whose message per merchant covers them all
# (each merchant's books and gateway read once for the whole range, its reports written together).
# POST /_local/reconcile {date} reconciles any day.
MAX_CATCH_UP_DAYS = MAX_DAYS_PER_RUN


def last_reconcilable_day(now: datetime) -> date:
    """The latest day whose reconciliation time (01:00 UTC the day after) `now` has passed."""
    utc = now.astimezone(timezone.utc)
    return utc.date() - timedelta(days=1 if utc.time() >= RECONCILIATION_TIME else 2)


class LocalSystem:
    def __init__(self, port: int, clock: LocalClock | None = None, quiet: bool = False, state_file: Path | None = None) -> None:
        self.clock = clock or LocalClock()
        self.base_url = f"http://127.0.0.1:{port}"
        self.quiet = quiet
        self._mock = mock_aws()
        self._mock.start()
        serialize_calls()
        fast_transactions()
        local_email_domains()
        # SQS delays and visibility timeouts follow the local clock: a failed gateway message, a
        # webhook retry come back when the local clock passes their time, as on AWS.
        self._sqs_clock = sqs_on_clock(self.clock.epoch_seconds)
        self._sqs_clock.__enter__()
        # The runtime's own plumbing (queue poller, stream reader, printer) uses its own session:
        # only the system's components are counted in /_local/stats.
        self.plumbing = boto3.Session()
        self.aws: Provisioned = provision(self.plumbing)
        if state_file is not None:  # keys first: the functions are built with their ARNs
            self.aws.keys = state.restore_keys(self.aws.keys, state_file)
        os.environ.update(self.aws.env())
        os.environ["PUBLIC_BASE_URL"] = self.base_url
        if os.environ.get("STRIPE_WEBHOOK_SECRET"):  # `stripe listen`'s secret(s): /gateway/stripe/events verifies with it
            self.plumbing.client("secretsmanager").put_secret_value(
                SecretId=self.aws.secrets["StripeWebhookSecret"], SecretString=os.environ["STRIPE_WEBHOOK_SECRET"]
            )
        # Export links are signed for this server's /_local/s3 route (devtools/local/s3_links.py).
        os.environ["EXPORT_LINK_ENDPOINT"] = f"{self.base_url}/_local/s3"
        os.environ["ALLOW_LOOPBACK_WEBHOOKS"] = "true"  # receivers on http://127.0.0.1 / localhost (this runtime only)
        # The dashboard signs in with its own e-mail + password form against the emulated pool
        # (managed login is not emulated); the tokens are verified as on AWS.
        os.environ["DASHBOARD_PASSWORD_SIGN_IN"] = "true"
        self.stats = AwsStats(
            excluded_tables={self.aws.tables["SimulatedGatewayLedgerTable"]},
            images=moto_images(os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")),
            indexes={self.aws.tables["BillingTable"]: template_indexes(load_template()["Resources"]["BillingTable"])},
        )
        counted = boto3.Session()
        self.stats.attach(counted)
        boto3.DEFAULT_SESSION = counted  # the functions' module-level boto3.client(...) use it
        # STRIPE_SECRET_KEY (and STRIPE_API_BASE, STRIPE_PUBLISHABLE_KEY, STRIPE_WEBHOOK_SECRET): charge through Stripe too.
        self.stripe_env = stripe_env(self.plumbing, os.environ)
        os.environ.update(self.stripe_env)
        # Every component reads the local clock: the one composition root builds them with it.
        # Every e-mail to the emulated SES, printed and listed; the mailbox simulator's bounce and complaint reported back.
        self.emails = EmailLines(self.clock, quiet, (self.plumbing.client("sns"), self.aws.topics["MailEventsTopic"]))
        overrides = bootstrap.Overrides(clock=self.clock, mail_observer=self.emails.record)
        invitation = resources("AWS::Cognito::UserPool")["DashboardUserPool"]["Properties"]["AdminCreateUserConfig"]
        template = invitation["InviteMessageTemplate"]
        InvitationEmails(self.emails, template["EmailSubject"], template["EmailMessage"]).attach(counted)
        self.api = load_function("api", overrides)
        self.authorizer = load_function("authorizer", overrides)
        self.dispatcher = load_function("dispatcher", overrides)
        self.charger = load_function("charger", overrides)
        self.publisher = load_function("event_publisher", overrides)
        self.customer_page = load_function("customer_page", overrides)
        self.dashboard = load_function("dashboard", overrides)
        self.webhook_fanout = load_function("webhook_fanout", overrides)
        self.figures = load_function("figures", overrides)
        self.webhook_delivery = load_function("webhook_delivery", overrides)
        self.receipts = load_function("receipts", overrides)
        self.notifier = load_function("notifier", overrides)
        self.gateway_events = load_function("gateway_events", overrides)
        self.gateway_event_applier = load_function("gateway_event_applier", overrides)
        self.exporter = load_function("exporter", overrides)
        # The simulated gateway's clock: its changes that fell due, reported as gateway events
        # (applied in process by its bootstrap until the gateway-events queue takes them).
        self.gateway_clock = load_function("simulated_gateway_clock", overrides)
        # The daily reconciliation: its schedule fires when the local clock passes 01:00 UTC.
        self.reconciliation = load_function("reconciliation", overrides)
        WebhookLines(self.webhook_delivery.deps.webhook_ports(), self.clock, quiet)  # each attempt printed as one line
        self.gateway = ApiGateway(
            authorizer=lambda event: invoke(self.authorizer, event, "AuthorizerFunction"),
            routes=[
                ("/v1/", lambda event: invoke(self.api, event, "ApiFunction"), True),
                ("/customer/", lambda event: invoke(self.customer_page, event, "CustomerPageFunction"), False),
                ("/dashboard", lambda event: invoke(self.dashboard, event, "DashboardFunction"), False),
                ("/gateway/", lambda event: invoke(self.gateway_events, event, "GatewayEventsFunction"), False),
            ],
            clock=self.clock.epoch_seconds,  # the authorizer cache's time to live runs on the local clock
        )
        functions = resources("AWS::Serverless::Function")
        batch_size = functions["ChargerFunction"]["Properties"]["Events"]["Charges"]["Properties"]["BatchSize"]
        self.gateway_queue = SqsEventSource(
            self.plumbing.client("sqs"),
            self.aws.queues["ChargeQueue"],
            lambda event: invoke(self.charger, event, "ChargerFunction"),
            batch_size=batch_size,
        )
        sqs = self.plumbing.client("sqs")
        self.webhook_events = SqsEventSource(
            sqs, self.aws.queues["WebhookEventsQueue"], lambda e: invoke(self.webhook_fanout, e, "WebhookFanOutFunction")
        )
        self.figure_events = SqsEventSource(  # published events -> the dashboard's figures
            sqs, self.aws.queues["FiguresQueue"], lambda e: invoke(self.figures, e, "FiguresFunction")
        )
        self.webhook_wakeups = SqsEventSource(
            sqs, self.aws.queues["WebhookQueue"], lambda e: invoke(self.webhook_delivery, e, "WebhookDeliveryFunction")
        )
        self.receipt_requests = SqsEventSource(
            sqs, self.aws.queues["ReceiptQueue"], lambda e: invoke(self.receipts, e, "ReceiptsFunction")
        )
        self.notification_requests = SqsEventSource(
            sqs, self.aws.queues["NotifyQueue"], lambda e: invoke(self.notifier, e, "NotifierFunction")
        )
        self.inbound_gateway_events = SqsEventSource(
            sqs,
            self.aws.queues["GatewayEventsQueue"],
            lambda e: invoke(self.gateway_event_applier, e, "GatewayEventApplierFunction"),
        )
        self.export_requests = SqsEventSource(
            sqs, self.aws.queues["ExportQueue"], lambda e: invoke(self.exporter, e, "ExporterFunction"), batch_size=1
        )
        self.reconcile_requests = SqsEventSource(
            sqs, self.aws.queues["ReconcileQueue"], lambda e: invoke(self.reconciliation, e, "ReconciliationFunction")
        )
        self.reconciled_through = last_reconcilable_day(self.clock.now())  # days before start are not reconciled
        schedule = load_template()["Parameters"]["DispatchScheduleExpression"]["Default"]
        self.rate = timedelta(seconds=rate_seconds(schedule))
        self.next_tick = self.clock.now()
        self.engine = threading.Lock()  # one engine step at a time: a tick is synchronous
        # One request at a time through the handlers, as one Lambda instance serves one event at a
        # time (Powertools' resolvers keep the current event in module state).
        self.requests = threading.Lock()
        self.stream = TableStream(self.plumbing, self.aws.tables["BillingTable"], start="LATEST")
        self.event_lines = EventLines(self.plumbing, self.aws.topics["EventsTopic"], quiet)
        self.merchants = MerchantStore(self.plumbing.client("dynamodb"), self.aws.tables["BillingTable"])
        # The simulated gateway itself (its ledger, disputes opened and closed by hand): an external
        # provider's own tools, on the runtime's own session (never counted in /_local/stats).
        self.simulated_gateway = SimulatedGateway(
            self.plumbing.client("dynamodb"), self.aws.tables["SimulatedGatewayLedgerTable"], self.clock
        )
        self.ledger_reader = self.simulated_gateway
        self.withhold_gateway_events = False  # POST /_local/gateway/withhold: its reports are lost
        self.stopping = threading.Event()
        self.ready = False

    # --------------------------------------------------------------- engine
    def relay_events(self) -> int:
        """The table stream -> the real event publisher (template filter, batches of 100) -> SNS."""
        wanted = for_publisher(self.stream.read())
        for start in range(0, len(wanted), 100):
            invoke(self.publisher, {"Records": wanted[start : start + 100]}, "EventPublisherFunction")
        self.event_lines.print_published()
        return len(wanted)

    def deliver_webhooks(self) -> int:
        """Published events -> deliveries -> every attempt due at the local clock's now (the
        attempts of one batch side by side, as on AWS). Returns how many wake-ups were handled."""
        self.webhook_events.drain()
        return self.webhook_wakeups.drain().received

    def report_gateway_changes(self) -> dict[str, Any]:
        """The simulated gateway's clock at the local clock's now: its changes that fell due
        (settlements, reversals, disputes, card updates, bank cancellations) reported and applied."""
        if self.withhold_gateway_events:  # lost on their way: only lookups can settle now
            lost = self.simulated_gateway.release_due(self.clock.now(), 1000)
            self.simulated_gateway.mark_reported(lost)
            return {"released": len(lost), "sent": 0}
        scheduled = self.clock.now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        summary: dict[str, Any] = invoke(self.gateway_clock, {"scheduled_time": scheduled}, "SimulatedGatewayClockFunction")
        self.inbound_gateway_events.drain()  # the reports applied, as the applier function would at once
        return summary

    def reconcile(self, day: date, since: date | None = None) -> dict[str, Any]:
        """The reconciliation's daily schedule for `day` (it fires at 01:00 UTC the day after; with
        `since`, a catch-up of every day from then), and its queue drained: every merchant's days
        reconciled."""
        fires = datetime.combine(day + timedelta(days=1), RECONCILIATION_TIME, tzinfo=timezone.utc)
        schedule: dict[str, Any] = {"scheduled_time": fires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if since is not None and since < day:
            schedule["since"] = since.isoformat()
        summary: dict[str, Any] = invoke(self.reconciliation, schedule, "ReconciliationFunction", 120)
        summary["reconciled"] = self.reconcile_requests.drain().received
        return summary

    def daily_jobs(self) -> list[dict[str, Any]]:
        """The days whose reconciliation time the local clock passed since the last one reconciled
        (at most the last `MAX_CATCH_UP_DAYS`), in order, in one run."""
        last = last_reconcilable_day(self.clock.now())
        first = max(self.reconciled_through + timedelta(days=1), last - timedelta(days=MAX_CATCH_UP_DAYS - 1))
        if first > last:
            return []
        summary = self.reconcile(last, since=first)
        self.reconciled_through = last
        return [summary]

    def dispatch(self) -> dict[str, Any]:
        now = self.clock.now()
        self.next_tick = now + self.rate
        # Full precision (AWS sends whole seconds): something due at the local clock's exact now is due.
        scheduled = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        changes = self.report_gateway_changes()  # first: a settlement reported now is not looked up again
        summary: dict[str, Any] = invoke(
            self.dispatcher, {"scheduled_time": scheduled, "execution_id": "local", "attempt": "1"}, "DispatcherFunction"
        )
        summary["gateway_changes"] = {"released": changes["released"], "reported": changes["sent"]}
        return summary

    def tick(self) -> dict[str, Any]:
        """Dispatch once at the clock's now, drain the gateway queue, record and publish everything."""
        with self.engine:
            dispatched = self.dispatch()
            delivery = self.gateway_queue.drain()
            gateway_events = self.inbound_gateway_events.drain().received
            reconciliations = self.daily_jobs()  # after the day's settlements were recorded
            events = self.relay_events()
            receipts = self.receipt_requests.drain().received
            emails = self.notification_requests.drain().received
            exports = self.export_requests.drain().received
            events += self.relay_events()  # export.ready
            webhooks = self.deliver_webhooks()
            figures = self.figure_events.drain().received
        return {
            "now": dispatched["now"],
            "gateway_changes": dispatched["gateway_changes"],
            "dispatch": {k: v for k, v in dispatched.items() if k not in ("now", "gateway_changes")},
            "charger": {
                "messages": delivery.received,
                "succeeded": delivery.succeeded,
                "failed": delivery.failed,
                "batches": delivery.batches,
            },
            "gateway_events_applied": gateway_events,
            "reconciliations": reconciliations,
            "events_published": events,
            "receipts_requested": receipts,
            "email_requests": emails,
            "exports_built": exports,
            "webhook_wakeups": webhooks,
            "figure_events": figures,
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
                    # The schedules fire on their own only on real time: a test clock fires them on
                    # `POST /_local/tick` alone, so a test's ticks are the only runs (decision 26).
                    scheduled = not self.clock.is_test_clock
                    if scheduled and self.clock.now() >= self.next_tick:
                        self.dispatch()
                    self.gateway_queue.drain()
                    self.inbound_gateway_events.drain()
                    if scheduled:
                        self.daily_jobs()
                    self.relay_events()
                    self.receipt_requests.drain()
                    self.notification_requests.drain()
                    if self.export_requests.drain().received:
                        self.relay_events()  # export.ready
                    self.deliver_webhooks()
                    self.figure_events.drain()
            except Exception as error:  # keep the runtime alive; the failure is the system's, shown
                print(f"local runtime: background step failed: {error!r}", file=sys.stderr, flush=True)
            self.stopping.wait(0.5)

    def dashboard_users(self) -> DashboardUsers:
        """The merchants' dashboard users, on the runtime's own session (as `make merchant` would)."""
        pool = CognitoUserPool(self.plumbing.client("cognito-idp"), self.aws.user_pools["DashboardUserPool"])
        members = DynamoDashboardMembers(self.plumbing.client("dynamodb"), self.aws.tables["BillingTable"])
        return DashboardUsers(pool, members, self.clock)

    def restarted_stream(self) -> None:
        """Read the table stream from now on (items restored from a state file are not new events)."""
        self.stream = TableStream(self.plumbing, self.aws.tables["BillingTable"], start="LATEST")

    def close(self) -> None:
        self.stopping.set()
        self._sqs_clock.__exit__(None, None, None)
        self._mock.stop()
