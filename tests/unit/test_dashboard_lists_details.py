"""The dashboard's page of one charge, refund or dispute through its real routes, sessions and the
API's use cases on the in-memory billing world: each shows what the API's object shows (a charge's
attempts with their outcome, decline code, time and gateway reference, its lines and tax
breakdown, its refunds, disputes and documents linked), in English and Lithuanian, to an owner
and a viewer, with the CSP; another merchant's id or an unknown one is the 404 page; the lists
link their rows to these pages; no payment method's token is ever in a page (last four digits
only). And `routes.pager`, the paged tables' two links."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest

from billing.api.requests import AccountUpdate, MandateCreate, PlanCreate, TaxRateCreate
from billing.dashboard import list_views
from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.dashboard.routes import pager
from billing.domain.disputes import Dispute
from billing.service.links import ApprovalLinks
from billing.service.ports import Page, PageRequest
from tests.support.values import CONSENT
from tests.unit.test_dashboard_lists import (
    OWNER,
    Books,
    _charges,
    make_books,
    owner_b,
    paid,
    refund,
    text_of,
    viewer,
)
from tests.unit.test_dashboard_security import World
from tests.world import MERCHANT

KINDS = ("charges", "refunds", "disputes")
SECRETS = ("pm_sim", "pm_sim_ok", "token")  # a payment method's token, or the word naming it


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def books(world: World) -> Books:
    return make_books(world)


def ids_of(books: Books) -> dict[str, str]:
    return {"charges": books.a_charge, "refunds": books.a_refund, "disputes": books.a_dispute}


def hrefs(body: str) -> set[str]:
    return {unescape(h) for h in re.findall(r'href="([^"]+)"', body)}


def no_secret(body: str) -> None:
    for secret in SECRETS:
        assert secret not in body, secret


# ----------------------------------------------------------------------------- a charge


def test_a_charges_page_shows_its_attempts_money_refunds_disputes_and_documents(books: Books) -> None:
    # Given A's charge, collected, refunded in part (its credit note issued) and disputed
    charge = books.world.billing.api.charges.get(MERCHANT, books.a_charge)
    # When the owner opens its page
    page = books.request("GET", f"/dashboard/charges/{books.a_charge}", OWNER)
    shown = text_of(page.body)
    # Then its amount, status, mandate, attempt (outcome, time, gateway reference) and lines
    assert page.status == 200
    assert "€19.99" in shown and "succeeded" in shown and "Cycle" in shown
    assert f"/dashboard/mandates/{books.a_mandate}" in hrefs(page.body)
    [attempt] = charge.attempts
    assert attempt.gateway_reference and attempt.gateway_reference in shown and "Gateway reference" in shown
    assert page.body.count("data-attempt=") == 1
    assert "plan" in shown and "Subtotal" in shown
    # And what was refunded and disputed, each linked to its own page
    assert "€5.00" in shown and "€3.00" in shown
    assert {f"/dashboard/refunds/{books.a_refund}", f"/dashboard/disputes/{books.a_dispute}"} <= hrefs(page.body)
    # And its invoice and credit note, linked to their documents' signed links (as the API gives)
    links = ApprovalLinks(b"k" * 32, "https://localhost")
    for document in books.a_documents:
        url = links.invoice_url(document)
        assert url and document.number in shown and {url, f"{url}?format=pdf", f"{url}?format=xml"} <= hrefs(page.body)
    # And how it was paid by the last four digits only: never the payment method's token
    assert "Card ending in 4242" in shown
    no_secret(page.body)
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<script" not in page.body and "style=" not in page.body
    assert 'href="/dashboard/charges" aria-current="page"' in page.body  # the navigation marks the charges


def test_a_declined_charges_page_shows_each_attempts_decline_code_and_the_next_attempt(world: World) -> None:
    # Given a charge softly declined (retrying)
    _, charge_id = paid(world, token_="pm_sim_insufficient_funds")
    # When its page is read
    page = world.request("GET", f"/dashboard/charges/{charge_id}", OWNER)
    shown = text_of(page.body)
    # Then the attempt is declined with its code, the charge retrying, with its next attempt
    assert page.status == 200 and "declined" in shown and "insufficient_funds" in shown
    assert "retrying" in shown and "Next attempt" in shown and "No refunds." in shown and "No document issued yet." in shown
    no_secret(page.body)


def test_a_taxed_charges_page_shows_its_tax_breakdown(world: World) -> None:
    # Given a merchant with a VAT id whose plan carries a 21 % rate included in the price
    world.billing.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    rate = world.billing.api.tax_rates.create(
        MERCHANT, TaxRateCreate.model_validate({"display_name": "PVM", "percentage": "21", "country": "LT"})
    )
    plan = PlanCreate.model_validate(
        {"name": "Gold", "amount": 12100, "currency": "EUR", "interval": "month", "tax_rate_id": rate.id}
    )
    plan_id = world.billing.api.plans.create(MERCHANT, plan).id
    body = {
        "plan_id": plan_id,
        "customer": {"reference": "cust-tax"},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate_id = world.billing.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id
    world.billing.tick()
    [charge_id] = _charges(world, MERCHANT, mandate_id)
    # When its page is read, in English and in Lithuanian
    english = text_of(world.request("GET", f"/dashboard/charges/{charge_id}", OWNER).body)
    lithuanian = text_of(world.request("GET", f"/dashboard/charges/{charge_id}?lang=lt", OWNER).body)
    # Then the breakdown: the rate, its category, taxable amount and tax (121.00 = 100.00 + 21.00)
    assert "Tax breakdown" in english and "21 %" in english and "standard rate" in english
    assert "€100.00" in english and "€21.00" in english and "€121.00" in english
    assert "Mokesčių suvestinė" in lithuanian and "standartinis tarifas" in lithuanian and "21,00 €" in lithuanian


# ----------------------------------------------------------------------------- a refund, a dispute


def test_a_refunds_page_shows_its_amount_reason_status_charge_and_credit_note(books: Books) -> None:
    page = books.request("GET", f"/dashboard/refunds/{books.a_refund}", OWNER)
    shown = text_of(page.body)
    assert page.status == 200 and "€5.00" in shown and "requested by the customer" in shown and "succeeded" in shown
    assert {f"/dashboard/charges/{books.a_charge}", f"/dashboard/mandates/{books.a_mandate}"} <= hrefs(page.body)
    [note] = [d for d in books.a_documents if d.type == "credit_note"]
    url = ApprovalLinks(b"k" * 32, "https://localhost").invoice_url(note)
    assert url and note.number in shown and f"{url}?format=pdf" in hrefs(page.body)
    [invoice] = [d for d in books.a_documents if d.type == "invoice"]
    assert invoice.number not in shown  # only the refund's own document
    no_secret(page.body)
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_a_failed_refunds_page_shows_its_failure(world: World) -> None:
    _, charge_id = paid(world, token_="pm_sim_refund_fails")
    refund_id = refund(world, charge_id, 100)
    shown = text_of(world.request("GET", f"/dashboard/refunds/{refund_id}", OWNER).body)
    assert "failed" in shown and "refund_declined" in shown


def test_a_disputes_page_shows_its_amount_reason_status_and_charge(books: Books) -> None:
    page = books.request("GET", f"/dashboard/disputes/{books.a_dispute}", OWNER)
    shown = text_of(page.body)
    assert page.status == 200 and "€3.00" in shown and "fraudulent" in shown and "needs response" in shown
    assert "Closed" not in shown
    assert {f"/dashboard/charges/{books.a_charge}", f"/dashboard/mandates/{books.a_mandate}"} <= hrefs(page.body)
    assert "dp_sim" not in page.body  # answered in the gateway's tools: the page does not name its reference
    no_secret(page.body)
    lithuanian = text_of(books.request("GET", f"/dashboard/disputes/{books.a_dispute}?lang=lt", OWNER).body)
    assert "Ginčas" in lithuanian and "3,00 €" in lithuanian and "sukčiavimas" in lithuanian and "laukia atsakymo" in lithuanian


def test_a_closed_disputes_page_shows_when_it_closed(world: World) -> None:
    _, charge_id = paid(world)
    world.billing.apply(world.billing.gateway.open_dispute(charge_id, reason="duplicate"))
    world.billing.apply(world.billing.gateway.dispute_moves("dp_sim_1", "won"))
    [dispute] = world.billing.api.disputes.page(MERCHANT, PageRequest(10)).data
    shown = text_of(world.request("GET", f"/dashboard/disputes/{dispute.id}", OWNER).body)
    assert dispute.closed_at is not None and "won" in shown and "Closed" in shown and "duplicate" in shown


def test_a_disputes_view_says_when_evidence_is_due_in_the_pages_language() -> None:
    at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    dispute = Dispute(
        id="dsp_1",
        merchant_id=MERCHANT,
        created_at=at,
        updated_at=at,
        charge_id="chg_1",
        mandate_id="mdt_1",
        amount=1999,
        currency="EUR",
        reason="product_not_received",
        evidence_due_by=datetime(2026, 3, 9, 23, 59, tzinfo=UTC),
        gateway_reference="dp_ref",
    )
    english = list_views.dispute_detail(dispute, "en", "/dashboard")
    lithuanian = list_views.dispute_detail(dispute, "lt", "/dashboard")
    assert english["evidence_due"].startswith("9 Mar 2026") and english["reason"] == "product not received"
    assert "2026-03-09" in lithuanian["evidence_due"] and lithuanian["amount"] == "19,99\xa0€"
    assert english["charge_href"] == "/dashboard/charges/chg_1" and english["closed"] == ""


# ----------------------------------------------------------------------------- whose, who


@pytest.mark.parametrize("kind", KINDS)
def test_another_merchants_or_an_unknown_id_is_the_404_page(books: Books, kind: str) -> None:
    # Given A's charge, refund and dispute, When B's owner asks for them by id, Then 404, nothing of A's shown
    own = ids_of(books)[kind]
    theirs = books.request("GET", f"/dashboard/{kind}/{own}", owner_b(books.world))
    assert theirs.status == 404 and own not in theirs.body and "€" not in theirs.body
    assert theirs.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    # And an unknown id (or one that is no id at all) is the same 404 page, never a 500
    for unknown in (f"{own[:4]}unknown", "%3Cscript%3E", "x" * 300):
        missing = books.request("GET", f"/dashboard/{kind}/{unknown}", OWNER)
        assert missing.status == 404 and "<script>" not in missing.body


@pytest.mark.parametrize("kind", KINDS)
def test_a_viewer_reads_each_page_and_no_one_signed_out_does(books: Books, kind: str) -> None:
    path = f"/dashboard/{kind}/{ids_of(books)[kind]}"
    page = books.request("GET", path, viewer(books.world))
    assert page.status == 200 and page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert '<form method="post" action="/dashboard/mandates' not in page.body  # a page to read: no action on it
    assert f'href="{path}?lang=lt"' in page.body  # the language switch stays on the page
    no_secret(page.body)
    signed_out = books.request("GET", path)
    assert signed_out.status == 303 and signed_out.headers["Location"] == "/dashboard/sign-in"


@pytest.mark.parametrize("kind", KINDS)
def test_the_lists_rows_link_to_their_pages(books: Books, kind: str) -> None:
    page = books.request("GET", f"/dashboard/{kind}", OWNER)
    assert f"/dashboard/{kind}/{ids_of(books)[kind]}" in hrefs(page.body)
    if kind != "charges":  # a refund's or dispute's charge links to the charge's page
        assert f"/dashboard/charges/{books.a_charge}" in hrefs(page.body)


def test_a_charges_page_speaks_lithuanian(books: Books) -> None:
    page = books.request("GET", f"/dashboard/charges/{books.a_charge}?lang=lt", OWNER)
    shown = text_of(page.body)
    assert 'lang="lt"' in page.body and "Mokėjimas" in shown and "19,99 €" in shown and "pavyko" in shown
    assert "Bandymai" in shown and "kreditinė sąskaita" in shown and "baigiasi 4242" in shown


# ----------------------------------------------------------------------------- the pager


def test_the_pager_links_older_rows_keeping_the_filters_and_the_newest_once_paged() -> None:
    more, last = Page(["a"], True, "c2"), Page(["b"], False, None)
    assert pager("/d/charges", more, "", status="failed", plan_id=None) == {
        "next_href": "/d/charges?status=failed&cursor=c2",
        "first_href": "",
    }
    assert pager("/d/charges", last, "c2", status="failed") == {"next_href": "", "first_href": "/d/charges?status=failed"}
    assert pager("/d/charges", last, "c2") == {"next_href": "", "first_href": "/d/charges"}
    assert pager("/d/charges", None, "bad") == {"next_href": "", "first_href": "/d/charges"}  # a cursor refused
    assert pager("/d/x", Page([], True, "a&b"), "", q="ona@example.lt")["next_href"] == "/d/x?q=ona%40example.lt&cursor=a%26b"


def test_the_pager_of_a_page_with_two_tables_names_its_cursor_and_keeps_an_anchor() -> None:
    # Given a mandate's page, whose timeline pages on `events` and ends its links with "#timeline"
    more, last = Page(["a"], True, "e2"), Page(["b"], False, None)
    # Then the older events link carries the cursor under that name, with the anchor
    assert pager("/d/mandates/m1", more, "", param="events", anchor="#timeline") == {
        "next_href": "/d/mandates/m1?events=e2#timeline",
        "first_href": "",
    }
    # And the newest events link (once paged) keeps the anchor too
    assert pager("/d/mandates/m1", last, "e1", param="events", anchor="#timeline") == {
        "next_href": "",
        "first_href": "/d/mandates/m1#timeline",
    }
