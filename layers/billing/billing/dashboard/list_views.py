"""The rows of the dashboard's lists of charges, refunds, disputes and invoices, made from domain
objects: money and dates through Babel in the page's language (`views`), statuses in words, the
mandate each belongs to as a link to its page, an invoice's documents as the signed link the API
gives (HTML, `?format=pdf`, `?format=xml`). Never a payment method, its token or a gateway's
reference. Pure: no I/O, nothing rendered here."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.invoices import Invoice
from ..domain.refunds import Refund
from ..service.ports import Links
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
            Cell(charge.id),
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
    try:
        reason = text(lang, f"reason.{refund.reason}")
    except KeyError:
        reason = refund.reason
    return Row(
        refund.id,
        (
            Cell(refund.id),
            Cell(refund.charge_id),
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
            Cell(dispute.id),
            Cell(dispute.charge_id),
            _mandate(dispute.mandate_id, root),
            Cell(views.money(dispute.amount, dispute.currency, lang)),
            Cell(dispute.reason.replace("_", " ")),
            _status("dispute", dispute.status, lang),
            Cell(views.day(dispute.evidence_due_by, lang)),
            Cell(views.moment(dispute.created_at, lang)),
        ),
    )


def invoice_row(invoice: Invoice, lang: Lang, root: str, links: Links) -> Row:
    url = links.invoice_url(invoice)  # the signed link the API's invoice carries
    documents = (
        (
            (text(lang, "lists.html"), url),
            (text(lang, "lists.pdf"), f"{url}?format=pdf"),
            (text(lang, "lists.xml"), f"{url}?format=xml"),
        )
        if url
        else ()
    )
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
