"""Every queue's messages, one pydantic model each with a `type` discriminator (a Literal),
parsed once at the handler's boundary by the queue's union (`parse_*`):

- gateway queue (deployed as ChargeQueue): `AttemptMessage` ("attempt") and `RefundMessage` ("refund");
- receipt queue (FIFO): `ReceiptRequest` ("receipt_request");
- notification queue (deployed as NotifyQueue): `NotificationMessage` ("email"), published events (`PublishedEvent`, SNS raw: "event")
  and SES's reports (`MailFeedback`, "ses_feedback");
- webhook events queue: `PublishedEvent`; webhook queue: `WakeMessage` ("webhook_wake");
- export queue: `ExportMessage` ("export").
- reconciliation queue: `ReconcileRequest` ("reconcile").

Messages written before the discriminator existed (in flight at deploy time) carry no `type`:
each union recognises them by their keys, as the handlers used to, so they are still taken.
SNS's and SES's shapes are not ours: they are told apart by their own fields (`object`,
`eventType`).

The gateway queue's attempt: one claimed attempt, with the claim's state, validated at both ends.

The dispatcher builds (and so validates) it before the claim is saved: a claim that could not be
sent is never written. It carries the mandate and the charge exactly as the claim wrote them
(with their versions), so the charger needs no read on the happy path: its start marker is a
write on condition that the mandate is still at that version. Nothing secret is in it (payment
method tokens are the gateway's references, never card data); the queue is encrypted at rest
and the body is never logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from datetime import date as Day
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from ..domain.charge import Charge
from ..domain.model import Event, Mandate
from ..domain.money import MAX_AMOUNT, MIN_AMOUNT
from ..domain.reconciliation import MAX_DAYS_PER_RUN

MAX_ATTEMPT = 100


class AttemptMessage(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["attempt"] = "attempt"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    mandate_id: Annotated[StrictStr, StringConstraints(pattern=r"^mdt_[A-Za-z0-9]{1,64}$")]
    charge_id: Annotated[StrictStr, StringConstraints(pattern=r"^chg_[A-Za-z0-9]{1,64}$")]
    attempt: Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPT)]
    due_at: datetime
    dispatched_at: datetime
    mandate: Mandate  # as claimed (its version is the claim's)
    charge: Charge

    @model_validator(mode="after")
    def _consistent(self) -> AttemptMessage:
        m, c = self.mandate, self.charge
        if (m.id, m.merchant_id, c.id, c.merchant_id, c.mandate_id) != (
            self.mandate_id,
            self.merchant_id,
            self.charge_id,
            self.merchant_id,
            self.mandate_id,
        ):
            raise ValueError("the claimed mandate and charge do not match the message's ids")
        if c.in_flight != self.attempt or c.in_flight_method is None:
            raise ValueError("the charge's claimed attempt does not match the message")
        if c.amount < MIN_AMOUNT:  # nothing to collect is settled without a gateway call, never sent
            raise ValueError("the charge's amount is not one a gateway may be asked for")
        return self

    def claimed(self) -> tuple[Mandate, Charge]:
        """Private copies of the claim's state for the charger to work on."""
        return self.mandate.model_copy(deep=True), self.charge.model_copy(deep=True)


class RefundMessage(BaseModel):
    """A pending refund to send to the gateway (its state, and its lease, are in the table)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["refund"] = "refund"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    refund_id: Annotated[StrictStr, StringConstraints(pattern=r"^rfd_[A-Za-z0-9]{1,64}$")]
    dispatched_at: datetime


class WakeMessage(BaseModel):
    """A webhook delivery to look at (attempt it if it is due): its state is in the table."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["webhook_wake"] = "webhook_wake"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    delivery_id: Annotated[StrictStr, StringConstraints(pattern=r"^wd_[A-Za-z0-9]{1,64}$")]


class ReconcileRequest(BaseModel):
    """Reconcile one merchant's day (the daily run's fan-out: one message per merchant)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["reconcile"] = "reconcile"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    date: date
    through: Day | None = None  # a catch-up: every day from `date` to this one (None: `date` alone)

    @model_validator(mode="after")
    def _bounded(self) -> ReconcileRequest:
        if self.through is not None and not 0 <= (self.through - self.date).days < MAX_DAYS_PER_RUN:
            raise ValueError(f"through: from date, at most {MAX_DAYS_PER_RUN} days")
        return self


class NotificationMessage(BaseModel):
    """An e-mail to consider sending: its kind, mandate and occasion (the at-most-once key)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["email"] = "email"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    kind: Literal[
        "upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended", "credit_note"
    ]
    mandate_id: Annotated[StrictStr, StringConstraints(pattern=r"^mdt_[A-Za-z0-9]{1,64}$")]
    charge_id: Annotated[StrictStr, StringConstraints(pattern=r"^chg_[A-Za-z0-9]{1,64}$")] | None = None
    occasion: Annotated[StrictStr, StringConstraints(max_length=200)] = ""
    # A failed attempt as it was when it happened (the charge may have moved on since):
    decline_code: Annotated[StrictStr, StringConstraints(max_length=100)] | None = None
    next_attempt_at: datetime | None = None
    # A notice before a charge: the due time it announces (not sent if the charge moved or stopped).
    due_at: datetime | None = None
    # A bank debit's announcement: the amount it names, as taken (the e-mail says this, not what
    # the mandate says by the time it is sent).
    amount: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)] | None = None


