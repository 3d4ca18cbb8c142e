"""The dashboard's lists of charges, refunds, disputes and invoices through its real routes,
sessions and the API's use cases on the in-memory billing world: each shows the signed-in
merchant's objects and never another's, filters (status; an invoice's type), pages with the API's
cursors (an altered cursor is a 400 page, never a 500), links each row to its mandate and an
invoice to its documents' signed link, in English and Lithuanian; a viewer reads them all, the
CSP is on every one, and no payment method's token or gateway reference is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate, RefundCreate
from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.domain.invoices import Invoice
from billing.service.event_publishing import asks_for_a_document, receipt_request
from billing.service.invoices import Invoices, Invoicing
from billing.service.links import ApprovalLinks
from billing.service.ports import PageRequest
from billing.service.receipts import ReceiptNumbering, ReceiptRequests
from devtools.gateway import HttpResponse
from tests.support.values import CONSENT
from tests.unit.test_dashboard_security import OWNER, World, owner_b, viewer
from tests.world import MERCHANT

LISTS = ("charges", "refunds", "disputes", "invoices")
KIND = {"charges": "charge", "refunds": "refund", "disputes": "dispute", "invoices": "invoice"}


@pytest.fixture
def world() -> World:
    return World()


def listed(body: str, kind: str) -> list[str]:
    return re.findall(rf'data-{kind}-id="([a-z]+_[A-Za-z0-9_]+)"', body)


def text_of(body: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", body)).replace("\u00a0", " ")


def older_link(body: str) -> str:
    return unescape(re.search(r'href="([^"]+)" rel="next"', body).group(1))  # type: ignore[union-attr]


def paid(world: World, merchant: str = MERCHANT, token_: str = "pm_sim_ok", amount: int = 1999) -> tuple[str, str]:
    """A mandate of `merchant` whose first charge was attempted: (mandate id, charge id)."""
    plan = PlanCreate.model_validate({"name": "Gold", "amount": amount, "currency": "EUR", "interval": "month"})
    plan_id = world.billing.api.plans.create(merchant, plan).id
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "cust-1", "name": "Ona", "email": "ona@example.lt"},
        "payment_method": {"gateway": "simulated", "token": token_},
        "consent": CONSENT,
    }
    mandate_id = world.billing.api.mandates.create(merchant, MandateCreate.model_validate(body)).id
    world.billing.tick()
    [charge] = _charges(world, merchant, mandate_id)
    return mandate_id, charge


def _charges(world: World, merchant: str, mandate_id: str) -> list[str]:
    return [c.id for c in world.billing.api.charges.page(merchant, PageRequest(100), mandate_id=mandate_id).data]


def refund(world: World, charge_id: str, amount: int, merchant: str = MERCHANT) -> str:
    made = world.billing.api.refunds.create(merchant, charge_id, RefundCreate.model_validate({"amount": amount}))
    world.billing.tick()  # the refund reaches the gateway: succeeded
    return made.id


def dispute(world: World, charge_id: str, status: str = "needs_response") -> str:
    world.billing.apply(world.billing.gateway.open_dispute(charge_id, reason="fraudulent", amount=300, status=status))
    found = [d for d in _disputes(world) if d.charge_id == charge_id]
    return found[0].id


def _disputes(world: World, merchant: str = MERCHANT) -> list[Any]:
    return world.billing.api.disputes.page(merchant, PageRequest(100)).data


def issue_documents(world: World) -> list[Invoice]:
    """The receipts function behind the event stream: each succeeded charge's invoice and each
    succeeded refund's credit note issued (as the publisher feeds it)."""
    billing = world.billing
    numbering = ReceiptNumbering(billing.repo, billing.clock)
    receipts = ReceiptRequests(
        billing.repo, numbering, billing.notification_queue, Invoicing(billing.repo, billing.clock, billing.ids, numbering)
    )
    events = sorted((e for e in billing.repo.events(MERCHANT) if asks_for_a_document(e)), key=lambda e: e.created_at)
    assert receipts.handle([receipt_request(e) for e in events]).retry_from is None
    return Invoices(billing.repo).page(MERCHANT, PageRequest(100)).data


@dataclass
class Books:
    """Merchant A's objects (the world's merchant) beside merchant B's."""

    world: World
    a_mandate: str
    a_charge: str
    a_refund: str
    a_dispute: str
    a_documents: list[Invoice]

    def request(self, method: str, path: str, session: str | None = None) -> HttpResponse:
        return self.world.request(method, path, session)


@pytest.fixture
def books(world: World) -> Books:
    return make_books(world)


