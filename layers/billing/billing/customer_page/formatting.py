"""Amounts and dates the way each language writes them (Babel's CLDR data, not by hand):
`€19.99` / `19,99 €`, `25 Nov 2026` / `2026-11-25`; how often a plan charges. For people, never for arithmetic.
The customer page's and the e-mails' (`billing.emails` writes with it too)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from ..domain.money import CURRENCY_EXPONENT
from .texts import TEXT, Lang

# The locale each customer language is written in (English the European way: day before month).
LOCALES: dict[str, str] = {"en": "en_GB", "lt": "lt_LT"}
DateFormat = Literal["short", "medium", "long"]


def money(amount: int, currency: str, lang: str) -> str:
    """Minor units as the language writes money, with exactly the currency's digits."""
    from babel.numbers import format_currency  # imported on first use: a cold start without a page pays nothing

    exponent = CURRENCY_EXPONENT.get(currency, 2)
    return format_currency(Decimal(amount).scaleb(-exponent), currency, locale=LOCALES[lang], currency_digits=True)


def schedule_text(interval: str, count: int, lang: Lang) -> str:
    """How often a plan charges, in words (`every month`, `every 3 weeks`): the page's and the e-mails'."""
    one, many = TEXT[lang][f"interval.{interval}"].split("|")
    return f"{TEXT[lang]['every']} {one}" if count == 1 else f"{TEXT[lang]['every']} {count} {many}"


def day(moment: datetime, lang: str, length: DateFormat = "medium") -> str:
    from babel.dates import format_date

    return format_date(moment.date(), format=length, locale=LOCALES[lang])
