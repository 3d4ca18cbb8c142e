"""What the use cases take: the shapes of their commands, as read-only Protocols.

The service needs only these attributes; the HTTP layer's request models (`schemas.py`)
provide them, already validated, and so do tests. The service imports nothing from HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol

from ..domain.account import Locale
from ..domain.exports import ExportFormat, ExportKind
from ..domain.money import Currency
from ..domain.payment_methods import Gateway
from ..domain.refunds import RefundReason
from ..domain.schedule import Interval


class NewPlan(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> Currency: ...
    @property
    def interval(self) -> Interval: ...
    @property
    def interval_count(self) -> int: ...
    @property
    def trial_days(self) -> int: ...
    @property
    def total_cycles(self) -> int | None: ...
    @property
    def retry_schedule_days(self) -> Sequence[int]: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...
    @property
    def tax_rate_id(self) -> str | None: ...


class PlanChanges(Protocol):
    """Only the fields that were sent change (`model_fields_set`)."""

    @property
    def name(self) -> str | None: ...
    @property
    def metadata(self) -> Mapping[str, str] | None: ...
    @property
    def model_fields_set(self) -> set[str]: ...


class NewCustomerTax(Protocol):
    """`customer.tax` as sent (each field optional; validated by the domain's CustomerTax)."""

    @property
    def vat_id(self) -> str | None: ...


class NewCustomer(Protocol):
    @property
    def reference(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def locale(self) -> Locale | None: ...
    @property
    def tax(self) -> NewCustomerTax | None: ...


class CustomerChanges(Protocol):
    @property
    def tax(self) -> NewCustomerTax | None: ...
    def sent(self) -> dict[str, Any]:
        """The fields sent (email, name, locale, tax)."""


class NewPaymentMethod(Protocol):
    @property
    def gateway(self) -> Gateway: ...
    @property
    def token(self) -> str: ...


class NewConsent(Protocol):
    @property
    def accepted_at(self) -> datetime: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def user_agent(self) -> str | None: ...


class NewMandate(Protocol):
    @property
    def plan_id(self) -> str: ...
    @property
    def customer(self) -> NewCustomer: ...
    @property
    def payment_method(self) -> NewPaymentMethod | None: ...
    @property
    def consent(self) -> NewConsent | None: ...
    @property
    def start_at(self) -> datetime | None: ...
    @property
    def end_at(self) -> datetime | None: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...


class NewRefund(Protocol):
    @property
    def amount(self) -> int | None: ...
    @property
    def reason(self) -> RefundReason: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...


class NewItem(Protocol):
    @property
    def amount(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def metadata(self) -> Mapping[str, str]: ...
    @property
    def tax_rate_id(self) -> str | None: ...


class NewTaxRate(Protocol):
    @property
    def display_name(self) -> str: ...
    @property
    def percentage(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def inclusive(self) -> bool: ...
    @property
    def description(self) -> str | None: ...


class TaxRateChanges(Protocol):
    def sent(self) -> dict[str, str | None]:
        """The fields sent (display_name, description)."""


class PlanChange(Protocol):
    @property
    def plan_id(self) -> str: ...
    @property
    def at(self) -> Literal["next_charge", "now"]: ...
    @property
    def prorate(self) -> bool: ...


class AccountChanges(Protocol):
    def sent(self) -> dict[str, object]:
        """The fields sent (a nested `notifications` holds only the settings sent)."""


class Pause(Protocol):
    @property
    def resume_at(self) -> datetime | None: ...


class NewExport(Protocol):
    @property
    def kind(self) -> ExportKind: ...
    @property
    def month(self) -> str: ...
    @property
    def format(self) -> ExportFormat: ...
