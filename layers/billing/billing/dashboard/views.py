"""What the mandate pages show, made from domain objects: money, dates and numbers through Babel
in the page's language; a payment method by its type and last four digits only (never its token);
an event by its time, type and the object it is about. Pure: no I/O, nothing rendered here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.items import Item
from ..domain.lifecycles import MANDATE
from ..domain.model import FINAL_STATUSES, Event, Mandate
from ..domain.money import CURRENCY_EXPONENT
from ..domain.refunds import Refund
from .texts import Lang, text

LOCALES: dict[str, str] = {"en": "en_GB", "lt": "lt_LT"}


def money(amount: int, currency: str, lang: Lang) -> str:
    from babel.numbers import format_currency  # imported on first use (cold start)

    exponent = CURRENCY_EXPONENT[currency]
    return format_currency(Decimal(amount).scaleb(-exponent), currency, locale=LOCALES[lang])


def moment(value: datetime | None, lang: Lang) -> str:
    from babel.dates import format_datetime

    if value is None:
        return ""
    return f"{format_datetime(value, 'medium', tzinfo=timezone.utc, locale=LOCALES[lang])} UTC"  # stored and shown in UTC


def day(value: datetime | None, lang: Lang) -> str:
    from babel.dates import format_date

    return "" if value is None else format_date(value.date(), "medium", locale=LOCALES[lang])


_PLAIN_NUMBER = re.compile(r"[0-9]{1,18}(\.[0-9]{1,18})?")


class AmountRefused(Exception):
    """A refund amount the form cannot take (not a number, or too many decimals)."""


def minor_units(entered: str, currency: str) -> int | None:
    """A refund amount as typed in major units ("12.50" or "12,50") in minor units; empty: None
    (everything left). Raises AmountRefused for anything else."""
    entered = entered.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    if not entered:
        return None
    exponent = CURRENCY_EXPONENT[currency]
    if not _PLAIN_NUMBER.fullmatch(entered):  # digits only: "1e999999" would be a 500 or minutes of CPU
        raise AmountRefused(entered)
    try:
        value = Decimal(entered)
    except InvalidOperation:
        raise AmountRefused(entered) from None
    if not value.is_finite() or len(entered) > 20 or value.as_tuple().exponent < -exponent:  # type: ignore[operator]
        raise AmountRefused(entered)
    return int(value.scaleb(exponent))


def status(value: str, lang: Lang) -> str:
    key = f"status.{value}"
    try:
        return text(lang, key)
    except KeyError:
        return value


@dataclass(frozen=True)
class MandateRow:
    id: str
    reference: str
    email: str
    status: str
    status_code: str
    amount: str
    created: str
    next_charge: str


def next_charge_at(mandate: Mandate) -> datetime | None:
    """The next charge's time as the page shows it: none once the mandate ended (as the API's
    `next_charge_at`), and none while paused: the stored date is the schedule from before the
    pause, which the pause may skip (cycles due inside it are not billed), so the page says
    when it resumes instead (or that it waits to be resumed)."""
    if mandate.status in FINAL_STATUSES or mandate.status == "paused":
        return None
    return mandate.next_charge_at


def mandate_row(mandate: Mandate, lang: Lang) -> MandateRow:
    terms = mandate.terms
    return MandateRow(
        mandate.id,
        mandate.customer.reference,
        mandate.customer.email or "",
        status(mandate.status, lang),
        mandate.status,
        money(terms.amount, terms.currency, lang),
        day(mandate.created_at, lang),
        day(next_charge_at(mandate), lang),
    )


def mandate_view(mandate: Mandate, lang: Lang) -> dict[str, Any]:
    terms = mandate.terms
    method = mandate.payment_method
    shown_method = ""
    if method is not None:
        kind = "SEPA" if method.type != "card" else "Card"
        shown_method = text(lang, "mandate.method", type=kind, last4=method.last4 or "····")
    cycles = (
        text(lang, "mandate.cycles", charged=mandate.cycles_charged, total=terms.total_cycles)
        if terms.total_cycles
        else text(lang, "mandate.cycles_open", charged=mandate.cycles_charged)
    )
    return {
        "id": mandate.id,
        "status": status(mandate.status, lang),
        "status_code": mandate.status,
        "terms": text(
            lang,
            "mandate.every",
            amount=money(terms.amount, terms.currency, lang),
            count=terms.interval_count,
            interval=text(lang, f"interval.{terms.interval}"),
        ),
        "trial": text(lang, "mandate.trial", days=terms.trial_days) if terms.trial_days else "",
        "cycles": cycles,
        "reference": mandate.customer.reference,
        "email": mandate.customer.email or "",
        "name": mandate.customer.name or "",
        "method": shown_method,
        "credit": money(mandate.credit, terms.currency, lang),
        "next_charge": moment(next_charge_at(mandate), lang),
        "paused": mandate.status == "paused",
        "resumes": day(mandate.resume_at, lang) if mandate.status == "paused" else "",
        "created": moment(mandate.created_at, lang),
        "currency": terms.currency,
        "can_cancel": MANDATE.allows(mandate.status, "cancel"),
        "can_pause": MANDATE.allows(mandate.status, "pause"),
        "can_resume": MANDATE.allows(mandate.status, "resume"),
    }


def charge_view(charge: Charge, refunds: list[Refund], disputes: list[Dispute], lang: Lang) -> dict[str, Any]:
    exponent = CURRENCY_EXPONENT[charge.currency]
    left = charge.refundable
    return {
        "id": charge.id,
        "cycle": charge.cycle,
        "due": day(charge.due_at, lang),
        "amount": money(charge.amount, charge.currency, lang),
        "status": charge.status,
        "refunded": money(charge.amount_refunded, charge.currency, lang) if charge.amount_refunded else "",
        "left": left,
        "left_shown": money(left, charge.currency, lang),
        "step": "1" if exponent == 0 else "0." + "0" * (exponent - 1) + "1",
        "currency": charge.currency,
        "refunds": [
            {"id": r.id, "amount": money(r.amount, r.currency, lang), "status": r.status, "created": moment(r.created_at, lang)}
            for r in refunds
        ],
        "disputes": [
            {"id": d.id, "amount": money(d.amount, d.currency, lang), "status": d.status, "reason": d.reason} for d in disputes
        ],
    }


def item_view(item: Item, lang: Lang) -> dict[str, str]:
    return {
        "id": item.id,
        "description": item.description,
        "amount": money(item.amount, item.currency, lang),
        "status": item.status,
    }


def event_view(event: Event, lang: Lang) -> dict[str, str]:
    obj = event.data.get("object")
    about = str(obj.get("id", "")) if isinstance(obj, dict) else ""
    amount = ""
    if isinstance(obj, dict) and isinstance(obj.get("amount"), int) and obj.get("currency") in CURRENCY_EXPONENT:
        amount = money(obj["amount"], obj["currency"], lang)
    return {"id": event.id, "time": moment(event.created_at, lang), "type": event.type, "about": about, "amount": amount}
