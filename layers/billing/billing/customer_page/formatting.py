"""Amounts and dates the way each language writes them (Babel's CLDR data, not by hand):
`€19.99` / `19,99 €`, `25 Nov 2026` / `2026-11-25`; how often a plan charges. For people, never for arithmetic.
The customer page's and the e-mails' (`billing.emails` writes with it too); money and dates are the
documents' own (`shapes.document_text`), so a page, an e-mail and an invoice write them alike."""

from __future__ import annotations

from ..shapes.document_text import LOCALES, DateFormat, day, money
from .texts import TEXT, Lang

__all__ = ["LOCALES", "DateFormat", "day", "money", "schedule_text"]


def schedule_text(interval: str, count: int, lang: Lang) -> str:
    """How often a plan charges, in words (`every month`, `every 3 weeks`): the page's and the e-mails'."""
    one, many = TEXT[lang][f"interval.{interval}"].split("|")
    return f"{TEXT[lang]['every']} {one}" if count == 1 else f"{TEXT[lang]['every']} {count} {many}"
