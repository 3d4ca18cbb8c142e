"""The words and numbers of an invoice or credit note in a language (en, lt): what its lines say,
what it notes, its money, dates and percentages (Babel's CLDR data, never by hand). The HTML page,
the PDF (customer_page) and the EN 16931 XML (shapes/einvoice) all read a document through here.

An issued document is stored locale-neutral: its lines keep their type, amount and the merchant's
own words (an item's description); a plan line's period, a credit note's reason and the invoice it
corrects are the document's own fields, copied at issue. So one document reads the same in either
language, and later edits of plans, items or accounts never change it. Babel is imported on first
use (a cold start without a document pays nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from ..domain.invoices import Invoice, InvoiceLine
from ..domain.money import CURRENCY_EXPONENT

DocLang = Literal["en", "lt"]
DateFormat = Literal["short", "medium", "long"]
# The locale each language is written in (English the European way: day before month).
LOCALES: dict[str, str] = {"en": "en_GB", "lt": "lt_LT"}

DOCUMENT_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "line.plan": "Subscription, {period}",
        "line.plan_undated": "Subscription",
        "line.named_plan": "Subscription “{plan}”, {period}",
        "line.named_plan_undated": "Subscription “{plan}”",
        "line.proration": "Credit for unused time after a plan change",
        "line.correction.refund": "Refund, invoice {number}",
        "line.correction.reversal": "Payment returned by the bank, invoice {number}",
        "line.correction.dispute": "Dispute lost, invoice {number}",
        "line.correction.refund_failed": "Refund failed at the bank, credit note {number}",
        "reason.refund": "refund",
        "reason.reversal": "payment returned by the bank",
        "reason.dispute": "dispute lost",
        "reason.refund_failed": "the refund failed at the bank",
        "corrects": "Corrects invoice {number} ({reason}).",
        "undoes": "Undoes credit note {number}: the refund failed at the bank.",
        "not_subject": "Not subject to VAT",
    },
    "lt": {
        "line.plan": "Prenumerata, {period}",
        "line.plan_undated": "Prenumerata",
        "line.named_plan": "Prenumerata „{plan}“, {period}",
        "line.named_plan_undated": "Prenumerata „{plan}“",
        "line.proration": "Kreditas už nepanaudotą laiką pakeitus planą",
        "line.correction.refund": "Pinigų grąžinimas pagal sąskaitą {number}",
        "line.correction.reversal": "Banko grąžintas mokėjimas pagal sąskaitą {number}",
        "line.correction.dispute": "Pralaimėtas ginčas dėl sąskaitos {number}",
        "line.correction.refund_failed": "Nepavykęs pinigų grąžinimas pagal kreditinę sąskaitą {number}",
        "reason.refund": "pinigų grąžinimas",
        "reason.reversal": "bankas grąžino mokėjimą",
        "reason.dispute": "pralaimėtas ginčas",
        "reason.refund_failed": "bankas nepriėmė pinigų grąžinimo",
        "corrects": "Koreguojama sąskaita {number} ({reason}).",
        "undoes": "Anuliuojama kreditinė sąskaita {number}: bankas nepriėmė pinigų grąžinimo.",
        "not_subject": "PVM neapmokestinama",
    },
}


def words(lang: str, key: str, **values: object) -> str:
    return DOCUMENT_TEXT[lang][key].format(**values)


def money(amount: int, currency: str, lang: str) -> str:
    """Minor units as the language writes money, with exactly the currency's digits."""
    from babel.numbers import format_currency

    exponent = CURRENCY_EXPONENT.get(currency, 2)
    return format_currency(Decimal(amount).scaleb(-exponent), currency, locale=LOCALES[lang], currency_digits=True)


def day(moment: datetime, lang: str, length: DateFormat = "medium") -> str:
    from babel.dates import format_date

    return format_date(moment.date(), format=length, locale=LOCALES[lang])


def percentage(value: str, lang: str) -> str:
    """A rate's exact percentage as the language writes it (`5.5%` / `5,5 %`), every digit kept."""
    from babel.numbers import format_percent

    return format_percent(Decimal(value) / 100, locale=LOCALES[lang], decimal_quantization=False)


def period(invoice: Invoice, lang: str) -> str | None:
    """The period a document covers, its first and last day (inclusive, as the XML's BT-73/74)."""
    if invoice.period_start is None or invoice.period_end is None:
        return None
    last = max(invoice.period_start, invoice.period_end - timedelta(microseconds=1))
    return f"{day(invoice.period_start, lang, 'long')} – {day(last, lang, 'long')}"


def line_text(invoice: Invoice, line: InvoiceLine, lang: str) -> str:
    """What a line says in `lang`: a plan line its plan (as named at issue) and period, a correction the invoice it corrects
    and why; an item line the merchant's own words (as entered, in no particular language)."""
    if line.type == "plan":
        covered, plan = period(invoice, lang), invoice.plan_name
        key = ("line.named_plan" if plan else "line.plan") + ("" if covered else "_undated")
        return words(lang, key, period=covered, plan=plan)
    if line.type == "proration":
        return words(lang, "line.proration")
    if line.type == "correction" and invoice.reason is not None and invoice.corrects_number is not None:
        return words(lang, f"line.correction.{invoice.reason}", number=invoice.corrects_number)
    return line.description


def corrects_note(invoice: Invoice, lang: str) -> str | None:
    """A credit note's note naming the invoice it corrects and why (an invoice undoing a credit
    note whose refund failed later: that credit note)."""
    if invoice.corrects_number is None or invoice.reason is None:
        return None
    if invoice.reason == "refund_failed":
        return words(lang, "undoes", number=invoice.corrects_number)
    return words(lang, "corrects", number=invoice.corrects_number, reason=words(lang, f"reason.{invoice.reason}"))
