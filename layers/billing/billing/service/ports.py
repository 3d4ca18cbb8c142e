"""The ports the service layer needs; adapters implement them (DynamoDB) and tests fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from ..domain.charge import Charge, GatewayResult
from ..domain.model import Entity, Event, Mandate
from ..domain.money import Money
from ..domain.payment_methods import PaymentMethodType
from .messages import AttemptMessage, ExportMessage, NotificationMessage, ReceiptRequest, RefundMessage

if TYPE_CHECKING:  # annotations only: functions that never touch webhooks do not load them (cold start)
    from ..domain import dashboard_users, webhooks
    from ..domain.account import Account
    from ..domain.exports import InvoiceRow
    from ..domain.invoices import Invoice
    from ..domain.receipts import ReceiptCounter
    from .customer_portal import ReceiptView
    from .gateway_events import GatewayEvent

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)
E = TypeVar("E", bound=Entity)


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True)
class Limit:
    """A per-merchant count kept with the write that changes it (`delta`), refused with
    `InvalidState(message)` when it would pass `maximum`: concurrent creations cannot pass it."""

    merchant_id: str
    name: str
    delta: int
    maximum: int | None = None
    message: str = ""
    # What the count is if it was never written (counted from the list, for data older than the
    # count): the count starts there instead of 0.
    initial: int = 0


@dataclass
class Changes:
    """One atomic write: new or updated aggregates (`put`, each checked by its version; any kind
    the registry declares), the events they caused (written once) and the counts they move.

    One generic list rather than a field per kind: a new aggregate is a registry entry, not a
    new field to keep in step in the port, the DynamoDB writer and the fake."""

    put: list[Entity] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)

    def of(self, model: type[E]) -> list[E]:
        """The aggregates of one class in `put`, in order."""
        return [obj for obj in self.put if isinstance(obj, model)]


class Loaded:
    """What `Repository.load_many` found: per class, by id (ids of other merchants, malformed or
    missing ones are absent), in the order asked."""

    def __init__(self, found: Mapping[type, dict[str, Any]] | None = None) -> None:
        self._found = dict(found or {})

    def of(self, model: type[S]) -> dict[str, S]:
        found: dict[str, S] = self._found.get(model, {})
        return found


@dataclass(frozen=True)
class DueRef:
    """One entry of the due index: a mandate or a refund the engine must look at, and since when."""

    merchant_id: str
    object_id: str  # mdt_… or rfd_…
    due_at: datetime


class Repository(Protocol):
    """Every aggregate the registry declares (`service/registry.py`), by its class:
    `get(Mandate, merchant_id, mandate_id) -> Mandate | None`."""

    def get(self, model: type[S], merchant_id: str, object_id: str) -> S | None:
        """One object of the merchant by id (one kept per merchant: its id is the merchant's),
        or None (an id without the kind's prefix is never looked up). Deleted webhook
        endpoints too (they say so). The account: its defaults while never changed; None: no
        such merchant."""

    def page(self, model: type[S], merchant_id: str, page: PageRequest, **filters: str | None) -> Page[S]:
        """A page of the merchant's objects, newest first, matching every filter given (those
        the registry declares for the kind; None: any). A filtered page may hold fewer than asked
        for, with `has_more` and a cursor (bounded lists)."""

    def load_many(self, wanted: Mapping[type, Sequence[tuple[str, str]]]) -> Loaded:
        """Many (merchant_id, id) of one or more kinds at once (one BatchGetItem per 100)."""

    def created_between(
        self, model: type[S], merchant_id: str, start: datetime, end: datetime, page_size: int = 100
    ) -> Iterator[list[S]]:
        """The merchant's objects of a listed kind created in [start, end), oldest first, in pages
        of at most `page_size` (eventually consistent: what an export reads). Lazy: a page is read
        when the previous one has been consumed, so a caller holds one page at a time."""

    def events_between(
        self, merchant_id: str, start: datetime, end: datetime, types: Sequence[str], page_size: int = 100
    ) -> Iterator[list[Event]]:
        """The merchant's events of any of `types` created in [start, end), oldest first, in pages
        of at most `page_size`: one key-range read of the events' list (every type at once), the
        other types filtered out inside the index, never loaded. Lazy, like `created_between`."""

    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        """Entries of the due index at or before `now`, at most `per_shard` from each shard, oldest first."""

    def commit(self, changes: Changes) -> None:
        """Write everything or nothing. Raises ConcurrentModification when a version moved."""

    def load_receipt_series(self, merchant_ids: list[str]) -> dict[str, tuple[ReceiptCounter | None, Account | None]]:
        """Each merchant's receipt counter and account (as `get_account`), in one batch read."""

    def number_charges(self, counter: ReceiptCounter, numbers: list[tuple[str, str, int]]) -> None:
        """Give each (charge id, receipt number, n) of the counter's merchant its number, with the
        counter (on its version), in one transaction, without reading the charges: each charge on
        condition that it exists, succeeded and has no number yet (its version moves, so a writer
        holding an older copy conflicts). Raises ConcurrentModification when any condition fails
        (nothing is written); bumps the counter's version otherwise."""

    def limit_counts(self, merchant_ids: list[str], name: str) -> dict[str, int | None]:
        """Each merchant's count `name` (see `Limit`), in one batch read; None for a count never
        written (data older than the count: count the list instead)."""

    def start_limit(self, merchant_id: str, name: str, value: int) -> None:
        """Write the count `name` as `value` only if it was never written (counted from the list
        by the caller; a `Limit` written meanwhile wins)."""

    def start_attempt(self, mandate: Mandate) -> None:
        """Write the mandate's start marker (`attempt_started_at`) on condition that the stored
        mandate is still at `mandate.version`; bump the version. Raises ConcurrentModification
        otherwise (a stop or another change came first: the attempt must not start blindly)."""


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str: ...

    def secret(self) -> str:
        """256 random bits, URL-safe (an API key's secret)."""


class Links(Protocol):
    def approval_url(self, mandate: Mandate) -> str | None: ...

    def receipt_url(self, charge: Charge) -> str | None: ...

    def invoice_url(self, invoice: Invoice) -> str | None:
        """An invoice's link is its charge's receipt link; a credit note has its own."""


# ----------------------------------------------------------------- billing engine


class NotificationQueue(Protocol):
    """The notification queue (deployed as NotifyQueue): e-mails to consider, on their way to the notifier."""

    def send(self, messages: Sequence[NotificationMessage]) -> None:
        """Hand e-mails to consider to the notifier; raises unless every one was accepted."""


class GatewayQueue(Protocol):
    """The gateway queue (deployed as ChargeQueue): charge attempts and refunds on their way to the charger."""

    def send(self, messages: list[AttemptMessage | RefundMessage]) -> int:
        """Send gateway messages; returns how many were accepted (the rest are re-sent when their lease ends)."""


@dataclass(frozen=True)
class AttemptRequest:
    """One attempt at the gateway. `idempotency_key` is per (charge, attempt)."""

    idempotency_key: str
    money: Money
    token: str
    merchant_id: str
    mandate_id: str
    charge_id: str
    attempt: int
    method_type: PaymentMethodType = "card"  # a bank debit is charged as one (Stripe: sepa_debit + its mandate)


@dataclass(frozen=True)
class RefundRequest:
    """One refund at the gateway. `idempotency_key` derives from the refund id alone."""

    idempotency_key: str
    money: Money
    token: str  # the payment method the charge was paid with
    charge_reference: str | None  # the gateway's reference of the payment refunded
    reason: str
    merchant_id: str
    mandate_id: str
    charge_id: str
    refund_id: str


class GatewayEventQueue(Protocol):
    """The gateway-events queue: normalised gateway reports on their way to be applied (GatewayEvents)."""

    def send_events(self, events: list[GatewayEvent]) -> int:
        """Queue them; returns how many were accepted (a caller re-sends the rest, or answers 5xx)."""


class GatewayEventLog(Protocol):
    """The inbound gateway events received (normalised), by gateway and event id: whether each was
    applied. A received event is stored before it is queued; a duplicate is queued again only while
    it is still unapplied (the queueing failed, or it is on its way)."""

    def record(self, event: GatewayEvent, now: datetime) -> bool:
        """Store it unless already stored; returns whether it was already applied (a duplicate)."""

    def applied(self, gateway: str, event_id: str) -> bool: ...

    def mark_applied(self, gateway: str, event_id: str, now: datetime) -> None: ...


class RejectedGatewayEvent(Exception):
    """An inbound request that is not a verified gateway event (unsigned, forged, stale, malformed).
    The message says which, never the payload or the secret."""


class InboundEvents(Protocol):
    """A gateway's inbound events: verified (signature, age) and normalised, or None for a type
    this service does not handle (acknowledged and ignored)."""

    def read(self, payload: bytes, signature: str | None) -> GatewayEvent | None:
        """Raises RejectedGatewayEvent for anything not verified."""


@dataclass(frozen=True)
class GatewayOwner:
    """Whose object a gateway object is, from its metadata: the merchant and our charge (a
    PaymentIntent) or our mandate (a payment method's customer)."""

    merchant_id: str
    charge_id: str | None = None
    mandate_id: str | None = None
    # More mandates of the same merchant using the same payment method (a report about the method
    # is applied to each).
    other_mandate_ids: tuple[str, ...] = ()

    @property
    def mandate_ids(self) -> list[str]:
        """Every mandate named, once each, `mandate_id` first."""
        return list(dict.fromkeys(m for m in (self.mandate_id, *self.other_mandate_ids) if m))


class GatewayObjects(Protocol):
    """Reads at the gateway, for reports that do not carry our ids (a dispute names only its
    PaymentIntent; an updated card only its payment method), or not the detail needed (a failed
    bank debit's reason, on its charge at the gateway)."""

    def owner_of(self, reference: str) -> GatewayOwner | None:
        """None when the object is unknown, not this deployment's, or carries no such metadata."""

    def failure_code(self, reference: str) -> str | None:
        """The contract's decline code of a failed payment at the gateway (its own reason, e.g. the
        bank's for a SEPA debit), or None when it gives none beyond a generic decline.
        Raises GatewayUnavailable."""


class GatewayTimeout(Exception):
    """The outcome is unknown (the money may have been taken): ask again with the same key."""


class GatewayUnavailable(Exception):
    """The gateway did nothing (rate limited, credentials refused, busy): try again later, same key."""


class PaymentGateway(Protocol):
    @property
    def key_memory(self) -> timedelta | None:
        """How long the gateway remembers an idempotency key (None: for ever). After that a request
        with the same key would be a new payment, so an unknown outcome is only looked up."""

    @property
    def call_timeout(self) -> float:
        """The longest one call may take (its client timeout): the charger starts an attempt only
        when its invocation has that much time left."""

    def charge(self, request: AttemptRequest) -> GatewayResult:
        """Charge once per idempotency key; the same key always answers the same result.
        A request the gateway refuses outright answers `REJECTED` (a hard failure)."""

    def lookup(self, request: AttemptRequest) -> GatewayResult | None:
        """Read-only: what the gateway did for this (charge, attempt), found by its reference
        (not by the key), or None when it has no such payment. Raises GatewayTimeout or
        GatewayUnavailable when it cannot tell."""

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Give money back once per idempotency key (the same key answers the same result);
        `declined` with a code when the gateway refuses it. Raises like `charge`."""

    def lookup_refund(self, request: RefundRequest) -> GatewayResult | None:
        """Read-only: this refund at the gateway (by the refund id it carries), or None."""


@dataclass(frozen=True)
class MethodDetails:
    """What the gateway says about a stored payment method: its type, the last four digits of the
    card or IBAN, and (bank debits) the mandate reference the gateway holds."""

    type: PaymentMethodType
    last4: str | None = None
    mandate_reference: str | None = None


class CardSetup(Protocol):
    """Cards and bank accounts at the gateway (Stripe): the customer page's SetupIntents (Stripe.js
    collects the card or IBAN in the browser), whether a payment method belongs to a customer of a
    merchant there, and what kind of method a token is."""

    def create_setup_intent(
        self,
        merchant_id: str,
        mandate_id: str,
        email: str | None,
        name: str | None,
        purpose: str = "",
        method_type: PaymentMethodType = "card",
    ) -> dict[str, str]:
        """`id`, `client_secret` and `customer` of an off-session SetupIntent for one mandate (a card,
        or a SEPA debit mandate), idempotent per mandate, `purpose` and type. Raises GatewayUnavailable."""

    def describe(self, token: str) -> MethodDetails:
        """The type, last four digits and mandate reference of a payment method at the gateway.
        Raises GatewayUnavailable."""

    def confirmed_payment_method(self, setup_intent_id: str, mandate_id: str) -> str | None:
        """The gateway's token of the card confirmed by this mandate's SetupIntent, or None."""

    def belongs_to(self, merchant_id: str, token: str) -> bool:
        """Whether the token is a payment method of one of the merchant's customers at the gateway."""

    def record_use(self, merchant_id: str, mandate_id: str, token: str) -> None:
        """Record at the gateway that this mandate uses the payment method (so what the gateway
        reports about the method alone reaches the mandate). Idempotent; raises GatewayUnavailable."""


