"""The composition root: the one place that builds the object graph.

One small factory per function (`api()`, `authorizer()`, `customer_page()`, `dashboard()`, `dispatcher()`,
`charger()`, `event_publisher()`, `receipts()`, `notifier()`, `figures()`, `webhook_fanout()`,
`webhook_delivery()`, `gateway_events()`, `gateway_event_applier()`, `simulated_gateway_clock()`,
`exporter()`) returns a frozen, typed dependency object: exactly what that handler uses,
each member typed by its port. The services are built from ports by `build_use_cases`,
`build_dispatcher` and `build_charger`, which tests call with in-memory fakes (`tests/world.py`).
`Aws` holds one process's AWS adapters (boto3 only through `adapters/`), each built on first use
so a function loads only what it runs (cold start).

A handler calls its factory once, at import, with `given(globals())`: the overrides a test or the
local runtime passed when it loaded the handler (`devtools.lambda_runtime.load_function(name,
overrides)` puts them in the module's namespace before it runs); on Lambda there are none. There
is no module state here: nothing a test or the local runtime sets changes another build.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from .service.ports import (
    CardSetup,
    Clock,
    EventPublisher,
    ExportFiles,
    ExportQueue,
    GatewayEventLog,
    GatewayEventQueue,
    GatewayQueue,
    Idempotency,
    IdGenerator,
    InvoiceRows,
    Links,
    Mailer,
    MerchantKeys,
    NotificationQueue,
    PaymentGateway,
    ReceiptRequestQueue,
    Repository,
    UnpublishedEventsLog,
    WebhookQueue,
)
from .settings import Settings

if TYPE_CHECKING:  # imported where first used: each function loads only what it runs (cold start)
    from .service.charger import Charger
    from .service.customer_portal import CustomerPortal, ReceiptView
    from .service.dashboard import DashboardSessions, DashboardUsers
    from .service.dispatcher import Dispatcher
    from .service.event_publishing import EventRelay
    from .service.exports import Exporter
    from .service.figures import FigureKeeper, FigureStore
    from .service.gateway_inbox import GatewayEventApplier, GatewayEventReceiver
    from .service.links import ApprovalLinks
    from .service.notifications import NotificationRequests, Notifier
    from .service.ports import WebhookPorts
    from .service.receipts import ReceiptNumbering
    from .service.receipts import ReceiptRequests as ReceiptBatches
    from .service.reconciliations import GatewayLedger, ReconciliationPlanner, Reconciliations
    from .service.simulated_clock import SimulatedGatewayClock
    from .service.use_cases import UseCases
    from .service.webhooks import WebhookDeliverer, WebhookFanOut

ClientFactory = Callable[..., object]  # boto3.client: a client of the named AWS service (and its settings)
MailObserver = Callable[..., None]  # told of every e-mail sent, with its fields as keywords
OVERRIDES = "__overrides__"  # the name under which a handler module finds the overrides it was loaded with


@dataclass(frozen=True)
class Overrides:
    """What a test or the local runtime changes in the graph a factory builds."""

    clock: Clock | None = None
    settings: Settings | None = None
    mail_observer: MailObserver | None = None  # told of every e-mail sent (the local runtime)
    signing_key: Callable[[], bytes] | None = None  # reads the link-signing key (a test counts the reads)
    client: ClientFactory | None = None  # AWS clients (default: boto3's default session)


def given(namespace: Mapping[str, object]) -> Overrides:
    """The overrides a handler module was loaded with (its `globals()`); none on Lambda."""
    found = namespace.get(OVERRIDES)
    return found if isinstance(found, Overrides) else Overrides()


# ----------------------------------------------------------------------------- services from ports


def build_use_cases(
    settings: Settings,
    repository: Repository,
    clock: Clock,
    ids: IdGenerator,
    links: Links,
    cards: Callable[[], CardSetup | None] = lambda: None,
    webhook_ports: Callable[[], WebhookPorts] | None = None,
    export_ports: Callable[[], tuple[ExportQueue, ExportFiles | None]] | None = None,
) -> UseCases:
    """The merchant API's and the customer page's use cases for one request (links depend on
    the URL it came in on)."""
    from .service.use_cases import UseCases

    return UseCases(repository, clock, ids, links, settings.gateways, cards, webhook_ports, export_ports)


def build_dispatcher(
    settings: Settings,
    repository: Repository,
    queue: GatewayQueue,
    ids: IdGenerator,
    notification_queue: NotificationQueue,
    workers: int = 16,
) -> Dispatcher:
    from .service.dispatcher import Dispatcher

    return Dispatcher(
        repository,
        queue,
        ids,
        notification_queue,
        lease=timedelta(seconds=settings.claim_lease_seconds),
        max_per_run=settings.max_dispatch_per_run,
        workers=workers,
    )


def build_charger(repository: Repository, gateways: dict[str, PaymentGateway], clock: Clock, ids: IdGenerator) -> Charger:
    from .service.charger import Charger

    # A payment method whose gateway is missing here is rejected (gateway_rejected), never retried for ever.
    return Charger(repository, gateways, clock, ids)


# ----------------------------------------------------------------------------- one process's AWS adapters


class Aws:
    """The AWS adapters of one process, each built on first use, from `Settings`."""

    def __init__(self, settings: Settings, client: ClientFactory, clock: Clock, overrides: Overrides = Overrides()) -> None:
        self.settings, self.client, self.clock, self.overrides = settings, client, clock, overrides

    @classmethod
    def from_env(cls, overrides: Overrides = Overrides()) -> Aws:
        """Settings from the environment, AWS clients from boto3's default session, the system
        clock; each as `overrides` says."""
        from .adapters.clock import SystemClock

        client = overrides.client
        if client is None:
            import boto3

            client = boto3.client
        return cls(overrides.settings or Settings.from_env(), client, overrides.clock or SystemClock(), overrides)

    @cached_property
    def dynamodb(self) -> object:
        return self.client("dynamodb")

    @cached_property
    def sqs(self) -> object:
        """One SQS client for every queue this process uses (a client costs its cold start once)."""
        return self.client("sqs")

    @cached_property
    def repository(self) -> Repository:
        from .adapters.dynamodb.repository import DynamoRepository

        return DynamoRepository(self.dynamodb, self.settings.table_name)

    @cached_property
    def ids(self) -> IdGenerator:
        from .adapters.ids import RandomIds

        return RandomIds()

    @cached_property
    def signing_key(self) -> Callable[[], bytes]:
        """Reads the key that signs customer links and forms (Secrets Manager through Powertools
        Parameters, cached five minutes): only when a link is made or checked."""
        if self.overrides.signing_key is not None:
            return self.overrides.signing_key
        from .adapters.secrets import secret_reader

        read = secret_reader(self.settings.link_signing_secret_arn)
        return lambda: read().encode()

    def approval_links(self, base_url: str) -> ApprovalLinks:
        """Links to the customer page under `base_url`, signed with the deployment's key."""
        from .service.links import ApprovalLinks

        return ApprovalLinks(self.signing_key, base_url)

    @cached_property
    def stripe_gateway(self) -> StripeGateway | None:
        """The Stripe adapter (None without a secret): charges, and the customer page's SetupIntents."""
        if not self.settings.stripe_secret_name:
            return None
        from .adapters.secrets import secret_reader
        from .adapters.stripe import StripeGateway

        return StripeGateway(secret_reader(self.settings.stripe_secret_name), base_url=self.settings.stripe_api_base)

    @property
    def cards(self) -> CardSetup | None:
        return self.stripe_gateway

    @cached_property
    def gateways(self) -> dict[str, PaymentGateway]:
        """Built on first use: only the charger needs them."""
        from .adapters.simulated_gateway import SimulatedGateway

        gateways: dict[str, PaymentGateway] = {}
        if self.settings.allow_simulated_gateway and self.settings.gateway_ledger_table_name:
            gateways["simulated"] = SimulatedGateway(self.dynamodb, self.settings.gateway_ledger_table_name, self.clock)
        if self.stripe_gateway is not None:
            gateways["stripe"] = self.stripe_gateway
        return gateways

    @cached_property
    def gateway_queue(self) -> GatewayQueue:
        from .adapters.sqs import SqsGatewayQueue

        return SqsGatewayQueue(self.sqs, self.settings.charge_queue_url)

    @cached_property
    def gateway_event_queue(self) -> GatewayEventQueue:
        from .adapters.sqs import SqsGatewayEventQueue

        return SqsGatewayEventQueue(self.sqs, self.settings.gateway_events_queue_url)

    @cached_property
    def gateway_event_log(self) -> GatewayEventLog:
        from .adapters.dynamodb.gateway_event_log import DynamoGatewayEventLog

        return DynamoGatewayEventLog(self.dynamodb, self.settings.table_name)

    @cached_property
    def notification_queue(self) -> NotificationQueue:
        from .adapters.sqs import SqsNotificationQueue

        return SqsNotificationQueue(self.sqs, self.settings.notify_queue_url)

    @cached_property
    def merchants(self) -> MerchantKeys:
        from .adapters.merchants import MerchantStore

        return MerchantStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def idempotency(self) -> Idempotency:
        from .adapters.idempotency import PowertoolsIdempotency

        return PowertoolsIdempotency(self.settings.idempotency_table_name, self.dynamodb)

    @cached_property
    def webhook_queue(self) -> WebhookQueue:
        from .adapters.sqs import SqsWebhookQueue

        return SqsWebhookQueue(self.sqs, self.settings.webhook_queue_url)

    @cached_property
    def webhook_ports(self) -> WebhookPorts:
        import os
        import time

        from .adapters.dynamodb.slots import DynamoEndpointSlots
        from .adapters.kms import KmsSecretBox
        from .adapters.webhook_http import PublicDestinations, UrllibSender
        from .service.ports import WebhookPorts

        destinations = PublicDestinations(allow_loopback_http=self.settings.allow_loopback_webhooks)
        return WebhookPorts(
            box=KmsSecretBox(self.client("kms"), self.settings.webhook_key_arn),
            destinations=destinations,
            queue=self.webhook_queue,
            slots=DynamoEndpointSlots(self.dynamodb, self.settings.table_name),
            sender=UrllibSender(destinations),
            random_bytes=os.urandom,
            wall_clock=time.time,
            allow_loopback_http=self.settings.allow_loopback_webhooks,
        )

    @cached_property
    def mailer(self) -> Mailer:
        from .adapters.ses import SesMailer

        return SesMailer(
            self.client("sesv2"), self.settings.sender_email, self.settings.ses_configuration_set, self.overrides.mail_observer
        )

    @cached_property
    def publisher(self) -> EventPublisher:
        from .adapters.sns import SnsPublisher

        return SnsPublisher(self.client("sns"), self.settings.events_topic_arn)

    @cached_property
    def figure_store(self) -> FigureStore:
        from .adapters.dynamodb.figures import DynamoFigureStore

        return DynamoFigureStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def unpublished_events(self) -> UnpublishedEventsLog:
        from .adapters.sqs import UnpublishedEvents

        return UnpublishedEvents(self.sqs, self.settings.unpublished_events_queue_url)

    @cached_property
    def receipt_requests(self) -> ReceiptRequestQueue:
        from .adapters.sqs import SqsReceiptRequests

        return SqsReceiptRequests(self.sqs, self.settings.receipt_queue_url)

    @cached_property
    def export_queue(self) -> ExportQueue:
        from .adapters.sqs import SqsExportQueue

        return SqsExportQueue(self.sqs, self.settings.export_queue_url)

    @cached_property
    def export_files(self) -> ExportFiles:
        from .adapters.s3 import S3ExportFiles, client_config

        endpoint = self.settings.export_link_endpoint
        links = self.client("s3", config=client_config(), endpoint_url=endpoint) if endpoint else None
        return S3ExportFiles(self.client("s3", config=client_config()), self.settings.export_bucket_name, links)

    def use_cases(self, links: Links) -> UseCases:
        return build_use_cases(
            self.settings,
            self.repository,
            self.clock,
            self.ids,
            links,
            lambda: self.cards,
            lambda: self.webhook_ports,
            lambda: (self.export_queue, self.export_files),
        )


