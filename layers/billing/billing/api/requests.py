"""What merchants send: the API's request models (the commands the services take).

Strict (no type coercion: `"1999"` is not an amount) and closed (unknown fields are refused).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ..domain import payment_methods
from ..domain.money import Amount, Currency
from ..domain.schedule import MAX_INTERVAL_COUNT, Interval
from ..domain.tax import PERCENTAGE_PATTERN, iso_country
from ..domain.text import lines, single_line
from ..wire import TimeIn

Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=40)],
        Annotated[StrictStr, StringConstraints(max_length=500)],
    ],
    Field(max_length=20, description="Up to 20 string keys (<= 40 chars) with string values (<= 500 chars)"),
]
# Free text that reaches documents (invoices' XML cannot hold control characters), pages and
# e-mails: one line (domain/text), like every Text* below.
Name = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200), AfterValidator(single_line)]
ObjectId = Annotated[StrictStr, StringConstraints(min_length=1, max_length=64)]


class RequestModel(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


RetrySchedule = Annotated[
    list[Annotated[StrictInt, Field(ge=1, le=60)]],
    Field(max_length=8, description="Strictly increasing days after the due time"),
]


def _strictly_increasing(days: list[int]) -> list[int]:
    if any(b <= a for a, b in zip(days, days[1:])):
        raise ValueError("must be strictly increasing")
    return days


class PlanCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "Gold", "amount": 1999, "currency": "EUR", "interval": "month", "trial_days": 14},
                {"name": "Weekly box", "amount": 990, "currency": "EUR", "interval": "week", "total_cycles": 12},
            ]
        }
    )

    name: Name
    amount: Amount
    currency: Currency
    interval: Interval
    interval_count: Annotated[StrictInt, Field(ge=1)] = 1
    trial_days: Annotated[StrictInt, Field(ge=0, le=730)] = 0
    total_cycles: Annotated[StrictInt, Field(ge=1, le=1000)] | None = None
    retry_schedule_days: Annotated[RetrySchedule, AfterValidator(_strictly_increasing)] = [1, 3, 7]
    metadata: Metadata = {}
    tax_rate_id: ObjectId | None = Field(None, description="An active tax rate (default: the account's default_tax_rate_id)")

    @field_validator("interval_count")
    @classmethod
    def _period_at_most_three_years(cls, value: int, info: ValidationInfo) -> int:
        interval = info.data.get("interval")
        if interval and value > MAX_INTERVAL_COUNT[interval]:
            raise ValueError(f"at most {MAX_INTERVAL_COUNT[interval]} for interval '{interval}' (3 years)")
        return value


_IMMUTABLE_PLAN_FIELDS = ("amount", "currency", "interval", "interval_count", "trial_days", "total_cycles", "retry_schedule_days")


class PlanUpdate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Gold 2027", "metadata": {"tier": "gold"}}]})

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
    tax_rate_id: SkipJsonSchema[Any] = None

    @field_validator(*_IMMUTABLE_PLAN_FIELDS, mode="before")
    @classmethod
    def _immutable(cls, value: Any) -> Any:
        raise ValueError("cannot be changed; create a new plan instead (existing mandates keep their plan)")


# One line (an address goes into e-mails' headers: the customer's To, the merchant's Reply-To).
Email = Annotated[
    StrictStr, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), AfterValidator(single_line)
]


Text20 = Annotated[StrictStr, StringConstraints(min_length=1, max_length=20), AfterValidator(single_line)]
Text50 = Annotated[StrictStr, StringConstraints(min_length=1, max_length=50), AfterValidator(single_line)]
Text100 = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100), AfterValidator(single_line)]
Text200 = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200), AfterValidator(single_line)]
Text500 = Annotated[StrictStr, StringConstraints(min_length=1, max_length=500), AfterValidator(single_line)]


CustomerName = Annotated[StrictStr, StringConstraints(max_length=200), AfterValidator(single_line)]


class TaxAddressIn(RequestModel):
    line1: Text200 | None = None
    line2: Text200 | None = None
    city: Text100 | None = None
    postal_code: Text20 | None = None
    country: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(iso_country)] | None = Field(
        None, description="ISO 3166-1 alpha-2"
    )


class CustomerTaxIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"type": "business", "company_name": "UAB Pavyzdys", "company_code": "300000000", "vat_id": "DE136695976"}
            ]
        }
    )

    type: Literal["individual", "business"] | None = None
    company_name: Text200 | None = None
    company_code: Text50 | None = None
    vat_id: Annotated[StrictStr, StringConstraints(min_length=1, max_length=30), AfterValidator(single_line)] | None = Field(
        None, description="An EU VAT id, checked for its country prefix's format"
    )
    address: TaxAddressIn | None = None


class CustomerIn(RequestModel):
    reference: Annotated[StrictStr, StringConstraints(min_length=1, max_length=100), AfterValidator(single_line)]
    email: Email | None = None
    name: CustomerName | None = None
    locale: Literal["en", "lt"] | None = Field(None, description="Default: the account's default_locale")
    tax: CustomerTaxIn | None = None


class CustomerUpdate(RequestModel):
    """`POST /v1/mandates/{id}/customer`: only the fields sent change (charges created afterwards use them)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"tax": {"type": "business", "vat_id": "DE136695976"}}]})

    email: Email | None = None
    name: CustomerName | None = None
    locale: Literal["en", "lt"] | None = None
    tax: CustomerTaxIn | None = None

    def sent(self) -> dict[str, Any]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class TaxRateCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"display_name": "PVM", "percentage": "21", "country": "LT", "inclusive": True}]}
    )

    display_name: Text50
    percentage: Annotated[StrictStr, StringConstraints(pattern=PERCENTAGE_PATTERN)] = Field(
        description='A decimal string "0".."100" with at most 4 decimals (never a JSON number)'
    )
    country: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(iso_country)] = Field(
        description="ISO 3166-1 alpha-2"
    )
    inclusive: StrictBool = True
    description: Text500 | None = None


