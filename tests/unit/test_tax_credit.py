"""Where carried credit and refunds meet tax (contract "Plan changes", "Tax rates", "Invoices and
credit notes"), on the whole engine in memory, against an independent exact computation.

The rule: credit is money. A prorated plan change grants what the customer paid (tax included)
for the unused part of the plan line; a later charge takes it off what it collects, as a
proration line of the plan's rate whose tax is computed with the charge's (a discount on that
invoice); credit left when the mandate ends is refunded as that same money, and the refund's
credit note splits its tax in the proportions of the invoice it corrects. So whatever the rates
(inclusive, exclusive, reverse-charged, a switch between them), the customer's money is conserved
to the minor unit and the books (invoices less credit notes) are what was collected less what was
refunded, per rate never below zero."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction
from math import floor
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.api.requests import CustomerUpdate, PlanChangeIn
from billing.domain.model import Consent, Customer, Mandate, PaymentMethod, PlanTerms
from billing.domain.tax import RateRef
from billing.service.ports import PageRequest
from tests import tax_oracle
from tests.unit.test_invoices import Books
from tests.world import MERCHANT, refund

GERMAN_BUSINESS = {"type": "business", "company_name": "GmbH", "vat_id": "DE136695976"}


def collected(amount: int, rate: tax_oracle.Rate | None, reverse: bool) -> int:
    return int(tax_oracle.expected([(amount, rate)], reverse)["amount"])  # type: ignore[call-overload]


def credit_taken(plan: int, rate: tax_oracle.Rate | None, reverse: bool, credit: int) -> int:
    """The oracle's rule for a charge of one plan line carrying `credit` (money): the largest
    credit line (as entered, at most the plan's amount) that lowers what is collected by at most
    the credit; returns what it lowers it by. Searched independently (bisection on exact fractions)."""
    whole = collected(plan, rate, reverse)

    def drop(x: int) -> int:
        return whole - int(tax_oracle.expected([(plan, rate), (-x, rate)], reverse)["amount"])  # type: ignore[call-overload]

    low, high = 0, plan
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if drop(middle) <= credit else (low, middle - 1)
    return drop(low)


def paid_mandate(books: Books, plan_id: str, customer: dict[str, Any] | None = None) -> str:
    from billing.api.requests import MandateCreate
    from tests.support.values import CONSENT

    body = {
        "plan_id": plan_id,
        "customer": {"reference": "c", "name": "Ona", "email": "ona@example.lt", **(customer or {})},
        "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"},
        "consent": CONSENT,
    }
    mandate_id = books.world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body)).id
    books.world.tick()
    return mandate_id


def settle_everything(books: Books) -> None:
    for _ in range(4):
        books.world.tick()
    books.publish()


def money_and_books(books: Books, mandate_id: str) -> tuple[int, int]:
    """(collected less refunded at the gateway, invoices less credit notes in the books)."""
    charges = books.world.charges(mandate_id)
    net = sum(c.amount for c in charges if c.status == "succeeded") - sum(c.amount_refunded for c in charges)
    documents = books.invoices(mandate_id=mandate_id)
    return net, sum(d.total for d in documents)


def per_rate_never_below_zero(books: Books, mandate_id: str) -> None:
    for invoice in books.invoices(mandate_id=mandate_id, type="invoice"):
        for group, credited, credited_tax in zip(invoice.tax_breakdown, invoice.credited, invoice.credited_tax, strict=True):
            assert 0 <= credited <= group.taxable_amount + group.tax_amount
            assert 0 <= credited_tax <= group.tax_amount


# ------------------------------------------------------------------------ stories
def test_leftover_credit_of_an_exclusive_plan_is_refunded_with_its_tax() -> None:
    # Given a 100.00 + 21 % VAT monthly plan, paid (121.00 collected)
    books = Books()
    rate = books.rate(inclusive=False)
    world = books.world
    expensive = world.plan(amount=10000, tax_rate_id=rate)
    cheap = world.plan(amount=1000, tax_rate_id=rate, name="Cheap")
    mandate_id = paid_mandate(books, expensive)
    [first] = world.charges(mandate_id)
    assert first.amount == 12100
    # When it changes to a 10.00 + VAT plan half-way through its 30-day period, and is cancelled
    world.clock.advance(days=15)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=cheap, at="now", prorate=True))
    assert world.get(mandate_id).credit == 6050  # half of what was paid, tax included
    world.tick()
    second = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert (second.amount, second.subtotal, second.tax_amount) == (0, 0, 0)  # 12.10 of the credit
    world.api.mandates.cancel(MERCHANT, mandate_id)
    settle_everything(books)
    # Then the 48.40 left is refunded whole (not its net 40.00), its credit note splitting 8.40 of tax
    [leftover] = [r for r in world.api.refunds.page(MERCHANT, PageRequest(100, None)).data if r.metadata.get("credit")]
    assert (leftover.amount, leftover.status) == (4840, "succeeded")
    [note] = books.invoices(mandate_id=mandate_id, type="credit_note")
    assert (note.total, note.tax_amount) == (-4840, -840)
    # And the customer paid 121.00 - 48.40 = 72.60 for half a month of 121.00 and half of 12.10
    assert money_and_books(books, mandate_id) == (7260, 7260)
    per_rate_never_below_zero(books, mandate_id)


def test_credit_from_an_exclusive_plan_is_worth_its_money_on_an_inclusive_plan() -> None:
    # Given 100.00 + 21 % VAT paid (121.00), changed half-way to a 200.00 VAT-inclusive plan
    books = Books()
    world = books.world
    old = world.plan(amount=10000, tax_rate_id=books.rate(inclusive=False))
    new = world.plan(amount=20000, tax_rate_id=books.rate(percentage="9"), name="Gross")
    mandate_id = paid_mandate(books, old)
    world.clock.advance(days=15)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    world.tick()
    # Then the new charge collects 200.00 - 60.50, with 9 % tax on what is collected
    second = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert second.amount == 20000 - 6050
    assert second.tax_amount == round(Fraction(13950 * 9, 109)) and world.get(mandate_id).credit == 0
    settle_everything(books)
    assert money_and_books(books, mandate_id) == (12100 + 13950, 12100 + 13950)


def test_credit_paid_with_vat_keeps_its_worth_when_reverse_charge_starts() -> None:
    # Given 100.00 VAT-inclusive (21 %) paid by a customer who then becomes a German business
    books = Books()
    world = books.world
    rate = books.rate()
    old = world.plan(amount=10000, tax_rate_id=rate)
    new = world.plan(amount=30000, tax_rate_id=rate, name="Big")
    mandate_id = paid_mandate(books, old)
    world.api.mandates.update_customer(MERCHANT, mandate_id, CustomerUpdate.model_validate({"tax": GERMAN_BUSINESS}))
    # When the plan changes half-way to a 300.00 VAT-inclusive plan, now reverse-charged
    world.clock.advance(days=15)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    world.tick()
    # Then the 50.00 paid for the unused half (its VAT included) comes off the net price whole
    second = max(world.charges(mandate_id), key=lambda c: c.cycle)
    net = 30000 - round(Fraction(30000 * 21, 121))
    assert (second.amount, second.tax_amount, second.tax_breakdown[0].category) == (net - 5000, 0, "reverse_charge")
    settle_everything(books)
    assert money_and_books(books, mandate_id) == (10000 + net - 5000,) * 2


def test_a_partial_refund_before_the_change_is_not_credited_again() -> None:
    # Given 100.00 + 21 % VAT paid, 30.00 of it refunded
    books = Books()
    world = books.world
    rate = books.rate(inclusive=False)
    old = world.plan(amount=10000, tax_rate_id=rate)
    new = world.plan(amount=100, tax_rate_id=rate, name="Tiny")
    mandate_id = paid_mandate(books, old)
    [first] = world.charges(mandate_id)
    refund(world, first.id, amount=3000)
    world.tick()
    # When the plan changes with 3/4 of the period left, and the mandate is cancelled
    world.clock.advance(days=7, hours=12)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    # Then the credit is 3/4 of 121.00 less the 30.00 refunded
    assert world.get(mandate_id).credit == 9075 - 3000
    world.tick()
    world.api.mandates.cancel(MERCHANT, mandate_id)
    settle_everything(books)
    # And refunds plus credit used never pass what was paid: 121.00 back in all, less 1.21 used
    first = next(c for c in world.charges(mandate_id) if c.cycle == 1)
    assert first.amount_refunded == 3000 + 9075 - 3000 - 121
    assert money_and_books(books, mandate_id) == (12100 - 9075 + 121,) * 2  # a quarter of 121.00, and 1.21
    per_rate_never_below_zero(books, mandate_id)


# --------------------------------------------------------------------- property
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    currency=st.sampled_from(["EUR", "JPY", "ISK"]),
    old_amount=st.integers(100, 500_000),
    new_amount=st.integers(1, 500_000),
    rate=st.tuples(st.sampled_from(["21", "9", "0", "17.5", "5.25"]), st.booleans()),
    new_rate=st.tuples(st.sampled_from(["21", "9", "0", "17.5", "5.25"]), st.booleans()),
    reverse_later=st.booleans(),
    refunded=st.fractions(0, 1),
    into_seconds=st.integers(0, 30 * 86_400 - 1),
    cancel=st.booleans(),
)
def test_credit_and_refunds_conserve_the_customers_money_and_the_books_whatever_the_rates(
    currency: str,
    old_amount: int,
    new_amount: int,
    rate: tuple[str, bool],
    new_rate: tuple[str, bool],
    reverse_later: bool,
    refunded: Fraction,
    into_seconds: int,
    cancel: bool,
) -> None:
    books = Books()
    world = books.world
    old_id = books.rate(percentage=rate[0], inclusive=rate[1])
    new_id = books.rate(percentage=new_rate[0], inclusive=new_rate[1])
    oracle_old = tax_oracle.Rate(old_id, rate[0], rate[1])
    oracle_new = tax_oracle.Rate(new_id, new_rate[0], new_rate[1])
    old = world.plan(amount=old_amount, currency=currency, tax_rate_id=old_id)
    new = world.plan(amount=new_amount, currency=currency, tax_rate_id=new_id, name="New")
    # Given a paid 30-day cycle, partly refunded
    mandate_id = paid_mandate(books, old)
    [first] = world.charges(mandate_id)
    paid = collected(old_amount, oracle_old, False)
    assert first.amount == paid
    partial = floor(paid * refunded)
    if partial:
        refund(world, first.id, amount=partial)
        world.tick()
    if reverse_later:
        world.api.mandates.update_customer(MERCHANT, mandate_id, CustomerUpdate.model_validate({"tax": GERMAN_BUSINESS}))
    # When the plan changes with proration inside the period
    world.clock.current = first.due_at + timedelta(seconds=into_seconds)
    world.api.mandates.change_plan(MERCHANT, mandate_id, PlanChangeIn(plan_id=new, at="now", prorate=True))
    remaining = 30 * 86_400 - into_seconds
    credit = max(0, min(floor(Fraction(paid * remaining, 30 * 86_400)) - partial, paid - partial))
    changed = world.get(mandate_id)
    assert changed.credit == credit
    # (what the preview and a bank debit's notice say: the same computation, Mandate.price)
    preview = changed.upcoming_amounts([(changed.next_cycle, changed.next_charge_at)])  # type: ignore[list-item]
    world.tick()
    second = max(world.charges(mandate_id), key=lambda c: c.cycle)
    assert preview == [second.amount]
    whole = collected(new_amount, oracle_new, reverse_later)
    taken = credit_taken(new_amount, oracle_new, reverse_later, credit)
    # Then the new charge collects its price less the credit's money (to the unit the rounding allows)
    assert second.amount == whole - taken and world.get(mandate_id).credit == credit - taken
    assert sum(line.amount for line in second.lines) == second.subtotal
    if cancel:
        world.api.mandates.cancel(MERCHANT, mandate_id)
    settle_everything(books)
    # And the customer's money is conserved: every unit of credit was either taken off or given back
    net, in_books = money_and_books(books, mandate_id)
    left = world.get(mandate_id).credit
    assert net == paid - partial - credit + whole + left  # (left: still held by the mandate)
    assert left == (0 if cancel else credit - taken)
    # And the books are what was collected less what was refunded, per rate never below zero
    assert in_books == net
    per_rate_never_below_zero(books, mandate_id)


# -------------------------------------------------------------- the gateway minimum
def test_the_stripe_minimum_is_on_what_is_collected_not_on_the_price_as_entered() -> None:
    """A 0.60 VAT-inclusive price reverse-charged collects 0.50 (Stripe's EUR minimum): 0.05 of
    credit would leave a 0.45 charge Stripe refuses, so it carries on instead."""
    from datetime import datetime, timezone

    from billing.domain.engine import charge_lines

    now = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    mandate = Mandate(
        id="mdt_min",
        merchant_id=MERCHANT,
        plan_id="pln_small",
        terms=PlanTerms(amount=60, currency="EUR", interval="month", tax_rate=RateRef(id="txr_1", percentage="21", country="LT")),
        customer=Customer(reference="c", tax=GERMAN_BUSINESS),  # type: ignore[arg-type]
        seller_vat_id="LT100001919017",
        created_at=now,
        updated_at=now,
    )
    mandate.activate(now, PaymentMethod(gateway="stripe", token="cus_Test12345678:pm_1Q2w3E4r5T6y7U8i"), Consent(accepted_at=now))
    mandate.credit = 5
    assert mandate.price({}, 0).amount == 50
    assert [line.type for line in charge_lines(mandate, 1, [])] == ["plan"]
    assert mandate.upcoming_credit_use([(1, now)]) == [(50, 0)]
    # And credit that covers it all takes it to zero
    mandate.credit = 50
    assert mandate.upcoming_credit_use([(1, now)]) == [(0, 50)]


@settings(max_examples=300, deadline=None)
@given(
    exponent=st.sampled_from([0, 2, 3]),
    plan=st.integers(1, 99_999_999),
    others=st.lists(st.tuples(st.integers(1, 10_000_000), st.booleans()), max_size=3),
    rate=st.tuples(st.sampled_from(["21", "9", "0", "17.5", "5.25", "100", "0.0001"]), st.booleans()),
    other=st.tuples(st.sampled_from(["21", "9", "5"]), st.booleans()),
    reverse=st.booleans(),
    credit=st.integers(0, 120_000_000),
)
def test_credit_comes_off_what_is_collected_in_every_currency(
    exponent: int,
    plan: int,
    others: list[tuple[int, bool]],
    rate: tuple[str, bool],
    other: tuple[str, bool],
    reverse: bool,
    credit: int,
) -> None:
    """The pure rule (domain/tax `compute_with_credit`) against the oracle, with 0, 2 and 3
    decimals (a 3-decimal currency is accepted by the computation only): the credit line is the
    largest within the credit, only the plan's group shrinks, never below zero, and tax is the
    contract's on the lines after credit."""
    from unittest.mock import patch

    from billing.domain import tax
    from billing.domain.money import CURRENCY_EXPONENT

    currency = {0: "JPY", 2: "EUR", 3: "KWD"}[exponent]
    ours = tax.RateRef(id="txr_plan", percentage=tax.normalized_percentage(rate[0]), inclusive=rate[1], country="LT")
    theirs = tax_oracle.Rate("txr_plan", rate[0], rate[1])
    side = tax.RateRef(id="txr_side", percentage=other[0], inclusive=other[1], country="LT")
    side_theirs = tax_oracle.Rate("txr_side", other[0], other[1])
    # lines: the plan, then items of the plan's rate (True) or of another rate (False)
    lines = [(plan, ours)] + [(amount, ours if same else side) for amount, same in others]
    oracle_lines = [(plan, theirs)] + [(amount, theirs if same else side_theirs) for amount, same in others]
    with patch.dict(CURRENCY_EXPONENT, {"KWD": 3}):
        got = tax.compute_with_credit(lines, ours, credit, currency, reverse)
        group = next(g for g in tax.compute(lines, currency, reverse).groups if g.rate == ours)
    whole = int(tax_oracle.expected(oracle_lines, reverse)["amount"])  # type: ignore[call-overload]
    room = plan + sum(amount for amount, same in others if same)

    def collected(x: int) -> int:
        return int(tax_oracle.expected([*oracle_lines, (-x, theirs)], reverse)["amount"])  # type: ignore[call-overload]

    low, high = 0, room if credit > 0 else 0  # no credit, no credit line
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if whole - collected(middle) <= credit else (low, middle - 1)
    want = tax_oracle.expected([*oracle_lines, (-low, theirs)] if low else oracle_lines, reverse)
    assert (got.subtotal, got.tax_amount, got.amount) == (want["subtotal"], want["tax_amount"], want["amount"])
    assert 0 <= whole - got.amount <= credit and all(g.taxable_amount >= 0 for g in got.groups)
    # What the credit could not take is at most a unit short of the credit, or the whole plan group
    assert whole - got.amount >= min(credit, group.collected) - 1
