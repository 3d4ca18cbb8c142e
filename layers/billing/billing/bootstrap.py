"""The composition root: the one place that builds the object graph.

`Billing` wires the services (merchant API, dispatcher, charger) from their ports; `AwsBilling`
adds the AWS adapters built from `Settings` (boto3 only through `adapters/`) and what only
handlers need (the event publisher, the API key store, the Stripe client). Handlers call
`build()` once, at import. Tests and the local runtime do not reassign anything in a handler:
they `configure()` what differs (the clock, settings) before a handler is
loaded, or build a `Billing` on in-memory fakes directly (`tests/world.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .service.ports import ChargeQueue, Clock, IdGenerator, Links, Mailer, NotifyQueue, PaymentGateway, Render, Repository
from .settings import Settings

if TYPE_CHECKING:  # imported where first used: each function loads only what it runs (cold start)
    from .domain.model import PaymentMethod
    from .service.charger import Charger
    from .service.dispatcher import Dispatcher
    from .service.event_publishing import EventRelay
    from .service.links import ApprovalLinks
    from .service.notifications import Notifier, NotifyRequests
    from .service.receipts import ReceiptNumbering, ReceiptRequests
    from .service.use_cases import UseCases
    from .service.webhooks import WebhookDeliverer, WebhookFanOut, WebhookPorts


def render_for_api(obj: Any, link: str | None = None) -> dict[str, object]:
    """Objects as the API shows them (the HTTP contract's rendering), for event snapshots."""
    from .api.responses import render

    return render(obj, link)


class Billing:
    """The services of one process, built from its adapters."""

    def __init__(
        self,
        settings: Settings,
        *,
        repository: Repository,
        clock: Clock,
        ids: IdGenerator,
        gateways: dict[str, PaymentGateway],
        queue: ChargeQueue | None = None,
        notify_queue: NotifyQueue | None = None,
        dispatcher_workers: int = 16,
        render: Render = render_for_api,
        webhook_ports: Callable[[], WebhookPorts] | None = None,
    ) -> None:
        """`render`: objects as the API shows them (the HTTP contract's), for event snapshots;
        `webhook_ports`: the webhook adapters, built on first use; `notify_queue`: e-mails to
        consider (the dispatcher's notices, the receipts function's receipts)."""
        self.settings, self.repository, self.clock, self.ids = settings, repository, clock, ids
        self._gateways, self.queue, self.dispatcher_workers, self.render = gateways, queue, dispatcher_workers, render
        self._webhook_ports = webhook_ports
        self._notify_queue = notify_queue

    def webhook_ports(self) -> WebhookPorts:
        assert self._webhook_ports is not None, "this process has no webhook adapters"
        return self._webhook_ports()

    @property
    def gateways(self) -> dict[str, PaymentGateway]:
        return self._gateways

    def use_cases(self, links: Links) -> UseCases:
        """Per request: approval links depend on the URL the request came in on."""
        from .service.use_cases import UseCases

        return UseCases(
            self.repository,
            self.clock,
            self.ids,
            links,
            self.render,
            self.settings.gateways,
            self.owns_payment_method,
            self.webhook_ports,
        )

    def owns_payment_method(self, merchant_id: str, method: PaymentMethod) -> bool:
        """Whether the gateway holds this payment method for this merchant (checked on the API's
        way in; the simulated gateway's tokens belong to everyone)."""
        return True

    def charge_queue(self) -> ChargeQueue:
        assert self.queue is not None, "the dispatcher needs the charge queue"
        return self.queue

    @cached_property
    def dispatcher(self) -> Dispatcher:
        from .service.dispatcher import Dispatcher

        return Dispatcher(
            self.repository,
            self.charge_queue(),
            self.ids,
            self.notify_queue,
            lease=timedelta(seconds=self.settings.claim_lease_seconds),
            max_per_run=self.settings.max_dispatch_per_run,
            workers=self.dispatcher_workers,
            render=self.render,
        )

    @cached_property
    def charger(self) -> Charger:
        from .service.charger import Charger

        # A payment method whose gateway is missing here is rejected (gateway_rejected), never retried for ever.
        return Charger(self.repository, self.gateways, self.clock, self.ids, render=self.render)

    @cached_property
    def notifier(self) -> Notifier:
        from .service.notifications import Notifier

        return Notifier(self.repository, self.clock, self.mailer, self.customer_links)

    @cached_property
    def notify_requests(self) -> NotifyRequests:
        """The notifier function's use case: a notify queue batch."""
        from .service.notifications import NotifyRequests

        return NotifyRequests(self.notifier)

    @property
    def mailer(self) -> Mailer:
        raise NotImplementedError("this process has no mailer")

    @cached_property
    def notify_queue(self) -> NotifyQueue:
        assert self._notify_queue is not None, "this process has no notify queue"
        return self._notify_queue

    @property
    def customer_links(self) -> ApprovalLinks:
        raise NotImplementedError("this process signs no customer links")

    @cached_property
    def receipt_numbering(self) -> ReceiptNumbering:
        from .service.receipts import ReceiptNumbering

        return ReceiptNumbering(self.repository, self.clock)

    @cached_property
    def webhook_fan_out(self) -> WebhookFanOut:
        from .service.webhooks import WebhookFanOut

        return WebhookFanOut(self.repository, self.clock, self.webhook_ports().queue)

    @cached_property
    def webhook_deliverer(self) -> WebhookDeliverer:
        from .service.event_recorder import EventRecorder
        from .service.webhooks import WebhookDeliverer

        return WebhookDeliverer(
            self.repository, self.clock, self.ids, EventRecorder(self.ids, self.render), self.webhook_ports(), render_event
        )


def render_event(event: Any) -> dict[str, object]:
    """An event as `GET /v1/events/{id}` returns it: a webhook's body."""
    from .api.responses import EventOut

    return EventOut.of(event).model_dump(mode="json")


@dataclass(frozen=True)
class Overrides:
    """What a test or the local runtime changes in the graph `build()` makes."""

    clock: Clock | None = None
    settings: Settings | None = None
    mail_observer: Callable[..., None] | None = None  # told of every e-mail sent (the local runtime)


_overrides = Overrides()


def configure(**changes: Any) -> Overrides:
    """Set what the next `build()` uses (for the local runtime and tests); returns the previous."""
    global _overrides
    previous, _overrides = _overrides, replace(_overrides, **changes)
    return previous


@contextmanager
def configured(**changes: Any) -> Iterator[Overrides]:
    previous = configure(**changes)
    try:
        yield _overrides
    finally:
        configure(**previous.__dict__)


class AwsBilling(Billing):
    """`Billing` on AWS, plus the adapters only handlers need (stream publisher, key store)."""

    def __init__(self, settings: Settings, client: Callable[[str], Any], clock: Clock) -> None:
        """`client(service)`: a boto3 client factory (boto3.client: the default session's)."""
        from .adapters.dynamodb.repository import DynamoRepository
        from .adapters.ids import RandomIds

        self.client = client
        self.dynamodb = client("dynamodb")
        super().__init__(
            settings, repository=DynamoRepository(self.dynamodb, settings.table_name), clock=clock, ids=RandomIds(), gateways={}
        )

    @cached_property
    def gateways(self) -> dict[str, PaymentGateway]:
        """Built on first use: only the charger needs them (not the authorizer, API or publisher at cold start)."""
        from .adapters.simulated_gateway import SimulatedGateway

        gateways: dict[str, PaymentGateway] = {}
        if self.settings.allow_simulated_gateway and self.settings.gateway_ledger_table_name:
            gateways["simulated"] = SimulatedGateway(self.dynamodb, self.settings.gateway_ledger_table_name, self.clock)
        if self.stripe is not None:
            gateways["stripe"] = self.stripe
        return gateways

    @cached_property
    def stripe(self) -> Any:
        """The Stripe adapter (None without a secret): charges, and the customer page's SetupIntents."""
        if not self.settings.stripe_secret_name:
            return None
        from .adapters.secrets import secret_reader
        from .adapters.stripe import StripeGateway

        return StripeGateway(secret_reader(self.settings.stripe_secret_name), base_url=self.settings.stripe_api_base)

    def owns_payment_method(self, merchant_id: str, method: PaymentMethod) -> bool:
        if method.gateway == "stripe" and self.stripe is not None:
            return bool(self.stripe.belongs_to(merchant_id, method.token))
        return True

    def charge_queue(self) -> ChargeQueue:
        if self.queue is None:
            from .adapters.sqs import SqsChargeQueue

            self.queue = SqsChargeQueue(self.client("sqs"), self.settings.charge_queue_url)
        return self.queue

    @cached_property
    def merchants(self) -> Any:
        from .adapters.merchants import MerchantStore

        return MerchantStore(self.dynamodb, self.settings.table_name)

    def signing_key(self) -> bytes:
        """The key that signs customer links and forms (Secrets Manager through Powertools
        Parameters, cached five minutes)."""
        from .adapters.secrets import secret_reader

        return secret_reader(self.settings.link_signing_secret_arn)().encode()

    def public_base_url(self, event: Any) -> str:
        """The deployment's public URL if it names one, else the URL an API Gateway request came in on."""
        if self.settings.public_base_url:
            return self.settings.public_base_url.rstrip("/")
        context = event.request_context
        return f"https://{context.domain_name}/{context.stage}"

    def approval_links(self, base_url: str) -> ApprovalLinks:
        """Links to the customer page under `base_url`, signed with the deployment's key."""
        from .service.links import ApprovalLinks

        return ApprovalLinks(self.signing_key, base_url)  # read only when a link is made or checked

    @cached_property
    def unpublished_events(self) -> Any:
        from .adapters.sqs import UnpublishedEvents

        return UnpublishedEvents(self.client("sqs"), self.settings.unpublished_events_queue_url)

    @cached_property
    def webhook_queue(self) -> Any:
        from .adapters.sqs import SqsWebhookQueue

        return SqsWebhookQueue(self.client("sqs"), self.settings.webhook_queue_url)

    def webhook_ports(self) -> WebhookPorts:
        return self._aws_webhook_ports

    @cached_property
    def _aws_webhook_ports(self) -> WebhookPorts:
        import os
        import time

        from .adapters.dynamodb.slots import DynamoEndpointSlots
        from .adapters.kms import KmsSecretBox
        from .adapters.webhook_http import PublicDestinations, UrllibSender
        from .service.webhooks import WebhookPorts

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

        observer = _overrides.mail_observer
        return SesMailer(self.client("sesv2"), self.settings.sender_email, self.settings.ses_configuration_set, observer)

    @cached_property
    def customer_links(self) -> ApprovalLinks:
        """Links in e-mails: the deployment's public URL (there is no request to take it from)."""
        return self.approval_links(self.settings.public_base_url)

    @cached_property
    def notify_queue(self) -> NotifyQueue:
        from .adapters.sqs import SqsNotifyQueue

        return SqsNotifyQueue(self.client("sqs"), self.settings.notify_queue_url)

    @cached_property
    def receipt_requests(self) -> Any:
        from .adapters.sqs import SqsReceiptRequests

        return SqsReceiptRequests(self.client("sqs"), self.settings.receipt_queue_url)

    @cached_property
    def publisher(self) -> Any:
        from .adapters.sns import SnsPublisher

        return SnsPublisher(self.client("sns"), self.settings.events_topic_arn)

    @cached_property
    def event_relay(self) -> EventRelay:
        """The event publisher's use case: the topic, the replay queue, the receipt queue (if any)."""
        from .service.event_publishing import EventRelay

        receipts = self.receipt_requests if self.settings.receipt_queue_url else None
        return EventRelay(self.publisher, self.unpublished_events, receipts)

    @cached_property
    def receipt_batches(self) -> ReceiptRequests:
        """The receipts function's use case: numbering, then the receipt e-mails asked for."""
        from .service.receipts import ReceiptRequests

        notify = self.notify_queue if self.settings.notify_queue_url else None
        return ReceiptRequests(self.repository, self.receipt_numbering, notify)


def build() -> AwsBilling:
    """The graph a handler uses: settings from the environment, AWS clients from boto3's default
    session, the system clock; each as `configure()` overrides it."""
    import boto3

    from .adapters.clock import SystemClock

    settings = _overrides.settings or Settings.from_env()
    return AwsBilling(settings, boto3.client, _overrides.clock or SystemClock())