if TYPE_CHECKING:
    from .adapters.stripe import StripeGateway


# ----------------------------------------------------------------------------- one factory per function


@dataclass(frozen=True)
class AuthorizerDeps:
    clock: Clock
    merchants: MerchantKeys


def authorizer(overrides: Overrides = Overrides()) -> AuthorizerDeps:
    aws = Aws.from_env(overrides)
    return AuthorizerDeps(aws.clock, aws.merchants)


@dataclass(frozen=True)
class ApiDeps:
    """The merchant API's: use cases per request (links under the URL it came in on), keyed POSTs."""

    settings: Settings
    clock: Clock
    repository: Repository
    signing_key: Callable[[], bytes]
    idempotency: Callable[[], Idempotency]  # built on the first POST that carries a key
    approval_links: Callable[[str], ApprovalLinks]
    use_cases: Callable[[Links], UseCases]
    webhook_ports: Callable[[], WebhookPorts]  # built when a webhook route is first used
    document_pdf: Callable[[ReceiptView, str], bytes]  # an invoice's PDF (the customer page's layout)


def document_pdf(view: ReceiptView, lang: str) -> bytes:
    """An invoice's or credit note's PDF for the merchant API: the customer page's (one layout),
    its XML attached; imported when first asked for."""
    from .customer_page.render import receipt_pdf

    return receipt_pdf(view, "lt" if lang == "lt" else "en")


