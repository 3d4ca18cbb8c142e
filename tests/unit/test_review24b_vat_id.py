"""Second adversarial review of issue 24: the seller's VAT id the dispatcher reads each run
(decision 186) against the documents issued later (decision 190: seller copied at issue)."""

from __future__ import annotations

from billing.api.requests import AccountUpdate
from billing.domain.charge import Charge
from billing.domain.tax import vat_prefix
from billing.service.event_publishing import receipt_request
from tests.unit.test_invoices import Books
from tests.world import MERCHANT

GERMAN = {"type": "business", "company_name": "Beispiel GmbH", "vat_id": "DE136695976", "address": {"country": "DE"}}


def handle(books: Books) -> None:
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def test_a_bank_debit_taxed_for_one_seller_vat_id_is_invoiced_by_that_seller_when_the_id_moves_before_it_settles() -> None:
    # Given a Lithuanian merchant debiting a German business 12.10 VAT-inclusive: reverse-charged, 10.00
    books = Books()
    world = books.world
    plan = world.plan(amount=1210, tax_rate_id=books.rate())
    customer = {"reference": "c", "email": "ona@example.lt", "name": "Ona P", "tax": GERMAN}
    mandate_id = world.mandate(plan, token="pm_sim_sepa_ok", customer=customer)
    world.first_debit(mandate_id)
    [charge] = world.charges(mandate_id)
    assert (charge.status, charge.amount, charge.tax_breakdown[0].category) == ("processing", 1000, "reverse_charge")
    # When the merchant's VAT id becomes a German one while the debit is still at the bank (days)
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "DE123456788"}))
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    stored = world.repo.get(Charge, MERCHANT, charge.id)
    assert stored is not None and stored.status == "succeeded"
    # Then its invoice names the seller the tax was computed for: a reverse charge between a seller
    # and a buyer of two member states (not a German seller reverse-charging a German buyer)
    invoice = books.invoice(charge.id)
    assert invoice.reverse_charge
    assert vat_prefix(invoice.seller.vat_id) != vat_prefix(invoice.buyer.tax.vat_id if invoice.buyer.tax else None)
    assert invoice.seller.vat_id == "LT100001919017"


def test_the_schedule_previews_what_will_be_charged_after_the_seller_vat_id_moves_country() -> None:
    # Given a Lithuanian merchant charging a German business 12.10 VAT-inclusive: reverse-charged, 10.00
    books = Books()
    world = books.world
    charge_id = books.paid_charge({"tax": GERMAN}, amount=1210, tax_rate_id=books.rate())
    mandate_id = world.api.charges.get(MERCHANT, charge_id).mandate_id
    # When the merchant's VAT id becomes a German one, and the merchant previews the next charges
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "DE123456788"}))
    mandate, upcoming = world.api.mandates.schedule(MERCHANT, mandate_id, 1)
    [(previewed, _)] = mandate.upcoming_credit_use(upcoming)  # what GET …/schedule shows
    # Then the preview is what the next charge takes (decision 159: one computation)
    world.clock.advance(days=32)
    world.tick()
    latest = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert latest.cycle == 2 and latest.amount == 1210
    assert previewed == latest.amount