class TaxRateUpdate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"display_name": "PVM 21 %"}]})

    display_name: Text50 = None  # type: ignore[assignment]
    description: Text500 | None = None
    # A rate's terms never change: listed so the 422 says why, hidden from the schema.
    percentage: SkipJsonSchema[Any] = None
    country: SkipJsonSchema[Any] = None
    inclusive: SkipJsonSchema[Any] = None

    @field_validator("percentage", "country", "inclusive", mode="before")
    @classmethod
    def _immutable(cls, value: Any) -> Any:
        raise ValueError("a tax rate never changes once created; create a new rate and archive this one")

    def sent(self) -> dict[str, str | None]:
        return {field: getattr(self, field) for field in self.model_fields_set}


class PaymentMethodIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"gateway": "simulated", "token": "pm_sim_ok"}]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"plan_id": "pln_…", "customer": {"reference": "cust-42", "email": "jonas@example.lt"}},
                {
                    "plan_id": "pln_…",
                    "customer": {"reference": "cust-43"},
                    "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
                    "consent": {"accepted_at": "2026-11-25T09:00:00Z", "ip": "203.0.113.9", "user_agent": "Mozilla/5.0"},
                },
            ]
        }
    )

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


class NoFields(RequestModel):
    """The optional body of an action that takes no parameters: `{}` at most (unknown fields are a 422)."""


class PauseIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{}, {"resume_at": "2027-01-15T09:00:00Z"}]})

    resume_at: TimeIn | None = None


NoticeDays = Annotated[StrictInt, Field(ge=0, le=14, description="0 (off) .. 14")]


class NotificationsIn(RequestModel):
    """Only the settings sent change."""

    upcoming_charge_days: NoticeDays = None  # type: ignore[assignment]  # absent: unchanged; null: 422
    trial_ending_days: NoticeDays = None  # type: ignore[assignment]
    receipts: StrictBool = None  # type: ignore[assignment]
    payment_failed: StrictBool = None  # type: ignore[assignment]
    mandate_updates: StrictBool = None  # type: ignore[assignment]
    invoice_pdf: StrictBool = Field(  # type: ignore[assignment]
        None, description="Attach the invoice's (credit note's) PDF to the receipt (credit note) e-mail; the link is always in it"
    )


