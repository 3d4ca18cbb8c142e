"""Second adversarial review of issue 24 (the merchant's books), money: credit as money, documents
per collection and a failed refund's undoing invoice. Each test is an unlucky merchant's day
(Given/When/Then) that fails on the code as reviewed. The books' rule checked throughout: what the
documents say was collected (invoices less credit notes) is what the gateway still holds."""

from __future__ import annotations

from billing.domain.charge import Charge
from billing.domain.refunds import Refund
from billing.service.event_publishing import receipt_request
from tests.unit.test_invoices import Books
from tests.unit.test_tax_credit import per_rate_never_below_zero
from tests.world import MERCHANT, World, refund


def handle(books: Books) -> None:
    assert books.receipts.handle([receipt_request(e) for e in books.pending_requests()]).retry_from is None


def documented(books: Books) -> int:
    return sum(i.total for i in books.invoices())


def held(books: Books) -> int:
    return sum(books.world.gateway.held().values())


def collect_again(world: World, charge_id: str) -> Charge:
    """Days pass until the reversed bank debit's retry is collected (settled as it goes)."""
    for _ in range(12):
        world.clock.advance(days=1)
        world.tick()
        world.announce()
        stored = world.repo.get(Charge, MERCHANT, charge_id)
        if stored is not None and stored.status == "processing":
            world.apply(world.gateway.settle(charge_id))
        stored = world.repo.get(Charge, MERCHANT, charge_id)
        if stored is not None and stored.status == "succeeded":
            return stored
    raise AssertionError("never collected again")


def debit(books: Books, amount: int = 1000, **plan: object) -> Charge:
    world = books.world
    mandate_id = world.mandate(world.plan(amount=amount, retry_schedule_days=[2, 4], **plan), token="pm_sim_sepa_ok")
    world.first_debit(mandate_id)
    (charge,) = world.charges(mandate_id)
    world.apply(world.gateway.settle(charge.id))
    handle(books)
    return charge


# ------------------------------------------------------------------ a refund, then the bank returns the debit
def test_a_debit_refunded_in_part_then_returned_whole_and_collected_again_keeps_the_books_on_the_money() -> None:
    # Given a 10.00 bank debit, of which the merchant refunded 3.00 (CN-1)
    books = Books()
    world = books.world
    charge = debit(books, tax_rate_id=books.rate())
    made = refund(world, charge.id, amount=300)
    world.tick()
    handle(books)
    assert (stored := world.repo.get(Refund, MERCHANT, made.id)) is not None and stored.status == "succeeded"
    # When the customer's bank returns the whole 10.00 debit (a SEPA return is of the debit's amount)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    # And the retry collects the 10.00 again
    collect_again(world, charge.id)
    handle(books)
    # Then the documents say what the gateway holds: 10.00 + 10.00 - 3.00 - 10.00 = 7.00
    assert held(books) == 700
    assert documented(books) == held(books)
    # And every document is valid EN 16931 and no rate of an invoice is credited below zero
    books.every_document_validates()
    per_rate_never_below_zero(books, charge.mandate_id)


def test_a_refund_failing_after_its_debit_was_returned_leaves_the_books_on_the_money() -> None:
    # Given a 10.00 bank debit, 3.00 of it refunded (CN-1), the whole debit then returned by the bank
    books = Books()
    world = books.world
    charge = debit(books, tax_rate_id=books.rate())
    made = refund(world, charge.id, amount=300)
    world.tick()
    handle(books)
    world.apply(world.gateway.reverse(charge.id, code="mandate_revoked"))  # not collected again
    handle(books)
    # When the 3.00 refund fails at the gateway afterwards (that money is the merchant's again)
    world.apply(world.gateway.fail_refund_later(made.id))
    handle(books)
    # Then the merchant holds 10.00 - 3.00 - 10.00 + 3.00 = 0, and its documents say so
    assert held(books) == 0
    assert documented(books) == held(books)
    books.every_document_validates()
    per_rate_never_below_zero(books, charge.mandate_id)


