"""The rows of the dashboard's lists of charges, refunds, disputes and invoices, and the pages of
one charge, refund or dispute, made from domain objects: money and dates through Babel in the
page's language (`views`), statuses in words, the mandate and the charge each belongs to as links to
their pages, an invoice's documents as the signed link the API gives (HTML, `?format=pdf`,
`?format=xml`). A charge's page shows its attempts as the API does (`ChargeOut`: the gateway's
reference of each, the attempt still processing) and the payment method by its type and last four
digits only; never a payment method's token. Pure: no I/O, nothing rendered here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.invoices import Invoice
from ..domain.model import PaymentMethod
from ..domain.refunds import Refund
from ..service.ports import Links
from ..shapes import ChargeOut
from . import views
from .texts import Lang, text


@dataclass(frozen=True)
class Cell:
    text: str
    href: str = ""  # a link to another page of the dashboard
    status: str = ""  # a status's code: the cell is shown as a status badge
    links: tuple[tuple[str, str], ...] = ()  # (label, href): an invoice's documents


@dataclass(frozen=True)
class Row:
    id: str
    cells: tuple[Cell, ...]


def _mandate(mandate_id: str, root: str) -> Cell:
    return Cell(mandate_id, href=f"{root}/mandates/{mandate_id}")


def _charge(charge_id: str, root: str) -> Cell:
    return Cell(charge_id, href=f"{root}/charges/{charge_id}")


def _words(key: str, code: str, lang: Lang) -> str:
    """A code in words (`key` formatted with it), or the code itself when no words are known."""
    try:
        return text(lang, key.format(code))
    except KeyError:
        return code


def _status(kind: str, code: str, lang: Lang) -> Cell:
    try:
        words = text(lang, f"{kind}.status.{code}")
    except KeyError:
        words = code
    return Cell(words, status=code)


def charge_row(charge: Charge, lang: Lang, root: str, _: Links) -> Row:
    return Row(
        charge.id,
        (
            _charge(charge.id, root),
            _mandate(charge.mandate_id, root),
            Cell(str(charge.cycle)),
            Cell(views.money(charge.amount, charge.currency, lang)),
            _status("charge", charge.status, lang),
            Cell(views.day(charge.due_at, lang)),
            Cell(views.money(charge.amount_refunded, charge.currency, lang) if charge.amount_refunded else ""),
            Cell(charge.failure_code or ""),
        ),
    )


def refund_row(refund: Refund, lang: Lang, root: str, _: Links) -> Row:
    reason = _words("reason.{}", refund.reason, lang)
    return Row(
        refund.id,
        (
            Cell(refund.id, href=f"{root}/refunds/{refund.id}"),
            _charge(refund.charge_id, root),
            _mandate(refund.mandate_id, root),
            Cell(views.money(refund.amount, refund.currency, lang)),
            Cell(reason),
            _status("refund", refund.status, lang),
            Cell(views.moment(refund.created_at, lang)),
        ),
    )


def dispute_row(dispute: Dispute, lang: Lang, root: str, _: Links) -> Row:
    return Row(
        dispute.id,
        (
            Cell(dispute.id, href=f"{root}/disputes/{dispute.id}"),
            _charge(dispute.charge_id, root),
            _mandate(dispute.mandate_id, root),
            Cell(views.money(dispute.amount, dispute.currency, lang)),
            Cell(_words("dispute.reason.{}", dispute.reason, lang)),
            _status("dispute", dispute.status, lang),
            Cell(views.day(dispute.evidence_due_by, lang)),
            Cell(views.moment(dispute.created_at, lang)),
        ),
    )


def _documents(invoice: Invoice, lang: Lang, links: Links) -> tuple[tuple[str, str], ...]:
    """A document's signed link the API's invoice carries: (label, href) of HTML, PDF and XML."""
    url = links.invoice_url(invoice)
    if not url:
        return ()
    return (
        (text(lang, "lists.html"), url),
        (text(lang, "lists.pdf"), f"{url}?format=pdf"),
        (text(lang, "lists.xml"), f"{url}?format=xml"),
    )


def invoice_row(invoice: Invoice, lang: Lang, root: str, links: Links) -> Row:
    documents = _documents(invoice, lang, links)
    return Row(
        invoice.id,
        (
            Cell(invoice.number),
            Cell(text(lang, f"invoice.type.{invoice.type}"), status=invoice.type),
            _mandate(invoice.mandate_id, root),
            Cell(invoice.buyer.name or invoice.buyer.email or ""),
            Cell(views.money(invoice.total, invoice.currency, lang)),
            Cell(views.day(invoice.issued_at, lang)),
            Cell("", links=documents),
        ),
    )


# ----------------------------------------------------------------------------- one object's page


def _method(method: PaymentMethod | None, lang: Lang) -> str:
    """A payment method by its type and last four digits only (never its token)."""
    if method is None:
        return ""
    kind = "SEPA" if method.bank_debit else "Card"
    return text(lang, "mandate.method", type=kind, last4=method.last4 or "····")


def _percentage(value: str, lang: Lang) -> str:
    from babel.numbers import format_decimal

    return f"{format_decimal(value, locale=views.LOCALES[lang])} %"


def _document_view(invoice: Invoice, lang: Lang, links: Links) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "type": text(lang, f"invoice.type.{invoice.type}"),
        "type_code": invoice.type,
        "total": views.money(invoice.total, invoice.currency, lang),
        "issued": views.day(invoice.issued_at, lang),
        "links": _documents(invoice, lang, links),
    }


def charge_detail(
    charge: Charge, refunds: list[Refund], disputes: list[Dispute], documents: list[Invoice], lang: Lang, root: str, links: Links
) -> dict[str, Any]:
    """A charge as the API shows it (`ChargeOut`): its attempts (outcome, decline code, time, the
    gateway's reference), lines and tax breakdown; its refunds and disputes linked to their pages,
    its invoices and credit notes to their documents' signed links; how it was paid by the last
    four digits only."""
    shown = ChargeOut.of(charge)
    currency = charge.currency

    def money(amount: int) -> str:
        return views.money(amount, currency, lang)

    return {
        "id": charge.id,
        "mandate_id": charge.mandate_id,
        "mandate_href": f"{root}/mandates/{charge.mandate_id}",
        "cycle": charge.cycle,
        "amount": money(charge.amount),
        "status": _words("charge.status.{}", charge.status, lang),
        "status_code": charge.status,
        "due": views.moment(charge.due_at, lang),
        "created": views.moment(charge.created_at, lang),
        "next_attempt": views.moment(charge.next_attempt_at, lang),
        "failure": charge.failure_code or "",
        "refunded": money(charge.amount_refunded),
        "disputed": money(charge.amount_disputed) if charge.amount_disputed else "",
        "method": _method(charge.paid_with or charge.in_flight_method, lang),
        "receipt_number": charge.receipt_number or "",
        "attempts": [
            {
                "time": views.moment(a.at, lang),
                "outcome": _words("attempt.outcome.{}", a.outcome, lang),
                "outcome_code": a.outcome,
                "decline_code": a.decline_code or "",
                "reference": a.gateway_reference or "",
                "settled": views.moment(a.settled_at, lang),
                "reversed": views.moment(a.reversed_at, lang),
            }
            for a in shown.attempts
        ],
        "lines": [
            {"type": _words("line.type.{}", line.type, lang), "description": line.description, "amount": money(line.amount)}
            for line in shown.lines
        ],
        "subtotal": money(shown.subtotal),
        "tax_amount": money(shown.tax_amount),
        "tax_breakdown": [
            {
                "rate": _percentage(group.percentage, lang),
                "category": _words("tax.category.{}", group.category, lang),
                "inclusive": text(lang, "detail.inclusive" if group.inclusive else "detail.exclusive"),
                "taxable": money(group.taxable_amount),
                "tax": money(group.tax_amount),
            }
            for group in shown.tax_breakdown
        ],
        "refunds": [refund_detail(r, [], lang, root, links) for r in refunds],
        "disputes": [dispute_detail(d, lang, root) for d in disputes],
        "documents": [_document_view(d, lang, links) for d in documents],
    }


def refund_detail(refund: Refund, documents: list[Invoice], lang: Lang, root: str, links: Links) -> dict[str, Any]:
    """A refund as the API shows it, its charge linked to its page, its credit note to its
    document's signed link."""
    return {
        "id": refund.id,
        "href": f"{root}/refunds/{refund.id}",
        "charge_id": refund.charge_id,
        "charge_href": f"{root}/charges/{refund.charge_id}",
        "mandate_id": refund.mandate_id,
        "mandate_href": f"{root}/mandates/{refund.mandate_id}",
        "amount": views.money(refund.amount, refund.currency, lang),
        "status": _words("refund.status.{}", refund.status, lang),
        "status_code": refund.status,
        "reason": _words("reason.{}", refund.reason, lang),
        "failure": refund.failure_code or "",
        "created": views.moment(refund.created_at, lang),
        "documents": [_document_view(d, lang, links) for d in documents],
    }


def dispute_detail(dispute: Dispute, lang: Lang, root: str) -> dict[str, Any]:
    """A dispute as the API shows it (its course is answered in the gateway's own tools), its
    charge linked to its page."""
    return {
        "id": dispute.id,
        "href": f"{root}/disputes/{dispute.id}",
        "charge_id": dispute.charge_id,
        "charge_href": f"{root}/charges/{dispute.charge_id}",
        "mandate_id": dispute.mandate_id,
        "mandate_href": f"{root}/mandates/{dispute.mandate_id}",
        "amount": views.money(dispute.amount, dispute.currency, lang),
        "status": _words("dispute.status.{}", dispute.status, lang),
        "status_code": dispute.status,
        "reason": _words("dispute.reason.{}", dispute.reason, lang),
        "evidence_due": views.moment(dispute.evidence_due_by, lang),
        "closed": views.moment(dispute.closed_at, lang),
        "created": views.moment(dispute.created_at, lang),
    }