def make_books(world: World) -> Books:
    """Merchant A: a paid charge, partly refunded (its credit note issued) and disputed; merchant
    B: a paid charge, refunded and disputed too."""
    seller = {"legal_name": "UAB Sporto klubas", "address": "Gedimino pr. 1\nVilnius", "company_code": "304567890"}
    world.billing.api.account.update(MERCHANT, AccountUpdate.model_validate(seller))
    a_mandate, a_charge = paid(world)
    a_refund = refund(world, a_charge, 500)
    a_dispute = dispute(world, a_charge)
    a_documents = issue_documents(world)
    _, b_charge = paid(world, "mch_b")
    refund(world, b_charge, 100, "mch_b")
    world.billing.apply(world.billing.gateway.open_dispute(b_charge, amount=200))
    return Books(world, a_mandate, a_charge, a_refund, a_dispute, a_documents)


# ----------------------------------------------------------------------------- whose objects


@pytest.mark.parametrize("name", LISTS)
def test_each_list_shows_the_merchants_objects_and_never_anothers(books: Books, name: str) -> None:
    # Given merchant A's charge, refund, dispute and documents, and merchant B's own
    kind = KIND[name]
    a = {
        "charges": [books.a_charge],
        "refunds": [books.a_refund],
        "disputes": [books.a_dispute],
        "invoices": [d.id for d in books.a_documents],
    }[name]
    # When A's owner reads the list, Then exactly A's, each linked to its mandate
    page = books.request("GET", f"/dashboard/{name}", OWNER)
    assert page.status == 200 and sorted(listed(page.body, kind)) == sorted(a) and a
    assert f'href="/dashboard/mandates/{books.a_mandate}"' in page.body
    # And B's owner never sees any of A's
    theirs = books.request("GET", f"/dashboard/{name}", owner_b(books.world))
    assert theirs.status == 200 and not set(listed(theirs.body, kind)) & set(a)
    if name != "invoices":  # B's documents were not issued in this world
        assert listed(theirs.body, kind)
    # And no payment method's token nor a gateway's reference is in the page
    assert "pm_sim" not in page.body and "dp_sim" not in page.body and "pi_" not in page.body


def test_the_lists_show_amounts_statuses_and_dates_in_words(books: Books) -> None:
    charges = text_of(books.request("GET", "/dashboard/charges", OWNER).body)
    assert "€19.99" in charges and "succeeded" in charges and "€5.00" in charges  # the amount refunded
    refunds = text_of(books.request("GET", "/dashboard/refunds", OWNER).body)
    assert "€5.00" in refunds and "requested by the customer" in refunds and "succeeded" in refunds
    disputes = text_of(books.request("GET", "/dashboard/disputes", OWNER).body)
    assert "€3.00" in disputes and "needs response" in disputes and "fraudulent" in disputes
    invoices = text_of(books.request("GET", "/dashboard/invoices", OWNER).body)
    assert "€19.99" in invoices and "-€5.00" in invoices and "credit note" in invoices


def test_an_invoice_row_links_to_the_documents_signed_link_the_api_gives(books: Books) -> None:
    # Given A's invoice and credit note, When the owner reads the invoices
    page = books.request("GET", "/dashboard/invoices", OWNER).body
    # Then each row links to its document's signed link (HTML, PDF, XML), as the API's `url`
    links = ApprovalLinks(b"k" * 32, "https://localhost")
    for document in books.a_documents:
        row = page.split(f'data-invoice-id="{document.id}"')[1].split("</tr>")[0]
        url = links.invoice_url(document)
        assert url and document.number in row
        hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', row)]
        assert {url, f"{url}?format=pdf", f"{url}?format=xml"} <= set(hrefs)


# ----------------------------------------------------------------------------- filters


def test_charges_filter_by_status(world: World) -> None:
    _, ok = paid(world)
    _, retrying = paid(world, token_="pm_sim_insufficient_funds")
    assert listed(world.request("GET", "/dashboard/charges?status=succeeded", OWNER).body, "charge") == [ok]
    assert listed(world.request("GET", "/dashboard/charges?status=retrying", OWNER).body, "charge") == [retrying]
    assert listed(world.request("GET", "/dashboard/charges?status=failed", OWNER).body, "charge") == []
    # An unknown status is no filter (never an error page)
    unknown = world.request("GET", "/dashboard/charges?status=%3Cx%3E", OWNER)
    assert unknown.status == 200 and set(listed(unknown.body, "charge")) == {ok, retrying}
    assert "&lt;x&gt;" not in unknown.body and "<x>" not in unknown.body


