"""An invoice names the seller's VAT id its charge was taxed for (`Charge.sold_by`, recorded when
the charge is made), whatever the account's is when the invoice is issued: a bank debit settles
days later, and a charge returned by the bank is collected again with the same amounts."""

from __future__ import annotations

import re
from datetime import timedelta

from billing.api.requests import AccountUpdate
from billing.customer_page import render
from billing.domain.charge import Charge
from billing.domain.model import Mandate
from billing.service.customer_portal import CustomerPortal
from billing.service.event_publishing import receipt_request
from billing.service.links import ApprovalLinks
from billing.service.ports import Changes
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, World

LINKS = ApprovalLinks(b"k" * 32, "https://pay.example")

GERMAN = {"type": "business", "company_name": "Beispiel GmbH", "vat_id": "DE136695976", "address": {"country": "DE"}}


def handle(books: Books) -> None:
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def test_a_debit_collected_again_after_the_vat_id_moved_is_invoiced_again_by_the_seller_it_was_taxed_for() -> None:
    # Given a Lithuanian merchant's reverse-charged debit of a German business, invoiced, then returned
    books = Books()
    world = books.world
    plan = world.plan(amount=1210, tax_rate_id=books.rate(), retry_schedule_days=[2])
    customer = {"reference": "c", "email": "ona@example.lt", "name": "Ona P", "tax": GERMAN}
    mandate_id = world.mandate(plan, token="pm_sim_sepa_ok", customer=customer)
    world.first_debit(mandate_id)
    [charge] = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    # When the merchant's VAT id becomes a German one and the retry collects the same 10.00 again
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "DE123456788"}))
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
    assert stored is not None and stored.status == "succeeded" and stored.amount == 1000
    handle(books)
    # Then the second collection's invoice states the same tax for the same seller VAT id
    invoices = {i.number: i for i in books.invoices()}
    assert set(invoices) >= {"R-1", "R-2"}
    for number in ("R-1", "R-2"):
        assert invoices[number].seller.vat_id == "LT100001919017" and invoices[number].seller.country == "LT"
        assert invoices[number].reverse_charge
    books.every_document_validates()


def test_a_charge_made_before_the_seller_was_recorded_is_invoiced_with_the_accounts_vat_id() -> None:
    # Given a paid charge stored without the seller it was taxed for (made by an earlier version)
    books = Books()
    world = books.world
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    mandate_id = world.mandate(world.plan(amount=1000), token="pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    [charge] = world.charges(mandate_id)
    assert charge.sold_by is not None and charge.sold_by.vat_id == "LT100001919017"
    stored = world.repo.get(Charge, MERCHANT, charge.id)
    assert stored is not None
    stored.sold_by = None
    world.repo.commit(Changes(put=[stored]))
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100000019"}))
    # When it settles and is invoiced, Then the invoice names the account's VAT id as it is then
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    assert books.invoice(charge.id).seller.vat_id == "LT100000019"


def test_the_customers_page_shows_what_each_next_payment_collects_with_the_sellers_vat_id_now() -> None:
    # Given a Lithuanian merchant charging a German business 12.10 VAT-inclusive: reverse-charged, 10.00
    books = Books()
    world = books.world
    charge_id = books.paid_charge({"tax": GERMAN}, amount=1210, tax_rate_id=books.rate())
    mandate_id = world.api.charges.get(MERCHANT, charge_id).mandate_id
    shown = next_payments(world, mandate_id)
    assert shown and set(shown) == {"10.00"}
    # When the merchant's VAT id becomes a German one (not yet saved on the mandate)
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "DE123456788"}))
    # Then the page shows what the dispatcher will take: German VAT included, 12.10
    assert set(next_payments(world, mandate_id)) == {"12.10"}


def next_payments(world: World, mandate_id: str) -> list[str]:
    """The amounts of the page's "next payments" list (en)."""
    portal = CustomerPortal(world.api, LINKS, lambda _: "Sporto klubas")
    view = portal.view(LINKS.token(MERCHANT, mandate_id, world.clock.now() + timedelta(days=30)))
    html = render.mandate_page(view, "en", "n", "/customer/mandates/t", {"approve": "c", "payment_method": "c"})
    assert world.repo.get(Mandate, MERCHANT, mandate_id).seller_vat_id is not None  # type: ignore[union-attr]
    return re.findall(r"<li>[^<]*: (?:€|EUR)\s?([0-9.,]+)</li>", html)