# ----------------------------------------------------------------- e-mails


class MailRefused(Exception):
    """The mail service refused this message for good (a bad or suppressed address): not sent."""


class MailDeferred(Exception):
    """The mail service did not take this message now (throttled, busy): surely not sent; try later."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail (an invoice's or credit note's PDF)."""

    filename: str
    content_type: str  # "application/pdf"
    data: bytes


class Mailer(Protocol):
    def send(
        self,
        to: str,
        reply_to: str | None,
        subject: str,
        text: str,
        html: str,
        tags: dict[str, str],
        attachments: Sequence[Attachment] = (),
    ) -> str:
        """Hand one e-mail to the mail service; its message id. Raises MailRefused for good, or
        anything else when the service could not be reached (the message may be retried)."""


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()


class DocumentPdf(Protocol):
    """An invoice's or credit note's PDF as its link serves it (`?format=pdf`: Factur-X, its XML
    attached), in a language (the composition root gives the customer page's renderer)."""

    def __call__(self, view: ReceiptView, lang: str, /) -> bytes: ...


@dataclass(frozen=True)
class EmailFacts:
    """Everything an e-mail may say, as values (the renderer writes amounts and dates for `lang`)."""

    kind: str
    lang: str
    merchant: str
    page_url: str
    currency: str
    support_email: str | None = None
    amount: int | None = None  # minor units
    interval: str = ""
    interval_count: int = 1
    date: datetime | None = None
    method: str = ""
    number: str = ""
    decline_code: str | None = None
    retry_date: datetime | None = None  # the next attempt's, or None when none is left
    receipt_url: str = ""
    ended_as: str = ""  # cancelled, revoked or completed
    mandate_reference: str = ""  # a bank debit's SEPA mandate reference (pre-notifications name it)
    reversed: bool = False  # payment_failed: a payment taken, then returned by the customer's bank
    corrects: str = ""  # credit_note: the number of the invoice it corrects
    # receipt, credit_note: the document the e-mail carries ("invoice", "vat_invoice" or
    # "credit_note"; "" before invoices: a receipt), and whether its PDF is attached.
    document: str = ""
    attached: bool = False