def api(overrides: Overrides = Overrides()) -> ApiDeps:
    aws = Aws.from_env(overrides)
    return ApiDeps(
        settings=aws.settings,
        clock=aws.clock,
        repository=aws.repository,
        signing_key=aws.signing_key,
        idempotency=lambda: aws.idempotency,
        approval_links=aws.approval_links,
        use_cases=aws.use_cases,
        webhook_ports=lambda: aws.webhook_ports,
        document_pdf=document_pdf,
    )


@dataclass(frozen=True)
class CustomerPageDeps:
    """The customer page's: the portal per request (links under the URL it came in on)."""

    settings: Settings
    clock: Clock
    repository: Repository
    signing_key: Callable[[], bytes]
    portal: Callable[[str], CustomerPortal]
    takes_cards: bool  # Stripe.js collects cards (a publishable key is configured)


def customer_page(overrides: Overrides = Overrides()) -> CustomerPageDeps:
    aws = Aws.from_env(overrides)
    # With Stripe configured the payment step is a SetupIntent confirmed by Stripe.js in the browser.
    cards = aws.cards if aws.settings.stripe_publishable_key else None

    def portal(base_url: str) -> CustomerPortal:
        from .service.customer_portal import CustomerPortal

        links = aws.approval_links(base_url)
        return CustomerPortal(
            aws.use_cases(links),
            links,
            aws.merchants.merchant_name,
            cards=cards,
        )

    return CustomerPageDeps(aws.settings, aws.clock, aws.repository, aws.signing_key, portal, cards is not None)


