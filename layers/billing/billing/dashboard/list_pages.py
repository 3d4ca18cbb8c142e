"""The dashboard's read-only lists: charges (filter by status), refunds (by status), disputes (by
status) and invoices with credit notes (by type), newest first, paged with the API's cursors; and
the page of one charge, refund or dispute, which their rows link to.

Each list reads through `routes.signed_in()` (an owner or a viewer) and the same use case as the
API's list endpoint, in the signed-in user's merchant only: another merchant's objects are never
listed. An unknown filter value is no filter; a cursor altered, or of another list, is a 400 page.
A row shows what the API's object shows, never a payment method's token or a gateway's reference;
an invoice's row links to the document's signed link the API gives (HTML, PDF, XML).

A charge's, refund's or dispute's page reads it with the use case behind `GET /v1/<list>/{id}`
(another merchant's id, or an unknown one, is the 404 page) and what belongs to it with the API's
filtered lists (`charge_id`): a bounded read, one page of each. A charge's page shows its attempts
with the gateway's reference (what the merchant looks the payment up by at the gateway) and the
payment method by its last four digits only, never its token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, get_args

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from ..domain.errors import InvalidRequest, NotFound, ValidationFailed
from ..domain.invoices import Invoice, InvoiceType
from ..domain.lifecycles import ChargeStatus, DisputeStatus, RefundStatus
from ..service.ports import Links, Page, PageRequest
from ..service.use_cases import UseCases
from . import list_views, render, routes
from .list_views import Row
from .mandate_pages import PAGE_SIZE, use_cases
from .routes import Session
from .texts import Lang, text

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


@dataclass(frozen=True)
class Listing:
    """One list: its path under /dashboard, the query parameter it filters by and the values that
    filter, how the API's use case pages it, its columns and how an object becomes a row."""

    path: str
    kind: str  # the rows' data-<kind>-id
    filter: str  # "status" or "type"
    values: tuple[str, ...]
    label: str  # the text key of a filter value: label.format(value)
    read: Callable[[UseCases, str, PageRequest, str | None], Page[Any]]
    columns: tuple[str, ...]
    row: Callable[[Any, Lang, str, Links], Row]


LISTS: dict[str, Listing] = {
    "charges": Listing(
        "charges",
        "charge",
        "status",
        get_args(ChargeStatus),
        "charge.status.{}",
        lambda api, merchant, page, status: api.charges.page(merchant, page, status=status),
        (
            "lists.id",
            "lists.mandate",
            "lists.cycle",
            "lists.amount",
            "lists.status",
            "lists.due",
            "lists.refunded",
            "lists.failure",
        ),
        list_views.charge_row,
    ),
    "refunds": Listing(
        "refunds",
        "refund",
        "status",
        get_args(RefundStatus),
        "refund.status.{}",
        lambda api, merchant, page, status: api.refunds.page(merchant, page, status=status),
        ("lists.id", "lists.charge", "lists.mandate", "lists.amount", "lists.reason", "lists.status", "lists.created"),
        list_views.refund_row,
    ),
    "disputes": Listing(
        "disputes",
        "dispute",
        "status",
        get_args(DisputeStatus),
        "dispute.status.{}",
        lambda api, merchant, page, status: api.disputes.page(merchant, page, status=status),
        (
            "lists.id",
            "lists.charge",
            "lists.mandate",
            "lists.amount",
            "lists.reason",
            "lists.status",
            "lists.evidence_due",
            "lists.created",
        ),
        list_views.dispute_row,
    ),
    "invoices": Listing(
        "invoices",
        "invoice",
        "type",
        get_args(InvoiceType),
        "invoice.type.{}",
        lambda api, merchant, page, kind: api.invoices.page(merchant, page, type=kind),
        ("lists.number", "lists.type", "lists.mandate", "lists.customer", "lists.total", "lists.issued", "lists.document"),
        list_views.invoice_row,
    ),
}


