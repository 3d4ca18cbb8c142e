"""Exports: a month of a merchant's invoices, charges or mandates as one CSV file.

An export is created `pending`, built asynchronously by the exporter (the month's objects read
page by page and written as they are read, never held whole), then `ready` (its file in the
export bucket under `object_key`) or `failed` (`failure_reason`). What each kind's file holds
is here, column by column (`COLUMNS`), with the cell rules every file follows:

- times RFC 3339 UTC with a `Z`; dates `YYYY-MM-DD`;
- an amount twice: integer minor units (`amount`) and a decimal string in the currency's
  exponent (`amount_decimal`: `19.99` EUR, `500` JPY, `1.250` for a 3-decimal currency),
  computed with integers and `Decimal`, never a float;
- no card or account numbers, tokens or secrets (a payment method is its type and last four);
- a text cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a
  tab or a carriage return) is prefixed with `'` (OWASP's CSV injection advice); numbers and
  times this service writes itself are never changed.

Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal

from dateutil.relativedelta import relativedelta

from .charge import Charge
from .errors import InvalidState
from .events import EventType
from .lifecycles import EXPORT
from .lifecycles import ExportStatus as ExportStatus
from .model import Entity, Mandate
from .money import CURRENCY_EXPONENT

ExportKind = Literal["invoices", "charges", "mandates"]
ExportFormat = Literal["csv"]
# The contract's years 2000 to 2199, ASCII digits (\d is any Unicode digit), matched whole.
MONTH = re.compile(r"(20[0-9][0-9]|21[0-9][0-9])-(0[1-9]|1[0-2])")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CONTENT_TYPE = "text/csv; charset=utf-8"
# How long a file is kept (template.yaml: ExportBucket's lifecycle rule, checked by tests/template):
# a ready export older than this shows no link (ask for a new export).
RETENTION_DAYS = 7


class Export(Entity):
    kind: ExportKind
    month: str  # YYYY-MM, UTC: objects created in [month start, next month start)
    format: ExportFormat = "csv"
    status: ExportStatus = "pending"
    failure_reason: str | None = None
    rows: int | None = None  # data rows written (the header not counted), once ready
    ready_at: datetime | None = None
    object_key: str | None = None  # where the file is in the export bucket, once ready

    @property
    def period(self) -> tuple[datetime, datetime]:
        return month_bounds(self.month)

    @property
    def key(self) -> str:
        """The file's key in the export bucket: one per export, so a rebuild overwrites it."""
        return f"exports/{self.merchant_id}/{self.id}.csv"

    @property
    def filename(self) -> str:
        return f"{self.kind}-{self.month}.csv"

    def downloadable(self, now: datetime) -> bool:
        """Ready, and its file not expired yet (a day's margin before the bucket's rule removes it)."""
        return self.status == "ready" and self.ready_at is not None and now < self.ready_at + timedelta(days=RETENTION_DAYS - 1)

    def finish(self, rows: int, now: datetime) -> list[EventType]:
        self.status = EXPORT.move(self.status, "finish")
        self.rows, self.ready_at, self.object_key, self.updated_at = rows, now, self.key, now
        return [EventType.EXPORT_READY]

    def fail(self, reason: str, now: datetime) -> list[EventType]:
        self.status = EXPORT.move(self.status, "fail")
        self.failure_reason, self.updated_at = reason, now
        return []


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-11` -> [2026-11-01T00:00Z, 2026-12-01T00:00Z)."""
    if not MONTH.fullmatch(month):
        raise InvalidState(f"{month!r} is not a month (YYYY-MM).")
    start = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=timezone.utc)
    return start, start + relativedelta(months=1)


# ----------------------------------------------------------------------------- cells


def decimal_amount(amount: int, exponent: int) -> str:
    """Minor units as a decimal string with exactly `exponent` places (`-1999, 2` -> `-19.99`)."""
    value = Decimal(amount).scaleb(-exponent)
    return f"{value:.{exponent}f}"


def amount_in(amount: int, currency: str) -> str:
    return decimal_amount(amount, CURRENCY_EXPONENT[currency])


def text(value: str | None) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def moment(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def day(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d") if value is not None else ""


def number(value: int | None) -> str:
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- rows per kind


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice or credit note and one of its tax rates, as the invoices file shows it (the
    contract's columns). Amounts in minor units, negative on a credit note; `percentage` exact."""

    number: str
    type: Literal["invoice", "credit_note"]
    issued_at: datetime
    corrects: str | None  # the number of the invoice a credit note corrects
    customer_name: str | None
    company_code: str | None
    vat_id: str | None
    country: str | None
    currency: str
    taxable_amount: int
    percentage: Decimal | None  # None: no tax rate (a merchant not registered for VAT)
    tax_amount: int
    total: int
    charge_id: str | None


CHARGE_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "due_at",
    "status",
    "mandate_id",
    "plan_id",
    "customer_reference",
    "cycle",
    "currency",
    "amount",
    "amount_decimal",
    "amount_refunded",
    "amount_refunded_decimal",
    "attempts",
    "paid_at",
    "failure_code",
    "payment_method_type",
    "gateway_reference",
    "receipt_number",
    "updated_at",
)

MANDATE_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "status",
    "customer_reference",
    "customer_name",
    "customer_email",
    "plan_id",
    "currency",
    "amount",
    "amount_decimal",
    "interval",
    "interval_count",
    "payment_method_type",
    "payment_method_last4",
    "activated_at",
    "next_charge_at",
    "cycles_charged",
    "ended_at",
    "updated_at",
)

# The contract's list: number, type, issued date, corrects, customer name, company code, VAT id,
# country, currency, taxable amount, percentage, tax amount, total, charge id.
INVOICE_COLUMNS: tuple[str, ...] = (
    "number",
    "type",
    "issued_date",
    "corrects",
    "customer_name",
    "company_code",
    "vat_id",
    "country",
    "currency",
    "taxable_amount",
    "percentage",
    "tax_amount",
    "total",
    "charge_id",
)

COLUMNS: dict[ExportKind, tuple[str, ...]] = {
    "charges": CHARGE_COLUMNS,
    "mandates": MANDATE_COLUMNS,
    "invoices": INVOICE_COLUMNS,
}


def charge_row(charge: Charge, customer_reference: str | None) -> list[str]:
    paid = next((a for a in reversed(charge.attempts) if a.outcome == "succeeded"), None)
    last = charge.attempts[-1] if charge.attempts else None
    return [
        charge.id,
        moment(charge.created_at),
        moment(charge.due_at),
        charge.status,
        charge.mandate_id,
        charge.plan_id,
        text(customer_reference),
        str(charge.cycle),
        charge.currency,
        str(charge.amount),
        amount_in(charge.amount, charge.currency),
        str(charge.amount_refunded),
        amount_in(charge.amount_refunded, charge.currency),
        str(len(charge.attempts)),
        moment((paid.settled_at or paid.at) if paid is not None else None),
        text(charge.failure_code),
        charge.paid_with.type if charge.paid_with is not None else "",
        text(last.gateway_reference if last is not None else None),
        text(charge.receipt_number),
        moment(charge.updated_at),
    ]


def mandate_row(mandate: Mandate) -> list[str]:
    method = mandate.payment_method
    terms = mandate.terms
    return [
        mandate.id,
        moment(mandate.created_at),
        mandate.status,
        text(mandate.customer.reference),
        text(mandate.customer.name),
        text(mandate.customer.email),
        mandate.plan_id,
        terms.currency,
        str(terms.amount),
        amount_in(terms.amount, terms.currency),
        terms.interval,
        str(terms.interval_count),
        method.type if method is not None else "",
        text(method.last4 if method is not None else None),
        moment(mandate.activated_at),
        moment(mandate.next_charge_at),
        str(mandate.cycles_charged),
        moment(mandate.ended_at),
        moment(mandate.updated_at),
    ]


def invoice_row(row: InvoiceRow) -> list[str]:
    return [
        text(row.number),
        row.type,
        day(row.issued_at),
        text(row.corrects),
        text(row.customer_name),
        text(row.company_code),
        text(row.vat_id),
        text(row.country),
        row.currency,
        amount_in(row.taxable_amount, row.currency),
        "" if row.percentage is None else format(row.percentage, "f"),
        amount_in(row.tax_amount, row.currency),
        amount_in(row.total, row.currency),
        text(row.charge_id),
    ]