class EmailRenderer(Protocol):
    def render(self, facts: EmailFacts) -> Email:
        """Subject, plain text and HTML in the facts' language (`billing.emails` implements it)."""


# ----------------------------------------------------------------- the handlers' own adapters


class MerchantKeys(Protocol):
    """Merchants by API key (the authorizer) and their names (the customer page)."""

    def merchant_for_key(self, api_key: str, now: datetime) -> str | None:
        """The merchant a usable key belongs to, or None (unknown, revoked or expired)."""

    def merchant_name(self, merchant_id: str) -> str | None: ...


class Idempotency(Protocol):
    def run(
        self, request: dict[str, Any], action: Callable[[], dict[str, Any]], lambda_context: object
    ) -> tuple[dict[str, Any], bool]:
        """`action`'s result, run once per request key (raises IdempotencyConflict for a key reused
        with another request or still in flight); and whether it is a replay of a stored result."""


class EventPublisher(Protocol):
    def publish(self, events: list[tuple[str, Event]]) -> set[str]:
        """Publish (id, event) pairs; returns the ids that failed."""


class UnpublishedEventsLog(Protocol):
    def leave(self, keys: list[tuple[str, str]]) -> None:
        """Keep (merchant id, event id) pairs for a replay (`make redrive QUEUE=events`)."""


