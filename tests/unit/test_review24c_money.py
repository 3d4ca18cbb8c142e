"""Third adversarial review of issue 24 (the merchant's books), money: carried corrections
(decisions 207-209). Each test is an unlucky merchant's day (Given/When/Then) that fails on the
code as reviewed. The books' rule: what the documents say was collected (invoices less credit
notes) is what the gateway still holds, per charge."""

from __future__ import annotations

from billing.domain.charge import Charge
from billing.domain.invoices import Invoice, carried, charge_invoice_id
from billing.domain.model import PaymentMethod
from billing.domain.refunds import Refund
from billing.service.messages import ReceiptRequest
from billing.service.ports import Changes
from tests.unit.test_invoices import Books
from tests.unit.test_review24b_money import collect_again, debit, documented, handle
from tests.world import MERCHANT


def late_refund(books: Books, charge: Charge, amount: int) -> Refund:
    """A refund sent before the bank returned the debit, reported succeeded after it."""
    world = books.world
    now = world.clock.now()
    late = Refund(
        id=world.ids.new("rfd"),
        merchant_id=MERCHANT,
        created_at=now,
        updated_at=now,
        charge_id=charge.id,
        mandate_id=charge.mandate_id,
        amount=amount,
        currency="EUR",
        status="succeeded",
        payment_method=PaymentMethod(gateway="simulated", token="pm_sim_sepa_ok"),
    )
    world.repo.commit(Changes(put=[late]))
    ask = ReceiptRequest(merchant_id=MERCHANT, charge_id=charge.id, correction="refund", source_id=late.id)
    assert books.receipts.handle([ask]).retry_from is None
    return late


def test_a_refund_carried_whole_taken_by_the_next_collection_then_failing_is_invoiced_back() -> None:
    # Given a 10.00 bank debit returned whole by the bank (CN-1 of 10.00)
    books = Books()
    world = books.world
    charge = debit(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    # And a 3.00 refund sent before the return, reported succeeded after it: carried whole on R-1
    late = late_refund(books, charge, 300)
    first = world.repo.get(Invoice, MERCHANT, charge_invoice_id(charge.id))
    assert first is not None and carried(first) == 300
    # And the retry collects 10.00 again, whose invoice gives the carried 3.00 back (CN-2)
    collect_again(world, charge.id)
    handle(books)
    assert documented(books) == 700
    # When that refund fails at the gateway afterwards (the 3.00 never left: it is the merchant's)
    late.fail_later("refund_declined", world.clock.now())
    world.repo.commit(Changes(put=[late]))
    failed = ReceiptRequest(merchant_id=MERCHANT, charge_id=charge.id, correction="refund_failed", source_id=late.id)
    for _ in range(2):  # and again (a redelivery)
        assert books.receipts.handle([failed]).retry_from is None
    # Then the documents say what the merchant holds: 10.00 - 10.00 + 10.00 (no refund left)
    assert documented(books) == 1000
    books.every_document_validates()