def test_disputes_filter_by_status(world: World) -> None:
    _, first = paid(world)
    _, second = paid(world)
    open_ = dispute(world, first)
    won = dispute(world, second, status="won")
    assert listed(world.request("GET", "/dashboard/disputes?status=needs_response", OWNER).body, "dispute") == [open_]
    assert listed(world.request("GET", "/dashboard/disputes?status=won", OWNER).body, "dispute") == [won]
    assert listed(world.request("GET", "/dashboard/disputes?status=lost", OWNER).body, "dispute") == []


def test_invoices_filter_by_type(books: Books) -> None:
    documents = {d.type: d.id for d in books.a_documents}
    only = books.request("GET", "/dashboard/invoices?type=credit_note", OWNER).body
    assert listed(only, "invoice") == [documents["credit_note"]]
    assert listed(books.request("GET", "/dashboard/invoices?type=invoice", OWNER).body, "invoice") == [documents["invoice"]]
    assert 'value="credit_note" selected' in only


def test_refunds_filter_by_status(books: Books) -> None:
    assert listed(books.request("GET", "/dashboard/refunds?status=succeeded", OWNER).body, "refund") == [books.a_refund]
    assert listed(books.request("GET", "/dashboard/refunds?status=failed", OWNER).body, "refund") == []


# ----------------------------------------------------------------------------- cursors


def test_charges_page_with_cursors_keeping_the_filter(world: World) -> None:
    made = [paid(world)[1] for _ in range(23)]
    first = world.request("GET", "/dashboard/charges?status=succeeded", OWNER)
    newest = listed(first.body, "charge")
    assert len(newest) == 20 and 'rel="next"' in first.body
    older = older_link(first.body)
    assert "status=succeeded" in older and "cursor=" in older
    second = world.request("GET", older, OWNER)
    assert second.status == 200 and 'rel="next"' not in second.body
    assert sorted(newest + listed(second.body, "charge")) == sorted(made)
    assert 'href="/dashboard/charges?status=succeeded">Newest' in second.body


@pytest.mark.parametrize("name", LISTS)
def test_an_altered_cursor_is_a_400_page_not_a_500(world: World, name: str) -> None:
    broken = world.request("GET", f"/dashboard/{name}?cursor=not-a-cursor", OWNER)
    assert broken.status == 400 and "cursor" in broken.body and 'role="alert"' in broken.body
    assert broken.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# ----------------------------------------------------------------------------- who, how, in which language


@pytest.mark.parametrize("name", LISTS)
def test_a_viewer_reads_every_list_with_the_csp_and_no_one_signed_out_does(books: Books, name: str) -> None:
    page = books.request("GET", f"/dashboard/{name}", viewer(books.world))
    assert page.status == 200 and listed(page.body, KIND[name])
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<script" not in page.body and "style=" not in page.body
    assert f'href="/dashboard/{name}" aria-current="page"' in page.body  # the navigation's link marks it
    signed_out = books.request("GET", f"/dashboard/{name}")
    assert signed_out.status == 303 and signed_out.headers["Location"] == "/dashboard/sign-in"


def test_the_lists_speak_lithuanian(books: Books) -> None:
    charges = books.request("GET", "/dashboard/charges?lang=lt", OWNER)
    shown = text_of(charges.body)
    assert 'lang="lt"' in charges.body and "Mokėjimai" in shown and "19,99 €" in shown and "pavyko" in shown
    assert 'href="/dashboard/charges?lang=en"' in charges.body  # the language switch stays on the list
    disputes = text_of(books.request("GET", "/dashboard/disputes?lang=lt", OWNER).body)
    assert "3,00 €" in disputes and "laukia atsakymo" in disputes
    invoices = text_of(books.request("GET", "/dashboard/invoices?lang=lt", OWNER).body)
    assert "kreditinė sąskaita" in invoices and "-5,00 €" in invoices and "Peržiūrėti" in invoices
    refunds = text_of(books.request("GET", "/dashboard/refunds?lang=lt", OWNER).body)
    assert "Grąžinimai" in refunds and "5,00 €" in refunds and "kliento prašymu" in refunds


@pytest.mark.parametrize("path", ["refunds", "disputes", "invoices", "charges?status=failed"])
def test_a_cursor_of_another_list_or_filter_is_a_400_page(world: World, path: str) -> None:
    # Given a cursor of the charges' list (no filter)
    for _ in range(21):
        paid(world)
    cursor = older_link(world.request("GET", "/dashboard/charges", OWNER).body).split("cursor=")[1]
    # When it is sent to another list, or the same list with another filter, Then a 400 page says so
    sent = world.request("GET", f"/dashboard/{path}{'&' if '?' in path else '?'}cursor={cursor}", OWNER)
    assert sent.status == 400 and "The cursor belongs to a different list or filter." in unescape(sent.body)