def test_leftover_credit_is_refunded_at_the_rate_it_was_paid_with_not_at_the_newest_invoices() -> None:
    from billing.api.requests import ItemCreate, PlanChangeIn
    from billing.service.ports import PageRequest
    from tests.unit.test_tax_credit import paid_mandate, settle_everything

    # Given a 12.10 plan, VAT (21 %) included, paid for a month
    books = Books()
    world = books.world
    standard, zero = books.rate(), books.rate(percentage="0")
    old = world.plan(amount=1210, tax_rate_id=standard)
    new = world.plan(amount=121, tax_rate_id=standard, name="Small")
    mandate_id = paid_mandate(books, old)
    # When it changes half-way to a 1.21 plan (6.05 of credit, money paid with 21 % VAT), the next
    # charge carries a 10.00 zero-rated item (credit comes off the plan's rate only: 1.21 used)
    world.clock.advance(days=15)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    world.api.items.create(MERCHANT, mandate_id, ItemCreate(amount=1000, description="Book", tax_rate_id=zero))
    world.tick()
    second = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert second.amount == 1000 and world.get(mandate_id).credit == 605 - 121
    # And the mandate is cancelled: the 4.84 left is refunded
    world.api.mandates.cancel(MERCHANT, mandate_id)
    settle_everything(books)
    refunds = world.api.refunds.page(MERCHANT, PageRequest(100, None)).data
    [leftover] = [r for r in refunds if r.metadata.get("credit")]
    assert (leftover.amount, leftover.status) == (484, "succeeded")
    # Then its credit note gives back the 21 % VAT that money carried (4.84 = 4.00 + 0.84), not a
    # zero-rated 4.84 off the newest invoice (the merchant would keep paying VAT on money returned)
    [note] = [n for n in books.invoices(mandate_id=mandate_id, type="credit_note") if n.refund_id == leftover.id]
    assert [(g.percentage, g.taxable_amount, g.tax_amount) for g in note.tax_breakdown] == [("21", -400, -84)]


def test_leftover_credit_whose_refund_fails_later_is_not_lost_silently() -> None:
    from billing.api.requests import PlanChangeIn
    from billing.service.ports import PageRequest
    from tests.unit.test_tax_credit import paid_mandate, settle_everything

    # Given 100.00 + 21 % VAT paid, changed half-way to a 1.00 + VAT plan (60.50 of credit), cancelled
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
    [leftover] = [r for r in world.api.refunds.page(MERCHANT, PageRequest(100, None)).data if r.metadata.get("credit")]
    assert leftover.status == "succeeded" and leftover.amount == 6050 - 121
    # When the gateway fails that refund afterwards (the money is the merchant's again)
    world.apply(world.gateway.fail_refund_later(leftover.id))
    settle_everything(books)
    # Then the customer's credit does not vanish: it is refunded again, or reported as forfeited
    # (contract "Plan changes": credit never vanishes silently)
    again = [r for r in world.api.refunds.page(MERCHANT, PageRequest(100, None)).data if r.metadata.get("credit")]
    forfeited = [e for e in world.repo.events(MERCHANT) if e.type == "mandate.credit_forfeited"]
    assert len(again) > 1 or forfeited


def test_leftover_credit_whose_refunds_keep_failing_is_reported_forfeited_after_the_last_try() -> None:
    from billing.api.requests import PlanChangeIn
    from billing.domain.wind_up import MAX_CREDIT_REFUND_FAILURES
    from billing.service.ports import PageRequest
    from tests.unit.test_tax_credit import paid_mandate, settle_everything

    # Given an ended mandate's 59.29 of leftover credit, refunded
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

    # When every one of its refunds fails at the gateway after succeeding
    for _ in range(MAX_CREDIT_REFUND_FAILURES + 1):
        for made in credit_refunds():
            if made.status == "succeeded":
                world.apply(world.gateway.fail_refund_later(made.id))
        settle_everything(books)
    # Then it was refunded again, each time in full, until the last try; then reported forfeited once
    made = credit_refunds()
    assert [r.amount for r in made] == [6050 - 121] * MAX_CREDIT_REFUND_FAILURES
    assert all(r.status == "failed" for r in made)
    forfeited = [e for e in world.repo.events(MERCHANT) if e.type == "mandate.credit_forfeited"]
    assert [(e.data["amount"], e.data["currency"]) for e in forfeited] == [(6050 - 121, "EUR")]
    assert world.get(mandate_id).credit == 0