@dataclass(frozen=True)
class DashboardDeps:
    """The merchant dashboard's: sessions (the pool's tokens verified against its keys, cached for
    the process), the merchant's users (the pool's admin API, built on first use), the figures
    the overview reads (a bounded number of the figures' items, never the merchant's objects)."""

    settings: Settings
    clock: Clock
    signing_key: Callable[[], bytes]  # CSRF tokens (the deployment's link-signing key, its own purpose)
    sessions: DashboardSessions
    users: Callable[[], DashboardUsers]
    client_id: Callable[[], str]  # the app client's id (managed login's authorize URL)
    managed_login_url: str  # empty: no managed login (the local runtime)
    password_sign_in: bool  # the e-mail + password form (the local runtime)
    figures: Callable[[], FigureKeeper]  # the overview's figures (`FigureKeeper.overview`), built on first use
    # The merchant's objects and actions: the API's use cases (links under the URL the request came
    # in on: a pending mandate's approval link is the one the API returns).
    use_cases: Callable[[Links], UseCases]
    approval_links: Callable[[str], ApprovalLinks]
    # Creation forms sent twice make one object: the API's idempotency (built on the first such POST).
    idempotency: Callable[[], Idempotency]


def dashboard(overrides: Overrides = Overrides()) -> DashboardDeps:
    from functools import cache

    from .adapters.cognito import CognitoCodeExchange, CognitoPasswordSignIn, CognitoTokenVerifier, CognitoUserPool
    from .adapters.dynamodb.dashboard_members import DynamoDashboardMembers
    from .service.dashboard import DashboardSessions, DashboardUsers

    aws = Aws.from_env(overrides)
    settings = aws.settings
    client_id: Callable[[], str] = lambda: settings.dashboard_client_id  # noqa: E731
    if not settings.dashboard_client_id and settings.dashboard_client_id_parameter:
        from .adapters.secrets import secret_reader

        client_id = secret_reader(settings.dashboard_client_id_parameter)  # read on first use, cached
    verifier = CognitoTokenVerifier(settings.region, settings.dashboard_user_pool_id, client_id)
    cognito = cache(lambda: aws.client("cognito-idp"))
    password = CognitoPasswordSignIn(cognito(), client_id) if settings.dashboard_password_sign_in else None
    managed = settings.dashboard_login_url
    exchange = CognitoCodeExchange(managed, client_id) if managed else None

    members = DynamoDashboardMembers(aws.dynamodb, settings.table_name)

    @cache
    def users() -> DashboardUsers:
        return DashboardUsers(CognitoUserPool(cognito(), settings.dashboard_user_pool_id), members, aws.clock)

    @cache
    def figures() -> FigureKeeper:
        from .service.figures import FigureKeeper

        return FigureKeeper(aws.repository, aws.figure_store)

    sessions = DashboardSessions(verifier, members, password, exchange)
    return DashboardDeps(
        settings,
        aws.clock,
        aws.signing_key,
        sessions,
        users,
        client_id,
        managed,
        password is not None,
        figures,
        aws.use_cases,
        aws.approval_links,
        lambda: aws.idempotency,
    )