class _SesMail(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)  # the notifier's only

    messageId: Annotated[StrictStr, StringConstraints(max_length=200)]
    tags: dict[str, list[str]] = Field(default_factory=dict)  # the EmailTags the notifier set, as SES reports them


class _SesBounce(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)  # the notifier's only

    bounceType: Annotated[StrictStr, StringConstraints(max_length=50)]  # Permanent, Transient, Undetermined
    bounceSubType: Annotated[StrictStr, StringConstraints(max_length=100)] = ""


class MailFeedback(BaseModel):
    """What SES tells of an e-mail after taking it (configuration set -> SNS, raw, -> the notify
    queue): a bounce or a complaint, tied to the notification by the tags the notifier set.
    Recipients' addresses in the event are never read: the notification knows its own."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)  # the notifier's only

    type: Literal["ses_feedback"] = "ses_feedback"  # not in SES's message: told by `eventType`
    eventType: Literal["Bounce", "Complaint"]
    mail: _SesMail
    bounce: _SesBounce | None = None

    def tag(self, name: str) -> str | None:
        values = self.mail.tags.get(name) or []
        return values[0] if values else None

    @property
    def permanent(self) -> bool:
        return self.eventType == "Complaint" or (self.bounce is not None and self.bounce.bounceType == "Permanent")

    @property
    def detail(self) -> str:
        if self.bounce is None:
            return ""
        return f"{self.bounce.bounceType}/{self.bounce.bounceSubType}" if self.bounce.bounceSubType else self.bounce.bounceType


class ReceiptRequest(BaseModel):
    """A succeeded charge to number (the receipt queue, FIFO: grouped by merchant)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["receipt_request"] = "receipt_request"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    charge_id: Annotated[StrictStr, StringConstraints(pattern=r"^chg_[A-Za-z0-9]{1,64}$")]
    # What the succeeded charge's event tells (absent in requests sent before they were added, and
    # for events that do not say): its mandate, and whether its customer has an e-mail address.
    mandate_id: Annotated[StrictStr, StringConstraints(pattern=r"^mdt_[A-Za-z0-9]{1,64}$")] | None = None
    customer_has_email: bool | None = None
    # A credit note to issue for the charge (domain/invoices): what it answers (a succeeded refund,
    # a reversal of the charge, a lost dispute) and its id (the charge's own for a reversal); or
    # `refund_failed`: the invoice that undoes the credit note of a refund failed after it succeeded.
    correction: Literal["refund", "reversal", "dispute", "refund_failed"] | None = None
    source_id: Annotated[StrictStr, StringConstraints(pattern=r"^(rfd|dsp|chg)_[A-Za-z0-9]{1,64}$")] | None = None
    # A reversal's: which collection of the charge it returned (n after n - 1 reversals collected
    # again; absent: the first).
    collection: Annotated[StrictInt, Field(ge=1, le=MAX_ATTEMPT)] | None = None

    @property
    def key(self) -> str:
        """What the queue deduplicates on: the charge, or the correction (and its collection)."""
        if not self.correction:
            return self.charge_id
        return f"{self.correction}-{self.source_id}" + (f"-{self.collection}" if self.collection else "")


class PublishedEvent(BaseModel):
    """An event as the events topic publishes it (raw delivery: the API's event object); the
    merchant comes from the message's `merchant_id` attribute, set by the publisher."""

    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)

    object: Literal["event"]
    id: Annotated[StrictStr, StringConstraints(pattern=r"^evt_[A-Za-z0-9]{1,64}$")]
    event_type: Annotated[StrictStr, StringConstraints(max_length=100)] = Field(alias="type")
    data: dict[str, Any] = Field(default_factory=dict)
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")] | None = None

    @classmethod
    def of(cls, event: Event) -> PublishedEvent:
        """A recorded event as its message carries it."""
        return cls.model_validate(
            {"object": "event", "id": event.id, "type": event.type, "data": event.data, "merchant_id": event.merchant_id}
        )

    def of_merchant(self, merchant_id: str | None) -> PublishedEvent:
        """With the merchant its message's attribute names (validated as the body's fields are)."""
        return PublishedEvent.model_validate({**self.model_dump(by_alias=True), "merchant_id": merchant_id})


