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


def test_two_returns_of_one_debit_collected_three_times_with_refunds_between_keep_the_books() -> None:
    from tests.unit.test_review24b_money import held
    from tests.unit.test_tax_credit import per_rate_never_below_zero
    from tests.world import refund

    # Given a 10.00 bank debit, 3.00 of it refunded (CN-1)
    books = Books()
    world = books.world
    charge = debit(books, tax_rate_id=books.rate())
    refund(world, charge.id, amount=300)
    world.tick()
    handle(books)
    # When the bank returns it whole and the retry collects it again, 2.00 of which is refunded
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    collect_again(world, charge.id)
    handle(books)
    assert documented(books) == held(books) == 700
    refund(world, charge.id, amount=200)
    world.tick()
    handle(books)
    assert documented(books) == held(books) == 500
    # And the bank returns that second collection whole too, and the retry collects it a third time
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    collect_again(world, charge.id)
    handle(books)
    # Then the documents say what the gateway holds: 10 - 3 - 10 + 10 - 2 - 10 + 10 = 5.00
    assert held(books) == 500
    assert documented(books) == held(books)
    books.every_document_validates()
    per_rate_never_below_zero(books, charge.mandate_id)


def handle_twice(books: Books) -> None:
    """The receipt queue's batch, then each of its messages delivered again, one by one."""
    from billing.service.event_publishing import receipt_request

    asks = [receipt_request(e) for e in books.pending_requests()]
    assert books.receipts.handle(asks).retry_from is None
    for ask in asks:
        assert books.receipts.handle([ask]).retry_from is None
    assert books.receipts.handle(asks).retry_from is None


def test_every_receipt_message_delivered_again_issues_nothing_twice_through_returns_and_refunds() -> None:
    from tests.unit.test_review24b_money import held
    from tests.unit.test_tax_credit import per_rate_never_below_zero
    from tests.world import refund

    # Given a 10.00 bank debit, 3.00 refunded, returned whole, collected again, 2.00 refunded,
    # returned whole again and collected a third time: every receipt message delivered 3 times
    books = Books()
    world = books.world
    mandate_id = world.mandate(
        world.plan(amount=1000, tax_rate_id=books.rate(), retry_schedule_days=[2, 4]), token="pm_sim_sepa_ok"
    )
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle_twice(books)
    for amount in (300, 200):
        refund(world, charge.id, amount=amount)
        world.tick()
        handle_twice(books)
        reversal = world.gateway.reverse(charge.id, code="insufficient_funds")
        world.apply(reversal)
        world.apply(reversal)  # the gateway's event delivered again
        handle_twice(books)
        collect_again(world, charge.id)
        handle_twice(books)
    # Then the documents say what the gateway holds, each issued once, and all valid
    assert held(books) == 500
    assert documented(books) == held(books)
    numbers = [i.number for i in books.invoices()]
    assert len(numbers) == len(set(numbers))
    books.every_document_validates()
    per_rate_never_below_zero(books, charge.mandate_id)


def test_leftover_credit_refunds_failing_three_times_keep_the_books_on_the_money() -> None:
    from billing.api.requests import PlanChangeIn
    from billing.domain.wind_up import MAX_CREDIT_REFUND_FAILURES
    from billing.service.ports import PageRequest
    from tests.unit.test_review24b_money import held
    from tests.unit.test_tax_credit import paid_mandate, per_rate_never_below_zero, settle_everything

    # Given an ended mandate's leftover credit, refunded
    books = Books()
    world = books.world
    rate = books.rate(inclusive=False)
    mandate_id = paid_mandate(books, world.plan(amount=10000, tax_rate_id=rate))
    world.clock.advance(days=15)
    tiny = world.plan(amount=100, tax_rate_id=rate, name="Tiny")
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=tiny, at="now", prorate=True))
    world.tick()
    world.api.mandates.cancel(MERCHANT, mandate_id)
    settle_everything(books)

    def credit_refunds() -> list[Refund]:
        return [r for r in world.api.refunds.page(MERCHANT, PageRequest(100, None)).data if r.metadata.get("credit")]

    # When each of its refunds fails at the gateway after succeeding (each report delivered twice)
    for _ in range(MAX_CREDIT_REFUND_FAILURES + 1):
        for made in credit_refunds():
            if made.status == "succeeded":
                failed = world.gateway.fail_refund_later(made.id)
                world.apply(failed)
                world.apply(failed)
        settle_everything(books)
        # Then after each the documents say what the gateway holds
        assert documented(books) == held(books)
    # And the forfeited credit is nowhere: not on the mandate, not refunded
    assert world.get(mandate_id).credit == 0
    assert all(r.status == "failed" for r in credit_refunds())
    books.every_document_validates()
    per_rate_never_below_zero(books, mandate_id)


def test_a_dispute_lost_over_a_refunded_debit_then_the_refund_failing_keeps_the_books() -> None:
    from tests.unit.test_review24b_money import held
    from tests.unit.test_tax_credit import per_rate_never_below_zero
    from tests.world import refund

    # Given a 10.00 bank debit, 3.00 refunded (CN-1)
    books = Books()
    world = books.world
    charge = debit(books, tax_rate_id=books.rate())
    made = refund(world, charge.id, amount=300)
    world.tick()
    handle_twice(books)
    # When the customer's bank takes the whole 10.00 back by a dispute (lost at once): 3.00 carried
    world.apply(world.gateway.open_dispute(charge.id, status="lost"))
    handle_twice(books)
    first = world.repo.get(Invoice, MERCHANT, charge_invoice_id(charge.id))
    assert first is not None and carried(first) == 300
    # And the 3.00 refund fails at the gateway afterwards (each report delivered twice)
    failed = world.gateway.fail_refund_later(made.id)
    world.apply(failed)
    world.apply(failed)
    handle_twice(books)
    # Then the documents say what the gateway holds (10 - 10 = 0), and nothing is carried any more
    assert held(books) == 0
    assert documented(books) == held(books)
    first = world.repo.get(Invoice, MERCHANT, charge_invoice_id(charge.id))
    assert first is not None and carried(first) == 0
    books.every_document_validates()
    per_rate_never_below_zero(books, charge.mandate_id)