@dataclass(frozen=True)
class DispatcherDeps:
    dispatcher: Dispatcher


def dispatcher(overrides: Overrides = Overrides()) -> DispatcherDeps:
    aws = Aws.from_env(overrides)
    return DispatcherDeps(build_dispatcher(aws.settings, aws.repository, aws.gateway_queue, aws.ids, aws.notification_queue))


@dataclass(frozen=True)
class ChargerDeps:
    charger: Charger
    gateways: dict[str, PaymentGateway]


def charger(overrides: Overrides = Overrides()) -> ChargerDeps:
    aws = Aws.from_env(overrides)
    return ChargerDeps(build_charger(aws.repository, aws.gateways, aws.clock, aws.ids), aws.gateways)


@dataclass(frozen=True)
class ReconciliationDeps:
    reconciliations: Reconciliations  # one merchant's day
    planner: Callable[[], ReconciliationPlanner]  # the day's fan-out (built when the schedule fires)


def build_ledgers(gateways: Mapping[str, object]) -> list[GatewayLedger]:
    """What each configured gateway reports as money moved (reconciliation)."""
    from .adapters.simulated_gateway import SimulatedGateway, SimulatedLedger
    from .adapters.stripe import StripeGateway
    from .adapters.stripe_ledger import StripeLedger

    ledgers: list[GatewayLedger] = []
    for gateway in gateways.values():
        if isinstance(gateway, SimulatedGateway):
            ledgers.append(SimulatedLedger(gateway))
        elif isinstance(gateway, StripeGateway):
            ledgers.append(StripeLedger(gateway))
    return ledgers


