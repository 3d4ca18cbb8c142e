"""The ports the service layer needs; adapters implement them (DynamoDB) and tests fake them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from ..domain.api_keys import ApiKey
from ..domain.charge import Charge, GatewayResult
from ..domain.model import Event, Mandate, Plan
from .messages import AttemptMessage, NotifyMessage, RefundMessage

if TYPE_CHECKING:  # annotations only: functions that never touch webhooks do not load them (cold start)
    from ..domain.account import Account
    from ..domain.items import Item
    from ..domain.notifications import Notification, Suppression
    from ..domain.receipts import ReceiptCounter
    from ..domain.refunds import Refund
    from ..domain.webhooks import WebhookDelivery, WebhookEndpoint

T = TypeVar("T")
S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class PageRequest:
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
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
    """One atomic write: new or updated aggregates (checked by version) and the events they caused."""

    plans: list[Plan] = field(default_factory=list)
    mandates: list[Mandate] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    webhook_endpoints: list[WebhookEndpoint] = field(default_factory=list)
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    receipt_counters: list[ReceiptCounter] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    limits: list[Limit] = field(default_factory=list)

    @property
    def aggregates(self) -> list[Any]:
        """Every versioned object written (events and limits are not versioned)."""
        return [
            *self.plans,
            *self.mandates,
            *self.charges,
            *self.api_keys,
            *self.webhook_endpoints,
            *self.webhook_deliveries,
            *self.refunds,
            *self.items,
            *self.accounts,
            *self.receipt_counters,
            *self.notifications,
            *self.suppressions,
        ]


@dataclass(frozen=True)
class DueRef:
    """One entry of the due index: a mandate or a refund the engine must look at, and since when."""

    merchant_id: str
    object_id: str  # mdt_… or rfd_…
    due_at: datetime


class Repository(Protocol):
    def get_plan(self, merchant_id: str, plan_id: str) -> Plan | None: ...

    def get_mandate(self, merchant_id: str, mandate_id: str) -> Mandate | None: ...

    def get_event(self, merchant_id: str, event_id: str) -> Event | None: ...

    def list_plans(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Plan]: ...

    def list_mandates(
        self,
        merchant_id: str,
        page: PageRequest,
        status: str | None = None,
        plan_id: str | None = None,
        customer_reference: str | None = None,
    ) -> Page[Mandate]: ...

    def list_events(self, merchant_id: str, page: PageRequest, type: str | None = None) -> Page[Event]: ...

    def get_charge(self, merchant_id: str, charge_id: str) -> Charge | None: ...

    def list_charges(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, status: str | None = None
    ) -> Page[Charge]: ...

    def get_api_key(self, merchant_id: str, key_id: str) -> ApiKey | None: ...

    def get_account(self, merchant_id: str) -> Account | None:
        """The merchant's account settings (its defaults while never changed); None: no such merchant."""

    def get_notification(self, merchant_id: str, notification_id: str) -> Notification | None: ...

    def get_suppression(self, merchant_id: str, suppression_id: str) -> Suppression | None: ...

    def list_notifications(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, kind: str | None = None
    ) -> Page[Notification]: ...

    def get_receipt_counter(self, merchant_id: str) -> ReceiptCounter | None:
        """The merchant's receipt series (None until its first receipt)."""

    def get_refund(self, merchant_id: str, refund_id: str) -> Refund | None: ...

    def list_refunds(
        self,
        merchant_id: str,
        page: PageRequest,
        charge_id: str | None = None,
        mandate_id: str | None = None,
        status: str | None = None,
    ) -> Page[Refund]: ...

    def get_item(self, merchant_id: str, item_id: str) -> Item | None: ...

    def list_items(
        self, merchant_id: str, page: PageRequest, mandate_id: str | None = None, status: str | None = None
    ) -> Page[Item]: ...

    def load_objects(self, kind: type[S], refs: list[tuple[str, str]]) -> dict[str, S]:
        """Many refunds or items by (merchant_id, id) at once, keyed by id; missing ones are absent."""

    def list_api_keys(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[ApiKey]: ...

    def get_webhook_endpoint(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        """Deleted endpoints too (they say so); lists leave them out."""

    def list_webhook_endpoints(self, merchant_id: str, page: PageRequest) -> Page[WebhookEndpoint]: ...

    def get_webhook_delivery(self, merchant_id: str, delivery_id: str) -> WebhookDelivery | None: ...

    def list_webhook_deliveries(
        self, merchant_id: str, endpoint_id: str, page: PageRequest, status: str | None = None, event_id: str | None = None
    ) -> Page[WebhookDelivery]: ...

    def due(self, now: datetime, per_shard: int) -> list[DueRef]:
        """Entries of the due index at or before `now`, at most `per_shard` from each shard, oldest first."""

    def load(
        self, mandates: list[tuple[str, str]], charges: list[tuple[str, str]]
    ) -> tuple[dict[str, Mandate], dict[str, Charge]]:
        """Many (merchant_id, id) at once, keyed by id; missing ones are absent."""

    def load_events(self, refs: list[tuple[str, str]]) -> list[Event]:
        """Many (merchant_id, event id) at once (ids not ours or not found are absent)."""

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


class Render(Protocol):
    """An object as the API shows it (the HTTP layer's; given to services for event snapshots)."""

    def __call__(
        self, obj: Plan | Mandate | Charge | ApiKey | WebhookEndpoint | Refund | Item | Account, link: str | None = None
    ) -> dict[str, object]: ...


# ----------------------------------------------------------------- billing engine


class NotifyQueue(Protocol):
    def send(self, messages: Sequence[NotifyMessage]) -> None:
        """Hand e-mails to consider to the notifier; raises unless every one was accepted."""


class ChargeQueue(Protocol):
    def send(self, messages: list[AttemptMessage | RefundMessage]) -> int:
        """Send charge messages; returns how many were accepted (the rest are re-sent when their lease ends)."""


@dataclass(frozen=True)
class AttemptRequest:
    """One attempt at the gateway. `idempotency_key` is per (charge, attempt)."""

    idempotency_key: str
    amount: int
    currency: str
    token: str
    merchant_id: str
    mandate_id: str
    charge_id: str
    attempt: int


@dataclass(frozen=True)
class RefundRequest:
    """One refund at the gateway. `idempotency_key` derives from the refund id alone."""

    idempotency_key: str
    amount: int
    currency: str
    token: str  # the payment method the charge was paid with
    charge_reference: str | None  # the gateway's reference of the payment refunded
    reason: str
    merchant_id: str
    mandate_id: str
    charge_id: str
    refund_id: str


class GatewayTimeout(Exception):
    """The outcome is unknown (the money may have been taken): ask again with the same key."""


class GatewayUnavailable(Exception):
    """The gateway did nothing (rate limited, credentials refused, busy): try again later, same key."""


class PaymentGateway(Protocol):
    # How long the gateway remembers an idempotency key (None: for ever). After that a request
    # with the same key would be a new payment, so an unknown outcome is only looked up.
    key_memory: timedelta | None
    # The longest one call may take (its client timeout): the charger starts an attempt only
    # when its invocation has that much time left.
    call_timeout: float

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


# ----------------------------------------------------------------- e-mails


class MailRefused(Exception):
    """The mail service refused this message for good (a bad or suppressed address): not sent."""


class MailDeferred(Exception):
    """The mail service did not take this message now (throttled, busy): surely not sent; try later."""


class Mailer(Protocol):
    def send(self, to: str, reply_to: str | None, subject: str, text: str, html: str, tags: dict[str, str]) -> str:
        """Hand one e-mail to the mail service; its message id. Raises MailRefused for good, or
        anything else when the service could not be reached (the message may be retried)."""