def test_a_refund_succeeding_after_the_bank_returned_its_debit_is_carried_and_released_when_it_fails() -> None:
    from billing.domain.invoices import Invoice, carried, charge_invoice_id
    from billing.domain.model import PaymentMethod
    from billing.service.messages import ReceiptRequest
    from billing.service.ports import Changes

    # Given a 10.00 bank debit returned whole by the bank (CN-1 of 10.00)
    books = Books()
    world = books.world
    charge = debit(books)
    world.apply(world.gateway.reverse(charge.id, code="insufficient_funds"))
    handle(books)
    # When a 3.00 refund sent before the return is reported succeeded after it (R-1 holds nothing)
    now = world.clock.now()
    late = Refund(
        id=world.ids.new("rfd"),
        merchant_id=MERCHANT,
        created_at=now,
        updated_at=now,
        charge_id=charge.id,
        mandate_id=charge.mandate_id,
        amount=300,
        currency="EUR",
        status="succeeded",
        payment_method=PaymentMethod(gateway="simulated", token="pm_sim_sepa_ok"),
    )
    world.repo.commit(Changes(put=[late]))
    ask = ReceiptRequest(merchant_id=MERCHANT, charge_id=charge.id, correction="refund", source_id=late.id)
    for _ in range(2):  # and again (a redelivery)
        assert books.receipts.handle([ask]).retry_from is None

    def first() -> Invoice:
        invoice = world.repo.get(Invoice, MERCHANT, charge_invoice_id(charge.id))
        assert invoice is not None
        return invoice

    # Then no credit note goes below R-1, and the 3.00 given back is carried, once
    assert documented(books) == 0 and carried(first()) == 300
    # And when that refund fails afterwards (the 3.00 is the merchant's again), nothing is carried
    late.fail_later("refund_declined", world.clock.now())
    world.repo.commit(Changes(put=[late]))
    failed = ReceiptRequest(merchant_id=MERCHANT, charge_id=charge.id, correction="refund_failed", source_id=late.id)
    for _ in range(2):
        assert books.receipts.handle([failed]).retry_from is None
    assert carried(first()) == 0
    # So the collection after is invoiced with nothing taken off: 10.00 - 10.00 + 10.00
    collect_again(world, charge.id)
    handle(books)
    assert documented(books) == 1000 == held(books)


def test_a_merchants_own_refund_dressed_as_a_credit_refund_is_not_given_back_as_credit() -> None:
    from billing.service.ports import PageRequest
    from tests.unit.test_tax_credit import paid_mandate, settle_everything

    # Given a paid charge, cancelled, that the merchant refunds itself with the metadata the
    # wind-up's credit refunds carry ({"credit": "true"}, reason "other")
    books = Books()
    world = books.world
    mandate_id = paid_mandate(books, world.plan(amount=10000, tax_rate_id=books.rate(inclusive=False)))
    world.api.mandates.cancel(MERCHANT, mandate_id)
    [charge] = world.charges(mandate_id)
    refund(world, charge.id, amount=2000, reason="other", metadata={"credit": "true"})
    settle_everything(books)
    [own] = world.api.refunds.page(MERCHANT, PageRequest(100, None)).data
    assert own.status == "succeeded"
    # When the gateway fails that refund afterwards
    world.apply(world.gateway.fail_refund_later(own.id))
    settle_everything(books)
    # Then nothing is refunded again and the ended mandate holds no credit: only a leftover-credit
    # refund the wind-up made is retried (the merchant's metadata is not proof)
    assert len(world.api.refunds.page(MERCHANT, PageRequest(100, None)).data) == 1
    assert world.get(mandate_id).credit == 0