def reconciliation(overrides: Overrides = Overrides()) -> ReconciliationDeps:
    """The daily reconciliation: the schedule's fan-out over merchants, the queue's worker."""
    from .service.reconciliations import ReconciliationPlanner, Reconciliations

    aws = Aws.from_env(overrides)

    def planner() -> ReconciliationPlanner:
        from .adapters.merchants import MerchantStore
        from .adapters.sqs import SqsReconcileQueue

        merchants = MerchantStore(aws.dynamodb, aws.settings.table_name)
        return ReconciliationPlanner(merchants, SqsReconcileQueue(aws.sqs, aws.settings.reconcile_queue_url))

    reconciliations = Reconciliations(aws.repository, build_ledgers(aws.gateways), aws.clock, aws.ids)
    return ReconciliationDeps(reconciliations, planner)


@dataclass(frozen=True)
class SimulatedGatewayClockDeps:
    clock: SimulatedGatewayClock  # reports the simulated gateway's changes that fell due
    queue: GatewayEventQueue  # where its events go


def simulated_gateway_clock(overrides: Overrides = Overrides()) -> SimulatedGatewayClockDeps:
    """The simulated gateway's clock (deployed only where the simulated gateway is allowed)."""
    from .adapters.simulated_gateway import SimulatedGateway
    from .service.simulated_clock import SimulatedGatewayClock

    aws = Aws.from_env(overrides)
    gateway = SimulatedGateway(aws.dynamodb, aws.settings.gateway_ledger_table_name, aws.clock)
    # Reported the way Stripe's events are: onto the gateway-events queue, applied by its applier.
    queue: GatewayEventQueue = aws.gateway_event_queue
    return SimulatedGatewayClockDeps(SimulatedGatewayClock(gateway, queue), queue)


@dataclass(frozen=True)
class EventPublisherDeps:
    relay: EventRelay  # the topic, the replay queue, the receipt queue (if any)


def event_publisher(overrides: Overrides = Overrides()) -> EventPublisherDeps:
    from .service.event_publishing import EventRelay

    aws = Aws.from_env(overrides)
    receipts = aws.receipt_requests if aws.settings.receipt_queue_url else None
    return EventPublisherDeps(EventRelay(aws.publisher, aws.unpublished_events, receipts))


@dataclass(frozen=True)
class ReceiptsDeps:
    receipts: ReceiptBatches  # numbering, then the receipt e-mails asked for
    numbering: ReceiptNumbering


def receipts(overrides: Overrides = Overrides()) -> ReceiptsDeps:
    from .service.invoices import Invoicing
    from .service.receipts import ReceiptNumbering
    from .service.receipts import ReceiptRequests as ReceiptBatches

    aws = Aws.from_env(overrides)
    numbering = ReceiptNumbering(aws.repository, aws.clock)
    notification_queue = aws.notification_queue if aws.settings.notify_queue_url else None
    # The documents' links in `invoice.issued` / `credit_note.issued`: signed as the customer page's
    # and the e-mails' are, under the deployment's public URL (the key is read when the first is made).
    signs = aws.settings.link_signing_secret_arn or aws.overrides.signing_key is not None
    links = aws.approval_links(aws.settings.public_base_url) if signs else None
    invoicing = Invoicing(aws.repository, aws.clock, aws.ids, numbering, links)
    return ReceiptsDeps(ReceiptBatches(aws.repository, numbering, notification_queue, invoicing), numbering)


@dataclass(frozen=True)
class NotifierDeps:
    notifier: Notifier
    requests: NotificationRequests  # a notification queue batch


def notifier(overrides: Overrides = Overrides()) -> NotifierDeps:
    from .emails.render import JinjaEmails
    from .service.notifications import NotificationRequests, Notifier

    aws = Aws.from_env(overrides)
    # Links in e-mails: the deployment's public URL (there is no request to take it from).
    links = aws.approval_links(aws.settings.public_base_url)
    notifier = Notifier(aws.repository, aws.clock, aws.mailer, links, JinjaEmails(), document_pdf)
    return NotifierDeps(notifier, NotificationRequests(notifier))