def listing(name: str) -> Response[str]:
    spec = LISTS[name]
    session = routes.signed_in()
    lang = routes.lang()
    chosen, cursor = routes.query(spec.filter, 40), routes.query("cursor", 2048)
    value = chosen if chosen in spec.values else None  # an unknown value is no filter (never an error page)
    api, merchant = use_cases(), session.user.merchant_id
    links = routes.deps().approval_links(routes.base_url())
    error, rows = "", []
    result: Page[Any] | None = None
    try:
        result = spec.read(api, merchant, PageRequest(PAGE_SIZE, cursor or None), value)
        rows = [spec.row(obj, lang, routes.root(), links) for obj in result.data]
    except (InvalidRequest, ValidationFailed) as refused:  # a cursor altered or of another list
        error = text(lang, "lists.bad_query", message=refused.message)
    page_html = render.page(
        "list.html",
        routes.frame(spec.path, session),
        heading=text(lang, f"{spec.path}.heading"),
        path=spec.path,
        kind=spec.kind,
        filter=spec.filter,
        filter_label=text(lang, f"lists.{spec.filter}"),
        chosen=value or "",
        values=[(v, text(lang, spec.label.format(v))) for v in spec.values],
        columns=[text(lang, c) for c in spec.columns],
        rows=rows,
        error=error,
        **routes.pager(f"{routes.root()}/{spec.path}", result, cursor, **{spec.filter: value or ""}),  # "" is no filter
    )
    return routes.respond(400 if error else 200, page_html)


@router.get("/dashboard/charges")
def charges() -> Response[str]:
    return listing("charges")


@router.get("/dashboard/refunds")
def refunds() -> Response[str]:
    return listing("refunds")


@router.get("/dashboard/disputes")
def disputes() -> Response[str]:
    return listing("disputes")


@router.get("/dashboard/invoices")
def invoices() -> Response[str]:
    return listing("invoices")


# ----------------------------------------------------------------------------- one object's page
DETAIL_READ = 100  # a charge's refunds, disputes and documents: one page of each (a handful in practice)
MAX_ID = 100  # an object id is far shorter: a longer one is unknown, never a key sent to the table


def bounded(object_id: str, what: str) -> str:
    if len(object_id) > MAX_ID:
        raise NotFound(f"No such {what}.", "id")
    return object_id


def detail(session: Session, path: str, template: str, **context: Any) -> Response[str]:
    """One object's page: the navigation marks its list, the language switch stays on it."""
    lang = routes.lang()
    shell = routes.frame(path.split("/")[0], session)
    shell = replace(shell, switch_href=f"{routes.root()}/{path}?lang={'lt' if lang == 'en' else 'en'}")
    return routes.respond(200, render.page(template, shell, **context))


def documents_of(api: UseCases, merchant: str, charge_id: str) -> list[Invoice]:
    """A charge's invoices and credit notes, oldest first (as they were issued)."""
    found = api.invoices.page(merchant, PageRequest(DETAIL_READ), charge_id=charge_id).data
    return sorted(found, key=lambda d: (d.issued_at, d.type != "invoice", d.number))


@router.get("/dashboard/charges/<charge_id>")
def charge(charge_id: str) -> Response[str]:
    session = routes.signed_in()
    api, merchant = use_cases(), session.user.merchant_id
    found = api.charges.get(merchant, bounded(charge_id, "charge"))  # another merchant's or unknown: NotFound, the 404 page
    read = PageRequest(DETAIL_READ)
    view = list_views.charge_detail(
        found,
        api.refunds.page(merchant, read, charge_id=found.id).data,
        api.disputes.page(merchant, read, charge_id=found.id).data,
        documents_of(api, merchant, found.id),
        routes.lang(),
        routes.root(),
        routes.deps().approval_links(routes.base_url()),
    )
    return detail(session, f"charges/{found.id}", "charge.html", charge=view)


@router.get("/dashboard/refunds/<refund_id>")
def refund(refund_id: str) -> Response[str]:
    session = routes.signed_in()
    api, merchant = use_cases(), session.user.merchant_id
    found = api.refunds.get(merchant, bounded(refund_id, "refund"))  # another merchant's or unknown: the 404 page
    notes = [d for d in documents_of(api, merchant, found.charge_id) if d.refund_id == found.id]
    links = routes.deps().approval_links(routes.base_url())
    view = list_views.refund_detail(found, notes, routes.lang(), routes.root(), links)
    return detail(session, f"refunds/{found.id}", "refund.html", refund=view)


@router.get("/dashboard/disputes/<dispute_id>")
def dispute(dispute_id: str) -> Response[str]:
    session = routes.signed_in()
    found = use_cases().disputes.get(
        session.user.merchant_id, bounded(dispute_id, "dispute")
    )  # another merchant's or unknown: 404
    view = list_views.dispute_detail(found, routes.lang(), routes.root())
    return detail(session, f"disputes/{found.id}", "dispute.html", dispute=view)