class AccountUpdate(RequestModel):
    """Only the fields sent change; the optional details may be cleared with null."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"legal_name": "UAB Sporto klubas", "vat_id": "LT100001919017", "support_email": "help@klubas.lt"},
                {"default_locale": "lt", "receipt_prefix": "SK", "notifications": {"upcoming_charge_days": 5}},
            ]
        }
    )

    name: Name = None  # type: ignore[assignment]  # its text rules: the domain's (Account.update)
    legal_name: Name | None = None
    address: Annotated[StrictStr, StringConstraints(min_length=1, max_length=500), AfterValidator(lines)] | None = None
    vat_id: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 .-]{1,29}$")] | None = None
    support_email: Email | None = None
    default_locale: Literal["en", "lt"] = None  # type: ignore[assignment]
    receipt_prefix: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")] = None  # type: ignore[assignment]
    invoice_prefix: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")] = Field(  # type: ignore[assignment]
        None, description="The invoices' series prefix (receipt_prefix is its alias)"
    )
    credit_note_prefix: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Z0-9]{1,10}$")] = None  # type: ignore[assignment]
    company_code: Annotated[StrictStr, StringConstraints(min_length=1, max_length=50), AfterValidator(single_line)] | None = None
    default_tax_rate_id: ObjectId | None = Field(None, description="An active tax rate: the rate of plans that have none")
    notifications: NotificationsIn = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_invoice_prefix(self) -> AccountUpdate:
        sent = self.model_fields_set
        if {"invoice_prefix", "receipt_prefix"} <= sent and self.invoice_prefix != self.receipt_prefix:
            raise ValueError("invoice_prefix and its alias receipt_prefix differ: send one of them")
        return self

    def sent(self) -> dict[str, object]:
        return self.model_dump(exclude_unset=True)


class RefundCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"amount": 500, "reason": "requested_by_customer", "metadata": {"ticket": "T-17"}}]}
    )

    amount: Amount | None = Field(None, description="Default: all that is left to refund on the charge")
    reason: Literal["requested_by_customer", "duplicate", "fraudulent", "other"] = "requested_by_customer"
    metadata: Metadata = {}


class ItemCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 2500, "description": "Set-up fee"}]})

    amount: Amount
    description: Name
    metadata: Metadata = {}
    tax_rate_id: ObjectId | None = Field(None, description="An active tax rate (default: the plan's)")


class PlanChangeIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"plan_id": "pln_…"}, {"plan_id": "pln_…", "at": "now", "prorate": True}]}
    )

    plan_id: ObjectId
    at: Literal["next_charge", "now"] = "next_charge"
    prorate: StrictBool = Field(False, description="With `at: now`: credit the unused part of the period paid")


if TYPE_CHECKING:  # mypy proves the request models are the commands the services take
    from ..service import commands

    def _commands(
        plan: PlanCreate,
        changes: PlanUpdate,
        mandate: MandateCreate,
        method: PaymentMethodIn,
        pause: PauseIn,
        refund: RefundCreate,
        item: ItemCreate,
        plan_change: PlanChangeIn,
        account: AccountUpdate,
    ) -> None:
        _plan: commands.NewPlan = plan
        _changes: commands.PlanChanges = changes
        _mandate: commands.NewMandate = mandate
        _method: commands.NewPaymentMethod = method
        _pause: commands.Pause = pause
        _refund: commands.NewRefund = refund
        _item: commands.NewItem = item
        _plan_change: commands.PlanChange = plan_change
        _account: commands.AccountChanges = account


WebhookUrl = Annotated[StrictStr, StringConstraints(min_length=1, max_length=2048)]
EnabledEvents = Annotated[
    list[Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)]],
    Field(min_length=1, max_length=64, description='["*"] (every event) or event types from the events list'),
]
Description = Annotated[StrictStr, StringConstraints(max_length=500)]


class WebhookEndpointCreate(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"url": "https://shop.example/hooks", "enabled_events": ["charge.succeeded", "charge.failed"]},
                {"url": "https://shop.example/all-events", "description": "everything"},
            ]
        }
    )

    url: WebhookUrl
    enabled_events: EnabledEvents = ["*"]
    description: Description | None = None
    metadata: Metadata = {}


class WebhookEndpointUpdate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled_events": ["*"]}, {"status": "disabled"}]})

    url: WebhookUrl | None = None
    enabled_events: EnabledEvents | None = None
    description: Description | None = None
    metadata: Metadata | None = None
    status: Literal["enabled", "disabled"] | None = None


class ExportCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"kind": "charges", "month": "2026-11", "format": "csv"}]})

    kind: Literal["invoices", "charges", "mandates"]
    month: Annotated[
        StrictStr,
        StringConstraints(pattern=r"^(20[0-9][0-9]|21[0-9][0-9])-(0[1-9]|1[0-2])$"),
        Field(description="YYYY-MM (UTC), years 2000 to 2199"),
    ]
    format: Literal["csv"] = "csv"
