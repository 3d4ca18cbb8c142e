"""The charge queue's message: one claimed attempt, with the claim's state, validated at both ends.

The dispatcher builds (and so validates) it before the claim is saved: a claim that could not be
sent is never written. It carries the mandate and the charge exactly as the claim wrote them
(with their versions), so the charger needs no read on the happy path: its start marker is a
write on condition that the mandate is still at that version. Nothing secret is in it (payment
method tokens are the gateway's references, never card data); the queue is encrypted at rest
and the body is never logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints, model_validator

from ..domain.charge import Charge
from ..domain.model import Mandate

MAX_ATTEMPT = 100


class AttemptMessage(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

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
        return self

    def claimed(self) -> tuple[Mandate, Charge]:
        """Private copies of the claim's state for the charger to work on."""
        return self.mandate.model_copy(deep=True), self.charge.model_copy(deep=True)


class RefundMessage(BaseModel):
    """A pending refund to send to the gateway (its state, and its lease, are in the table)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    refund_id: Annotated[StrictStr, StringConstraints(pattern=r"^rfd_[A-Za-z0-9]{1,64}$")]
    dispatched_at: datetime


class WakeMessage(BaseModel):
    """A webhook delivery to look at (attempt it if it is due): its state is in the table."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    delivery_id: Annotated[StrictStr, StringConstraints(pattern=r"^wd_[A-Za-z0-9]{1,64}$")]


class NotifyMessage(BaseModel):
    """An e-mail to consider sending: its kind, mandate and occasion (the at-most-once key)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    merchant_id: Annotated[StrictStr, StringConstraints(pattern=r"^mch_[A-Za-z0-9]{1,64}$")]
    kind: Literal["upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended"]
    mandate_id: Annotated[StrictStr, StringConstraints(pattern=r"^mdt_[A-Za-z0-9]{1,64}$")]
    charge_id: Annotated[StrictStr, StringConstraints(pattern=r"^chg_[A-Za-z0-9]{1,64}$")] | None = None
    occasion: Annotated[StrictStr, StringConstraints(max_length=200)] = ""
    # A failed attempt as it was when it happened (the charge may have moved on since):
    decline_code: Annotated[StrictStr, StringConstraints(max_length=100)] | None = None
    next_attempt_at: datetime | None = None
    # A notice before a charge: the due time it announces (not sent if the charge moved or stopped).
    due_at: datetime | None = None


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