class EventKey(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    event_id: Annotated[StrictStr, StringConstraints(pattern=r"^evt_[A-Za-z0-9]{1,64}$")]


class UnpublishedEventsMessage(BaseModel):
    """Keys of events the topic refused, left by the publisher in its queue for
    `make redrive QUEUE=events` (which also finds the stream's failed batch positions there)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["unpublished_events"] = "unpublished_events"
    kind: Literal["unpublished_events"] = "unpublished_events"  # its name before `type`: still written, for older redrives
    events: Annotated[list[EventKey], Field(min_length=1, max_length=100)]

    @classmethod
    def of(cls, keys: Sequence[tuple[str, str]]) -> UnpublishedEventsMessage:
        return cls(events=[EventKey(merchant_id=m, event_id=e) for m, e in keys])

    @staticmethod
    def describes(body: Any) -> bool:
        """Whether a queue body is one (by `type`, or by `kind` for messages left before it)."""
        return isinstance(body, dict) and "unpublished_events" in (body.get("type"), body.get("kind"))


def _body(raw: str | bytes | dict[str, Any]) -> Any:
    return raw if isinstance(raw, dict) else json.loads(raw)


def _gateway_kind(body: Any) -> str:
    if isinstance(body, BaseModel):
        return str(getattr(body, "type", ""))
    if not isinstance(body, dict):
        return "attempt"
    return str(body.get("type") or ("refund" if "refund_id" in body else "attempt"))  # no type: sent before it existed


GatewayMessage = Annotated[
    Annotated[AttemptMessage, Tag("attempt")] | Annotated[RefundMessage, Tag("refund")], Discriminator(_gateway_kind)
]


def _notification_kind(body: Any) -> str:
    if isinstance(body, BaseModel):
        return "event" if isinstance(body, PublishedEvent) else str(getattr(body, "type", ""))
    if not isinstance(body, dict):
        return "email"
    if body.get("object") == "event":  # SNS, raw: the API's event object (its own `type` is the event type)
        return "event"
    if "eventType" in body:  # SES's report on an e-mail it took
        return "ses_feedback"
    return str(body.get("type") or "email")


NotificationQueueMessage = Annotated[
    Annotated[NotificationMessage, Tag("email")]
    | Annotated[PublishedEvent, Tag("event")]
    | Annotated[MailFeedback, Tag("ses_feedback")],
    Discriminator(_notification_kind),
]

_gateway_queue: TypeAdapter[AttemptMessage | RefundMessage] = TypeAdapter(GatewayMessage)
_notification_queue: TypeAdapter[NotificationMessage | PublishedEvent | MailFeedback] = TypeAdapter(NotificationQueueMessage)


def parse_gateway_message(raw: str | bytes | dict[str, Any]) -> AttemptMessage | RefundMessage:
    """A gateway queue body (ValidationError, or ValueError for a body that is not JSON)."""
    return _gateway_queue.validate_python(_body(raw))


def parse_notification_message(raw: str | bytes | dict[str, Any]) -> NotificationMessage | PublishedEvent | MailFeedback:
    return _notification_queue.validate_python(_body(raw))


def parse_receipt_request(raw: str | bytes) -> ReceiptRequest:
    return ReceiptRequest.model_validate_json(raw)


class ExportMessage(BaseModel):
    """An export to build: its id is all the exporter needs (it reads the export)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    type: Literal["export"] = "export"
    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    export_id: Annotated[StrictStr, StringConstraints(pattern=r"^exp_[A-Za-z0-9]{1,64}$")]


def parse_export_message(raw: str | bytes) -> ExportMessage:
    return ExportMessage.model_validate_json(raw)


def parse_reconcile_request(raw: str | bytes) -> ReconcileRequest:
    return ReconcileRequest.model_validate_json(raw)


def parse_wake_message(raw: str | bytes) -> WakeMessage:
    return WakeMessage.model_validate_json(raw)


def parse_published_event(raw: str | bytes, merchant_id: str | None) -> PublishedEvent:
    """An event from the topic with its merchant (None when the attribute is missing)."""
    return PublishedEvent.model_validate_json(raw).of_merchant(merchant_id)


def published_events(records: list[dict[str, Any]]) -> tuple[list[tuple[str, PublishedEvent]], list[str]]:
    """An SQS batch of the topic's events (raw delivery, the merchant in the `merchant_id` message
    attribute the publisher set): (message id, event) of each event of a merchant, and the message
    ids of records that are not one (no body, not an event, no merchant attribute)."""
    events: list[tuple[str, PublishedEvent]] = []
    refused: list[str] = []
    for record in records:
        attribute = (record.get("messageAttributes") or {}).get("merchant_id") or {}
        merchant_id = attribute.get("stringValue") if isinstance(attribute, dict) else None
        try:
            event = parse_published_event(record["body"], merchant_id if isinstance(merchant_id, str) else None)
        except (ValidationError, ValueError, KeyError, TypeError):
            event = None
        if event is None or event.merchant_id is None:
            refused.append(record["messageId"])
        else:
            events.append((record["messageId"], event))
    return events, refused


def _plain(value: Any) -> Any:
    """A stream image's numbers come as Decimal: only integers are stored."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(v) for v in value]
    return value


def recorded_event(image: dict[str, Any] | None) -> Event | None:
    """The event an item of the table's stream records (its new image, deserialized); None for
    any other item (the template's filter drops those; kept for local runs)."""
    if not image or image.get("entity") != "event":
        return None
    return Event.model_validate(_plain(image["body"]))