class ReceiptRequestQueue(Protocol):
    def send(self, requests: Sequence[ReceiptRequest]) -> set[int]:
        """Charges to number (the receipt queue); the indexes of the requests not taken (to be retried)."""


MAX_DELAY_SECONDS = 900  # the longest a wake-up can be put off by a delayed message (SQS's limit)


# ----------------------------------------------------------------- webhooks


class SecretBox(Protocol):
    """Encrypts endpoint secrets at rest (KMS on AWS), bound to their merchant and endpoint."""

    def seal(self, secret: str, merchant_id: str, endpoint_id: str) -> str: ...

    def open(self, sealed: str, merchant_id: str, endpoint_id: str) -> str: ...


class DestinationCheck(Protocol):
    def blocked(self, url: str) -> bool:
        """True when the URL's host resolves to an address an attempt may not connect to."""


@dataclass(frozen=True)
class SendResult:
    response_status: int | None
    error: webhooks.AttemptError | None
    duration_ms: int


class WebhookSender(Protocol):
    def post(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        """One POST, no redirects, to a checked public address only (`blocked_destination` otherwise)."""


class WebhookQueue(Protocol):
    def wake(self, refs: Sequence[tuple[str, str]]) -> None:
        """Ask for an attempt of each (merchant id, delivery id) as soon as possible."""

    def later(self, ref: tuple[str, str], seconds: int, receipt_handle: str) -> bool:
        """Wake the delivery again in `seconds` (the received message: `receipt_handle`); True
        when the received message is done with (a new one was sent), False when it is to come
        back itself (hidden for the wait, as long as the queue allows)."""


class EndpointSlots(Protocol):
    """At most `webhooks.MAX_CONCURRENT_PER_ENDPOINT` attempts at once per endpoint."""

    def acquire(self, merchant_id: str, endpoint_id: str, holder: str, now: datetime, until: datetime) -> bool: ...

    def release(self, merchant_id: str, endpoint_id: str, holder: str) -> None: ...


@dataclass(frozen=True)
class WebhookPorts:
    """What webhooks need from the outside, built by the composition root on first use."""

    box: SecretBox
    destinations: DestinationCheck
    queue: WebhookQueue
    slots: EndpointSlots
    sender: WebhookSender
    random_bytes: Callable[[int], bytes]
    wall_clock: Callable[[], float]
    allow_loopback_http: bool = False


# ----------------------------------------------------------------------------- exports


class ExportQueue(Protocol):
    def send(self, message: ExportMessage) -> None:
        """Queue one export to build (raises when the queue did not take it)."""


class ExportFiles(Protocol):
    """Where export files go (S3): written while they are produced, read through expiring links."""

    def write(self, key: str, chunks: Iterable[bytes], content_type: str, filename: str) -> None:
        """Store `chunks` under `key` as they come (a multipart upload: never the whole file in
        memory), replacing what was there; raises when the store refused (nothing is left under a
        half-written key: an unfinished multipart upload is aborted)."""

    def link(self, key: str, seconds: int) -> str:
        """A link that downloads the file without credentials for `seconds`."""


class InvoiceRows(Protocol):
    """Issued invoices and credit notes as the invoices export shows them: one row per document
    and tax rate, oldest first (the invoices feature implements it; `NoInvoices` until then)."""

    def issued_between(self, merchant_id: str, start: datetime, end: datetime) -> Iterator[list[InvoiceRow]]: ...


class NoInvoices:
    """No invoices stored: an invoices export holds its header only."""

    def issued_between(self, merchant_id: str, start: datetime, end: datetime) -> Iterator[list[InvoiceRow]]:
        return iter(())


# ----------------------------------------------------------------------------- the merchant's dashboard


class InvalidToken(Exception):
    """A token the pool did not sign for this dashboard, or no longer valid (forged, expired,
    another pool's or client's, not an ID token, unknown key)."""


class SignInRefused(Exception):
    """The pool refused the e-mail and password (or asks for a step this form does not do)."""


class NewPasswordRequired(SignInRefused):
    """The user signed in with the invitation's temporary password: they choose their own first
    (`session` carries the pool's challenge to answer)."""

    def __init__(self, session: str) -> None:
        super().__init__("NEW_PASSWORD_REQUIRED")
        self.session = session


class TokenVerifier(Protocol):
    """Checks a pool's ID token: signature against the pool's published keys, issuer, audience
    (the dashboard's app client), `token_use` and expiry. Returns its claims or raises InvalidToken."""

    def verify(self, token: str) -> dict[str, object]: ...


class PasswordSignIn(Protocol):
    """Signs in with e-mail and password at the pool (the local form: InitiateAuth); returns the
    ID token or raises SignInRefused (NewPasswordRequired for an invitation's temporary password)."""

    def sign_in(self, email: str, password: str) -> str: ...

    def choose_password(self, email: str, session: str, new_password: str) -> str:
        """Answer the NEW_PASSWORD_REQUIRED challenge; returns the ID token or raises SignInRefused
        (a password the pool's policy refuses, a challenge expired)."""


class UserPool(Protocol):
    """The pool's side of a merchant's users (Cognito's admin API)."""

    def create_user(self, email: str, merchant_id: str, role: str, password: str | None = None) -> str:
        """Create the user with their merchant and role; the pool e-mails an invitation with a
        temporary password, or with `password` the user can sign in with it at once (the local
        runtime's owner). Returns the user's id (`sub`); raises InvalidState if the e-mail is taken."""

    def delete_user(self, user_id: str) -> None:
        """Sign the user out everywhere and delete them (gone already: nothing to do)."""

    def user(self, username: str) -> dashboard_users.PoolUser | None:
        """The pool's user by their e-mail address or id (`sub`), or None when there is none (or
        they name no merchant)."""

    def set_role(self, user_id: str, role: str) -> None:
        """The user's `custom:role` attribute (what their next token says; the merchant's
        directory is what counts: `DashboardSessions.user`)."""

    def sign_out(self, user_id: str) -> None:
        """End the user's refresh tokens everywhere (gone already: nothing to do). By their id
        (`sub`), never a token's e-mail claim."""


class DashboardMembers(Protocol):
    """The merchant's directory of dashboard users (their merchant is part of every key)."""

    def list(self, merchant_id: str) -> list[dashboard_users.Member]: ...

    def get(self, merchant_id: str, user_id: str) -> dashboard_users.Member | None: ...

    def put(self, merchant_id: str, member: dashboard_users.Member) -> None: ...

    def delete(self, merchant_id: str, user_id: str) -> None: ...

    def add(self, merchant_id: str, member: dashboard_users.Member, owners: tuple[str, ...]) -> None:
        """Write a new user's row in one conditional write: no row of that id yet, and each of
        `owners` (the inviting owner) still an owner of the merchant's; raises MembersChanged
        (409) otherwise: nothing is written."""

    def change(self, merchant_id: str, user_id: str, role: dashboard_users.Role | None, owners: tuple[str, ...]) -> None:
        """Remove the user (`role` None) or give them `role`, in one conditional write that also
        checks each of `owners` is still an owner of the merchant's; raises MembersChanged (409)
        when the user or one of those owners is gone (or no longer an owner): nothing is written."""

    def signed_out(self, merchant_id: str, user_id: str, at: datetime) -> None:
        """Write the user's sign-out time on their row (a removed user: nothing to do)."""


class CodeExchange(Protocol):
    """Managed login's authorization code, exchanged at the pool's token endpoint with the PKCE
    verifier; returns the ID token or raises SignInRefused."""

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str: ...