@dataclass(frozen=True)
class FiguresDeps:
    keeper: FigureKeeper  # the dashboard's figures, kept from published events (and read by the overview)


def figures(overrides: Overrides = Overrides()) -> FiguresDeps:
    from .service.figures import FigureKeeper

    aws = Aws.from_env(overrides)
    return FiguresDeps(FigureKeeper(aws.repository, aws.figure_store))


@dataclass(frozen=True)
class WebhookFanoutDeps:
    webhook_fan_out: WebhookFanOut


def webhook_fanout(overrides: Overrides = Overrides()) -> WebhookFanoutDeps:
    from .service.webhooks import WebhookFanOut

    aws = Aws.from_env(overrides)
    return WebhookFanoutDeps(WebhookFanOut(aws.repository, aws.clock, aws.webhook_queue))


@dataclass(frozen=True)
class WebhookDeliveryDeps:
    webhook_deliverer: WebhookDeliverer
    webhook_ports: Callable[[], WebhookPorts]  # the local runtime prints each attempt from them


def webhook_delivery(overrides: Overrides = Overrides()) -> WebhookDeliveryDeps:
    from .service.event_recorder import EventRecorder
    from .service.webhooks import WebhookDeliverer
    from .shapes import render_event

    aws = Aws.from_env(overrides)
    ports = aws.webhook_ports
    deliverer = WebhookDeliverer(aws.repository, aws.clock, aws.ids, EventRecorder(aws.ids), ports, render_event)
    return WebhookDeliveryDeps(deliverer, lambda: ports)


@dataclass(frozen=True)
class GatewayEventsDeps:
    """The inbound endpoint's: verify and normalise (per gateway), store, queue."""

    receivers: dict[str, GatewayEventReceiver]  # by the gateway named in the path


def gateway_events(overrides: Overrides = Overrides()) -> GatewayEventsDeps:
    from .adapters.secrets import secret_reader
    from .adapters.stripe_events import StripeInboundEvents
    from .service.gateway_inbox import GatewayEventReceiver

    aws = Aws.from_env(overrides)
    # Read per request through the five-minute cache: a rotated secret is in use within minutes.
    secrets = secret_reader(aws.settings.stripe_webhook_secret_arn) if aws.settings.stripe_webhook_secret_arn else lambda: ""
    stripe = GatewayEventReceiver(StripeInboundEvents(secrets), aws.gateway_event_log, aws.gateway_event_queue, aws.clock)
    return GatewayEventsDeps({"stripe": stripe})


@dataclass(frozen=True)
class GatewayEventApplierDeps:
    applier: GatewayEventApplier


def gateway_event_applier(overrides: Overrides = Overrides()) -> GatewayEventApplierDeps:
    from .service.gateway_events import GatewayEvents
    from .service.gateway_inbox import GatewayEventApplier
    from .service.ports import GatewayObjects

    aws = Aws.from_env(overrides)
    objects: dict[str, GatewayObjects] = {}
    if aws.stripe_gateway is not None:
        from .adapters.stripe_events import StripeObjects

        objects["stripe"] = StripeObjects(aws.stripe_gateway)
    events = GatewayEvents(aws.repository, aws.clock, aws.ids)
    return GatewayEventApplierDeps(GatewayEventApplier(events, aws.gateway_event_log, objects, aws.clock))


@dataclass(frozen=True)
class ExporterDeps:
    exporter: Exporter


def exporter(overrides: Overrides = Overrides(), invoices: InvoiceRows | None = None) -> ExporterDeps:
    """The export queue's consumer. `invoices`: the invoices export's rows (default: the stored
    invoices and credit notes, service/invoices)."""
    from .service.event_recorder import EventRecorder
    from .service.exports import Exporter
    from .service.invoices import Invoices

    aws = Aws.from_env(overrides)
    rows: InvoiceRows = invoices if invoices is not None else Invoices(aws.repository)
    return ExporterDeps(Exporter(aws.repository, aws.clock, EventRecorder(aws.ids), aws.export_files, rows))
