"""Pydantic models at the HTTP boundary: what merchants send and what they get back.

Requests are strict (no type coercion: `"1999"` is not an amount) and refuse unknown fields.
Responses are the contract's objects; times are RFC 3339 UTC with a `Z`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from .domain import payment_methods
from .domain.charge import AttemptOutcome, Charge, ChargeStatus
from .domain.model import FINAL_STATUSES, Event, Mandate, MandateStatus, Plan, PlanStatus
from .domain.money import Amount, Currency
from .domain.schedule import MAX_INTERVAL_COUNT, Interval

# ------------------------------------------------------------------ shared types


def _parse_time(value: Any) -> Any:
    """RFC 3339 with a timezone (Z or offset); naive or other shapes are refused."""
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", value):
            raise ValueError("must be an RFC 3339 time with a timezone, like 2026-12-01T09:00:00Z")
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    raise ValueError("must be an RFC 3339 time string")


def format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


TimeIn = Annotated[datetime, BeforeValidator(_parse_time)]
TimeOut = Annotated[datetime, PlainSerializer(format_time, return_type=str)]

Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[StrictStr, StringConstraints(max_length=500)],
    ],
    Field(max_length=20, description="Up to 20 string keys (<= 40 chars) with string values (<= 500 chars)"),
]
Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
ObjectId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------- requests

RetrySchedule = Annotated[
    list[Annotated[StrictInt, Field(ge=1, le=60)]],
    Field(max_length=8, description="Strictly increasing days after the due time"),
]


def _strictly_increasing(days: list[int]) -> list[int]:
    if any(b <= a for a, b in zip(days, days[1:])):
        raise ValueError("must be strictly increasing")
    return days


class PlanCreate(RequestModel):
    name: Name
    amount: Amount
    currency: Currency
    interval: Interval
    interval_count: Annotated[StrictInt, Field(ge=1)] = 1
    trial_days: Annotated[StrictInt, Field(ge=0, le=730)] = 0
    total_cycles: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    retry_schedule_days: Annotated[RetrySchedule, AfterValidator(_strictly_increasing)] = [1, 3, 7]
    metadata: Metadata = {}

    @field_validator("interval_count")
    @classmethod
    def _period_at_most_three_years(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval")
        if interval and value > MAX_INTERVAL_COUNT[interval]:
            raise ValueError(f"at most {MAX_INTERVAL_COUNT[interval]} for interval '{interval}' (3 years)")
        return value


_IMMUTABLE_PLAN_FIELDS = ("amount", "currency", "interval", "interval_count", "trial_days", "total_cycles", "retry_schedule_days")


class PlanUpdate(RequestModel):
    name: Name | None = None
    metadata: Metadata | None = None
    # Price and schedule never change: listed so the 422 says why, hidden from the schema.
    amount: SkipJsonSchema[Any] = None
    currency: SkipJsonSchema[Any] = None
    interval: SkipJsonSchema[Any] = None
    interval_count: SkipJsonSchema[Any] = None
    trial_days: SkipJsonSchema[Any] = None
    total_cycles: SkipJsonSchema[Any] = None
    retry_schedule_days: SkipJsonSchema[Any] = None

    @field_validator(*_IMMUTABLE_PLAN_FIELDS, mode="before")
    @classmethod
    def _immutable(cls, value: Any) -> Any:
        raise ValueError("cannot be changed; create a new plan instead (existing mandates keep their plan)")


class CustomerIn(RequestModel):
    reference: Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)]
    email: Annotated[StrictStr, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    name: Annotated[StrictStr, StringConstraints(max_length=200)] | None = None


class PaymentMethodIn(RequestModel):
    gateway: payment_methods.Gateway = "simulated"
    token: StrictStr = Field(description="The gateway's payment method token; never a card number")

    @field_validator("token")
    @classmethod
    def _token_shape(cls, token: str, info: ValidationInfo) -> str:
        gateway = info.data.get("gateway")
        if gateway is None:
            return token
        try:
            return payment_methods.validate_token(gateway, token)
        except Exception as error:  # re-raised as a pydantic error so that the param path is kept
            raise ValueError(getattr(error, "message", "invalid token")) from None


def _ip(value: str) -> str:
    ipaddress.ip_address(value)
    return value


class ConsentIn(RequestModel):
    accepted_at: TimeIn
    ip: Annotated[StrictStr, StringConstraints(max_length=45), AfterValidator(_ip)] | None = None
    user_agent: Annotated[StrictStr, StringConstraints(max_length=500)] | None = None


class MandateCreate(RequestModel):
    plan_id: ObjectId
    customer: CustomerIn
    payment_method: PaymentMethodIn | None = None
    consent: ConsentIn | None = None
    start_at: TimeIn | None = None
    end_at: TimeIn | None = None
    metadata: Metadata = {}

    # Field validators (not a model validator) so that the 422 names the offending field.
    @field_validator("consent")
    @classmethod
    def _consent_needs_payment_method(cls, consent: ConsentIn | None, info: ValidationInfo) -> ConsentIn | None:
        if consent is not None and "payment_method" in info.data and info.data["payment_method"] is None:
            raise ValueError("consent needs a payment_method: the customer consents to be charged on it")
        return consent

    @field_validator("end_at")
    @classmethod
    def _end_after_start(cls, end_at: datetime | None, info: ValidationInfo) -> datetime | None:
        start_at = info.data.get("start_at")
        if end_at is not None and start_at is not None and end_at <= start_at:
            raise ValueError("must be after start_at")
        return end_at


class PauseIn(RequestModel):
    resume_at: TimeIn | None = None


# -------------------------------------------------------------------- responses


class ResponseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanOut(ResponseModel):
    id: str
    object: Literal["plan"] = "plan"
    name: str
    amount: int
    currency: Currency
    interval: Interval
    interval_count: int
    trial_days: int
    total_cycles: int | None
    retry_schedule_days: list[int]
    status: PlanStatus
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, plan: Plan) -> PlanOut:
        return cls(**plan.model_dump(exclude={"merchant_id", "version"}))


class CustomerOut(ResponseModel):
    reference: str
    email: str | None
    name: str | None


class PaymentMethodOut(ResponseModel):
    gateway: payment_methods.Gateway
    token_last4: str


class ConsentOut(ResponseModel):
    accepted_at: TimeOut
    ip: str | None
    user_agent: str | None


class MandateOut(ResponseModel):
    id: str
    object: Literal["mandate"] = "mandate"
    plan_id: str
    customer: CustomerOut
    payment_method: PaymentMethodOut | None
    status: MandateStatus
    start_at: TimeOut | None
    end_at: TimeOut | None
    next_charge_at: TimeOut | None
    cycles_charged: int
    consent: ConsentOut | None
    metadata: dict[str, str]
    created_at: TimeOut
    updated_at: TimeOut
    ended_at: TimeOut | None
    resume_at: TimeOut | None = None
    approval_url: str | None = Field(None, description="Where the customer approves; only while pending_approval")

    @classmethod
    def of(cls, mandate: Mandate, approval_url: str | None = None) -> MandateOut:
        pm = mandate.payment_method
        return cls(
            id=mandate.id,
            plan_id=mandate.plan_id,
            customer=CustomerOut(**mandate.customer.model_dump()),
            payment_method=PaymentMethodOut(gateway=pm.gateway, token_last4=payment_methods.last4(pm.token)) if pm else None,
            status=mandate.status,
            start_at=mandate.start_at,
            end_at=mandate.end_at,
            next_charge_at=None if mandate.status in FINAL_STATUSES else mandate.next_charge_at,
            cycles_charged=mandate.cycles_charged,
            consent=ConsentOut(**mandate.consent.model_dump(exclude={"terms_sha256"})) if mandate.consent else None,
            metadata=mandate.metadata,
            created_at=mandate.created_at,
            updated_at=mandate.updated_at,
            ended_at=mandate.ended_at,
            resume_at=mandate.resume_at,
            approval_url=approval_url,  # the link signer gives one only while the mandate awaits approval
        )


class AttemptOut(ResponseModel):
    at: TimeOut
    outcome: AttemptOutcome
    decline_code: str | None
    gateway_reference: str | None


class ChargeOut(ResponseModel):
    id: str
    object: Literal["charge"] = "charge"
    mandate_id: str
    plan_id: str
    cycle: int
    amount: int
    currency: Currency
    due_at: TimeOut
    status: ChargeStatus
    attempts: list[AttemptOut]
    next_attempt_at: TimeOut | None
    failure_code: str | None
    created_at: TimeOut
    updated_at: TimeOut

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        return cls(
            **charge.model_dump(
                include={
                    "id",
                    "mandate_id",
                    "plan_id",
                    "cycle",
                    "amount",
                    "currency",
                    "due_at",
                    "status",
                    "next_attempt_at",
                    "failure_code",
                    "created_at",
                    "updated_at",
                }
            ),
            attempts=[AttemptOut(**a.model_dump(exclude={"number"})) for a in charge.attempts],
        )


class ScheduledCharge(ResponseModel):
    cycle: int
    due_at: TimeOut
    amount: int
    currency: Currency


class ScheduleOut(ResponseModel):
    object: Literal["schedule"] = "schedule"
    mandate_id: str
    data: list[ScheduledCharge]


class EventDataOut(ResponseModel):
    object: dict[str, Any]


class EventOut(ResponseModel):
    id: str
    object: Literal["event"] = "event"
    type: str
    created_at: TimeOut
    data: EventDataOut

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(id=event.id, type=event.type, created_at=event.created_at, data=EventDataOut(**event.data))


T = TypeVar("T")


class ListOut(ResponseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None


class ErrorDetail(BaseModel):
    type: Literal[
        "invalid_request",
        "authentication_error",
        "not_found",
        "invalid_state",
        "idempotency_error",
        "validation_error",
        "internal_error",
    ]
    message: str
    param: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


def render(obj: Plan | Mandate | Charge, approval_url: str | None = None) -> dict[str, object]:
    """An object as the API returns it (responses and event snapshots)."""
    if isinstance(obj, Plan):
        return PlanOut.of(obj).model_dump(mode="json")
    if isinstance(obj, Charge):
        return ChargeOut.of(obj).model_dump(mode="json")
    return MandateOut.of(obj, approval_url).model_dump(mode="json")


if TYPE_CHECKING:  # mypy proves the request models are the commands the services take
    from .service import commands

    def _commands(plan: PlanCreate, changes: PlanUpdate, mandate: MandateCreate, method: PaymentMethodIn, pause: PauseIn) -> None:
        _plan: commands.NewPlan = plan
        _changes: commands.PlanChanges = changes
        _mandate: commands.NewMandate = mandate
        _method: commands.NewPaymentMethod = method
        _pause: commands.Pause = pause
