"""Adversarial review of issue 24 (the merchant's books), money: each test is an unlucky merchant's
day (Given/When/Then) that fails on the code as it landed. The books' rule checked throughout: what
the documents say was collected (invoices less credit notes) is what the gateway still holds, and
every succeeded refund is answered by a credit note."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from billing.api.requests import AccountUpdate
from billing.domain.charge import Charge
from billing.domain.errors import ValidationFailed
from billing.domain.refunds import Refund
from billing.service.event_publishing import asks_for_a_document, receipt_request
from billing.shapes import ChargeOut
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund


def handle(books: Books) -> None:
    """The receipt queue's batch of the requests recorded since the last one (no validation: the
    documents' EN 16931 checks are the documents tests')."""
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def documented(books: Books) -> int:
    """What the merchant's documents say it kept: invoices plus (negative) credit notes."""
    return sum(i.total for i in books.invoices())


def succeeded(books: Books, refund_id: str) -> bool:
    stored = books.world.repo.get(Refund, MERCHANT, refund_id)
    return stored is not None and stored.status == "succeeded"


def held(books: Books) -> int:
    return sum(books.world.gateway.held().values())


# ------------------------------------------------------------------------ reversal, collected again
def test_a_charge_collected_again_after_its_reversal_is_documented_again() -> None:
    # Given a bank debit of 10.00, invoiced, returned by the bank (soft code: retried), credited (CN-1)
    books = Books()
    world = books.world
    mandate_id = world.mandate(world.plan(amount=1000, retry_schedule_days=[2]), token="pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    assert sorted((i.number, i.total) for i in books.invoices()) == [("CN-1", -1000), ("R-1", 1000)]
    # When the retry collects the 10.00 again (the same charge succeeds a second time)
    for _ in range(10):
        world.clock.advance(days=1)
        world.tick()
        world.announce()
        stored = world.repo.get(Charge, MERCHANT, charge.id)
        assert stored is not None
        if stored.status == "processing":
            world.apply(world.gateway.settle(charge.id))
        if (stored := world.repo.get(Charge, MERCHANT, charge.id)) is not None and stored.status == "succeeded":
            break
    assert stored is not None and stored.status == "succeeded"
    handle(books)
    # Then the gateway holds 10.00, and the documents say so too (a new invoice, or the credit undone)
    assert held(books) == 1000
    assert documented(books) == held(books)
    # (fix: the second collection is a new invoice of the invoice series, and the charge names it)
    assert sorted((i.number, i.total) for i in books.invoices()) == [("CN-1", -1000), ("R-1", 1000), ("R-2", 1000)]
    shown = books.world.api.charges.get(MERCHANT, charge.id)
    latest = next(i for i in books.invoices() if i.number == "R-2")
    assert (shown.receipt_number, latest.charge_id) == ("R-2", charge.id)
    assert ChargeOut.of(shown).invoice_id == latest.id
    books.every_document_validates()


def test_a_refund_after_a_reversal_and_a_second_collection_gets_its_credit_note() -> None:
    # Given the same charge reversed, credited in full, then collected again
    books = Books()
    world = books.world
    mandate_id = world.mandate(world.plan(amount=1000, retry_schedule_days=[2]), token="pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    for _ in range(10):
        world.clock.advance(days=1)
        world.tick()
        world.announce()
        stored = world.repo.get(Charge, MERCHANT, charge.id)
        if stored is not None and stored.status == "processing":
            world.apply(world.gateway.settle(charge.id))
        stored = world.repo.get(Charge, MERCHANT, charge.id)
        if stored is not None and stored.status == "succeeded":
            break
    handle(books)
    # When the merchant refunds 3.00 of it
    made = refund(world, charge.id, amount=300)
    world.tick()
    handle(books)
    assert succeeded(books, made.id)
    # Then that refund has its credit note (the contract: one per succeeded refund)
    assert [n.refund_id for n in books.invoices(type="credit_note")].count(made.id) == 1
    # (fix: it corrects the invoice of the second collection, and the books follow the money)
    [note] = [n for n in books.invoices(type="credit_note") if n.refund_id == made.id]
    assert note.corrects_number == "R-2" and documented(books) == held(books) == 700
    books.every_document_validates()


def test_a_second_collection_reversed_again_is_credited_on_its_own_invoice() -> None:
    # Given a charge reversed (R-1, CN-1) and collected again
    books = Books()
    world = books.world
    mandate_id = world.mandate(world.plan(amount=1000, retry_schedule_days=[2, 4]), token="pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    for _ in range(10):
        world.clock.advance(days=1)
        world.tick()
        world.announce()
        stored = world.repo.get(Charge, MERCHANT, charge.id)
        if stored is not None and stored.status == "processing":
            world.apply(world.gateway.settle(charge.id))
        stored = world.repo.get(Charge, MERCHANT, charge.id)
        if stored is not None and stored.status == "succeeded":
            break
    handle(books)
    # When the second collection is returned by the bank too (and the request is delivered twice)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    reversed_events = [e for e in books.pending_requests()]
    assert [receipt_request(e).collection for e in reversed_events if e.type == "charge.reversed"] == [2]
    books.receipts.handle([receipt_request(e) for e in reversed_events + reversed_events])
    # Then it is credited on R-2 (CN-1 still credits R-1), and the books hold nothing
    notes = sorted((n.number, n.corrects_number, n.total) for n in books.invoices(type="credit_note"))
    assert notes == [("CN-1", "R-1", -1000), ("CN-2", "R-2", -1000)]
    assert documented(books) == held(books) == 0
    books.every_document_validates()


# -------------------------------------------------------------------------- a refund failing later
def test_a_refund_the_gateway_fails_later_does_not_leave_its_credit_note_standing() -> None:
    # Given a paid card charge of 10.00, refunded in full: CN-1 of -10.00
    books = Books()
    charge_id = books.paid_charge(amount=1000)
    handle(books)
    made = refund(books.world, charge_id, amount=1000)
    books.world.tick()
    handle(books)
    assert documented(books) == held(books) == 0
    # When the gateway reports afterwards that the refund failed (the money stays with the merchant)
    books.world.apply(books.world.gateway.fail_refund_later(made.id))
    handle(books)
    # Then the books follow the money: the merchant holds 10.00 and its documents say so
    assert held(books) == 1000
    assert documented(books) == held(books)
    # (fix: an invoice of the invoice series undoes the credit note, naming it; a redelivery adds nothing)
    [restoring] = [i for i in books.invoices(type="invoice") if i.corrects is not None]
    assert (restoring.number, restoring.corrects_number, restoring.reason, restoring.total) == (
        "R-2",
        "CN-1",
        "refund_failed",
        1000,
    )
    everything = [receipt_request(e) for e in books.world.repo.events(MERCHANT) if asks_for_a_document(e)]
    assert books.receipts.handle(everything).retry_from is None
    assert documented(books) == held(books) and len(books.invoices()) == 3
    books.every_document_validates()


def test_a_second_refund_after_one_failed_later_gets_its_credit_note() -> None:
    # Given a paid card charge of 10.00 refunded in full (CN-1), the refund failed later at the gateway
    books = Books()
    charge_id = books.paid_charge(amount=1000)
    handle(books)
    made = refund(books.world, charge_id, amount=1000)
    books.world.tick()
    handle(books)
    books.world.apply(books.world.gateway.fail_refund_later(made.id))
    handle(books)
    # When the merchant refunds 4.00 again, and it succeeds
    again = refund(books.world, charge_id, amount=400)
    books.world.tick()
    handle(books)
    assert succeeded(books, again.id)
    # Then the customer who got 4.00 back has a credit note for it
    assert again.id in [n.refund_id for n in books.invoices(type="credit_note")]
    assert documented(books) == held(books) == 600
    books.every_document_validates()


# ------------------------------------------------------------------------------ reverse charge
def _refused(update: dict[str, Any]) -> bool:
    try:
        AccountUpdate.model_validate(update)
    except ValidationError:
        return True
    return False


def test_a_seller_vat_id_without_its_country_prefix_never_reverse_charges_a_domestic_business() -> None:
    # Given a Lithuanian merchant that typed its VAT code without the LT prefix (the API took it)
    update = {"vat_id": "100001234567"}
    if _refused(update):
        return  # refused at the edge: nothing to break
    try:
        books = Books(vat_id="100001234567")
    except ValidationFailed:
        return
    # When a Lithuanian business (LT VAT id) pays 12.10 at a 21 % inclusive rate
    buyer = {"type": "business", "company_name": "UAB Pirkėjas", "vat_id": "LT100000019", "address": {"country": "LT"}}
    charge_id = books.paid_charge({"tax": buyer}, amount=1210, tax_rate_id=books.rate())
    charge = books.world.api.charges.get(MERCHANT, charge_id)
    # Then it is a domestic sale: 2.10 of VAT collected, never reverse-charged (which drops the VAT)
    assert [g.category for g in charge.tax_breakdown] == ["standard"]
    assert (charge.amount, charge.tax_amount) == (1210, 210)


@pytest.mark.parametrize("vat_id", ["GR094259216", "gr 094259216"])
def test_a_greek_business_is_reverse_charged_or_its_vat_id_refused(vat_id: str) -> None:
    # Given a Lithuanian VAT-registered merchant and a Greek business customer whose VAT id is
    # written with the ISO country code GR (Greek VAT ids carry EL)
    books = Books()
    buyer = {"type": "business", "company_name": "Hellas AE", "vat_id": vat_id, "address": {"country": "GR"}}
    try:
        charge_id = books.paid_charge({"tax": buyer}, amount=1210, tax_rate_id=books.rate())
    except ValidationFailed:
        return  # refused with a 422: the customer writes EL
    # Then the intra-EU B2B sale is reverse-charged (no Lithuanian VAT collected from a Greek business)
    charge = books.world.api.charges.get(MERCHANT, charge_id)
    assert [g.category for g in charge.tax_breakdown] == ["reverse_charge"]
    assert charge.tax_amount == 0


def test_a_merchant_whose_vat_id_changes_country_charges_its_existing_customers_by_the_new_one() -> None:
    # Given a Lithuanian VAT-registered merchant with a 21 % inclusive plan and a German business
    # customer (reverse-charged: 10.00 collected, no VAT)
    books = Books()
    buyer = {"type": "business", "company_name": "Beispiel GmbH", "vat_id": "DE136695976", "address": {"country": "DE"}}
    charge_id = books.paid_charge({"tax": buyer}, amount=1210, tax_rate_id=books.rate())
    first = books.world.api.charges.get(MERCHANT, charge_id)
    assert [g.category for g in first.tax_breakdown] == ["reverse_charge"] and first.amount == 1000
    handle(books)
    # When the merchant's VAT id becomes a German one (it moved) and the next month is charged
    books.world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "DE123456788"}))
    books.world.clock.advance(days=32)
    books.world.tick()
    handle(books)
    # Then the sale to a German business is domestic: the VAT is charged (the seller's VAT id as it is
    # when the charge is made decides, not the one the mandate was made with)
    latest = max((c for c in books.world.charges(first.mandate_id)), key=lambda c: c.cycle)
    assert latest.cycle == 2 and latest.status == "succeeded"
    assert [g.category for g in latest.tax_breakdown] == ["standard"]
    assert (latest.amount, latest.tax_amount) == (1210, 210)
