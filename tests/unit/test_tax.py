"""Tax rates and VAT on charges, on the whole engine (in-memory fakes), checked against an
independent computation written from the contract (tests/tax_oracle.py, exact fractions).

Given a merchant's rates, plans, items, currencies with 0, 2 and 3 decimals and customers that
may be reverse-charged, when the charge is made, then its subtotal, tax, breakdown and what is
collected are the oracle's; the preview and the notice amount say the same before; refunds are
limited to what was collected."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.api.requests import (
    AccountUpdate,
    CustomerUpdate,
    ItemCreate,
    MandateCreate,
    PlanChangeIn,
    RefundCreate,
    TaxRateCreate,
    TaxRateUpdate,
)
from billing.domain import tax
from billing.domain.errors import InvalidState, NotFound, ValidationFailed
from billing.domain.money import CURRENCY_EXPONENT
from tests import tax_oracle
from tests.support.values import CONSENT
from tests.world import MERCHANT, World

OTHER = "mch_other"
# 0, 2 and 3 decimals: the codebase has JPY and ISK (0) and the usual 2; a 3-decimal currency is
# checked on the pure computation (no such currency is accepted by the API yet).
CURRENCIES = ["EUR", "JPY", "ISK", "GBP"]


def new_rate(world: World, merchant: str = MERCHANT, **body: Any) -> str:
    """A rate of a merchant with a VAT id (a rate needs one)."""
    if not world.api.account.get(merchant).vat_id:
        world.api.account.update(merchant, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    fields = {"display_name": "PVM", "percentage": "21", "country": "LT", **body}
    return world.api.tax_rates.create(merchant, TaxRateCreate.model_validate(fields)).id


def mandate(world: World, plan_id: str, customer_tax: dict[str, Any] | None = None) -> str:
    customer: dict[str, Any] = {"reference": "cust-1"}
    if customer_tax is not None:
        customer["tax"] = customer_tax
    body = {"plan_id": plan_id, "customer": customer, "payment_method": {"gateway": "simulated", "token": "pm_sim_ok"}}
    return world.api.mandates.create(MERCHANT, MandateCreate.model_validate(body | {"consent": CONSENT})).id


# ------------------------------------------------------------------------- the rates API
@pytest.mark.parametrize("percentage", ["1e2", "-1", "100.00001", "101", "21.12345", "", " 21", "21,5", "NaN", "0x10", "+5"])
def test_a_percentage_that_is_not_an_exact_decimal_string_in_range_is_refused(percentage: str) -> None:
    with pytest.raises(ValidationError):
        TaxRateCreate.model_validate({"display_name": "VAT", "percentage": percentage, "country": "LT"})


@pytest.mark.parametrize("percentage", [21, 21.0, 0.1])
def test_a_json_number_is_not_a_percentage(percentage: object) -> None:
    with pytest.raises(ValidationError):
        TaxRateCreate.model_validate_json(f'{{"display_name": "VAT", "percentage": {percentage}, "country": "LT"}}')


def test_a_rate_keeps_its_exact_percentage_and_only_its_name_and_description_change() -> None:
    world = World()
    rate_id = new_rate(world, percentage="21.50", inclusive=False)
    rate = world.api.tax_rates.get(MERCHANT, rate_id)
    assert rate.id.startswith("txr_") and rate.percentage == "21.5" and rate.inclusive is False and rate.active
    renamed = world.api.tax_rates.update(MERCHANT, rate_id, TaxRateUpdate.model_validate({"display_name": "PVM 21,5 %"}))
    assert renamed.display_name == "PVM 21,5 %" and renamed.percentage == "21.5"
    for field, value in (("percentage", "5"), ("inclusive", True), ("country", "DE")):
        with pytest.raises(ValidationError):
            TaxRateUpdate.model_validate({field: value})


def test_unknown_archived_or_another_merchants_rate_cannot_be_attached() -> None:
    world = World()
    theirs = new_rate(world, OTHER)
    archived = new_rate(world)
    world.api.tax_rates.archive(MERCHANT, archived)
    with pytest.raises(InvalidState):
        world.api.tax_rates.archive(MERCHANT, archived)
    with pytest.raises(NotFound):
        world.api.tax_rates.get(MERCHANT, theirs)
    for rate_id in (theirs, archived, "txr_nope", "pln_x"):
        with pytest.raises(ValidationFailed) as plan_error:
            world.plan(tax_rate_id=rate_id)
        assert plan_error.value.param == "tax_rate_id"
        with pytest.raises(ValidationFailed):
            world.api.account.update(MERCHANT, AccountUpdate.model_validate({"default_tax_rate_id": rate_id}))
    mandate_id = world.mandate(world.plan())
    with pytest.raises(ValidationFailed):
        world.api.items.create(
            MERCHANT, mandate_id, ItemCreate.model_validate({"amount": 100, "description": "x", "tax_rate_id": archived})
        )


def test_a_rate_archived_after_it_was_attached_still_applies() -> None:
    world = World()
    rate_id = new_rate(world, percentage="21", inclusive=False)
    plan_id = world.plan(amount=1000, tax_rate_id=rate_id)
    world.api.tax_rates.archive(MERCHANT, rate_id)
    mandate_id = mandate(world, plan_id)
    world.tick()
    [charge] = world.charges(mandate_id)
    assert (charge.subtotal, charge.tax_amount, charge.amount) == (1000, 210, 1210)


@pytest.mark.parametrize("vat_id", ["DE12345678", "LT123", "XX123456789", "DE 136 695 977"])
def test_a_vat_id_not_of_its_eu_country_format_is_refused(vat_id: str) -> None:
    world = World()
    with pytest.raises(ValidationFailed) as error:
        mandate(world, world.plan(), {"type": "business", "vat_id": vat_id})
    assert error.value.param == "customer.tax.vat_id"


def test_a_bank_debits_customer_keeps_an_email_and_a_name() -> None:
    world = World()
    mandate_id = world.mandate(world.plan(), token="pm_sim_sepa_ok")
    with pytest.raises(ValidationFailed):
        world.api.mandates.update_customer(MERCHANT, mandate_id, CustomerUpdate.model_validate({"email": None}))
    changed = world.api.mandates.update_customer(
        MERCHANT, mandate_id, CustomerUpdate.model_validate({"tax": {"type": "business", "vat_id": "DE 136 695 976"}})
    )
    assert changed.customer.tax is not None and changed.customer.tax.vat_id == "DE136695976"
    assert changed.customer.email == "ona@example.lt"


# -------------------------------------------------------------- charges against the oracle
RATE_SPECS = st.lists(
    st.tuples(
        st.sampled_from(["0", "5", "9", "21", "19.6", "7.75", "25.5", "0.0001", "100", "33.3333"]),
        st.booleans(),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    currency=st.sampled_from(CURRENCIES),
    specs=RATE_SPECS,
    plan_amount=st.integers(1, 200_000),
    plan_rate=st.integers(-1, 2),  # -1: no rate on the plan
    default_rate=st.integers(-1, 2),
    items=st.lists(st.tuples(st.integers(1, 50_000), st.integers(-1, 2)), max_size=4),
    buyer=st.sampled_from([None, ("business", "DE136695976"), ("business", "LT100000019"), ("individual", "DE136695976")]),
    seller_vat=st.just("LT100001919017"),  # a merchant with rates has a VAT id (else 422)
)
def test_a_charges_tax_is_the_contracts(
    currency: str,
    specs: list[tuple[str, bool]],
    plan_amount: int,
    plan_rate: int,
    default_rate: int,
    items: list[tuple[int, int]],
    buyer: tuple[str, str] | None,
    seller_vat: str | None,
) -> None:
    world = World()
    rate_ids = [new_rate(world, percentage=p, inclusive=inclusive) for p, inclusive in specs]
    oracle_rates = {rid: tax_oracle.Rate(rid, p, inclusive) for rid, (p, inclusive) in zip(rate_ids, specs, strict=True)}

    def pick(index: int) -> str | None:
        return rate_ids[index % len(rate_ids)] if index >= 0 else None

    account: dict[str, Any] = {"vat_id": seller_vat, "default_tax_rate_id": pick(default_rate)}
    world.api.account.update(MERCHANT, AccountUpdate.model_validate(account))
    plan_id = world.plan(amount=plan_amount, currency=currency, tax_rate_id=pick(plan_rate))
    buyer_tax = {"type": buyer[0], "vat_id": buyer[1]} if buyer else None
    # Given a mandate in its trial (so the items wait for the first charge)
    mandate_id = mandate(world, plan_id, buyer_tax) if buyer_tax else mandate(world, plan_id)
    if not (pick(plan_rate) or pick(default_rate)):
        items = [(amount, -1) for amount, _ in items]  # a charge is all rated or all unrated (else 422)
    for amount, rate in items:
        body = {"amount": amount, "description": "extra", "tax_rate_id": pick(rate)}
        world.api.items.create(MERCHANT, mandate_id, ItemCreate.model_validate(body))
    before = world.get(mandate_id)
    preview = before.upcoming_amounts([(before.next_cycle, before.next_charge_at)])[0]  # type: ignore[list-item]
    # When the charge is made
    world.tick()
    [charge] = world.charges(mandate_id)
    # Then it is what the contract says, computed independently
    plan_r = pick(plan_rate) or pick(default_rate)
    lines = [(plan_amount, oracle_rates.get(plan_r) if plan_r else None)]
    lines += [(amount, oracle_rates.get(pick(rate) or plan_r) if (pick(rate) or plan_r) else None) for amount, rate in items]
    reverse = tax_oracle.is_reverse_charge(seller_vat, buyer[0] if buyer else None, buyer[1] if buyer else None)
    want = tax_oracle.expected(lines, reverse)
    got_breakdown = [
        {"tax_rate_id": g.tax_rate_id, "category": g.category, "taxable_amount": g.taxable_amount, "tax_amount": g.tax_amount}
        for g in charge.tax_breakdown
    ]
    assert (charge.subtotal, charge.tax_amount, charge.amount) == (want["subtotal"], want["tax_amount"], want["amount"])
    assert got_breakdown == want["breakdown"]
    # And every line names its group's rate, the lines sum to the subtotal, the groups to what is collected
    assert sum(line.amount for line in charge.lines) == charge.subtotal
    assert {line.tax_rate_id for line in charge.lines} == {g.tax_rate_id for g in charge.tax_breakdown}
    assert sum(g.taxable_amount + g.tax_amount for g in charge.tax_breakdown) == charge.amount
    # And the preview (the customer's page, the bank debit's notice) said the same amount
    assert preview == charge.amount
    # And refunds go up to what was collected, not further
    assert charge.refundable == charge.amount
    if charge.amount > 0:
        with pytest.raises(ValidationFailed):
            world.api.refunds.create(MERCHANT, charge.id, RefundCreate.model_validate({"amount": charge.amount + 1}))
        world.api.refunds.create(MERCHANT, charge.id, RefundCreate.model_validate({"amount": charge.amount}))


@settings(max_examples=300, deadline=None)
@given(
    exponent=st.sampled_from([0, 2, 3]),
    lines=st.lists(
        st.tuples(st.integers(0, 99_999_999), st.one_of(st.none(), st.tuples(st.integers(0, 3), st.booleans()))),
        min_size=1,
        max_size=6,
    ),
    percentages=st.lists(st.decimals(0, 100, places=4, allow_nan=False, allow_infinity=False), min_size=4, max_size=4),
    reverse=st.booleans(),
)
def test_the_pure_computation_is_the_oracles_in_every_currency(
    exponent: int, lines: list[tuple[int, tuple[int, bool] | None]], percentages: list[Any], reverse: bool
) -> None:
    currency = {0: "JPY", 2: "EUR", 3: "TND"}[exponent]
    texts = [tax.normalized_percentage(format(p, "f")) for p in percentages]

    def rates(spec: tuple[int, bool] | None) -> tuple[tax.RateRef | None, tax_oracle.Rate | None]:
        if spec is None:
            return None, None
        index, inclusive = spec
        rid = f"txr_{index}{'i' if inclusive else 'e'}"
        return tax.RateRef(id=rid, percentage=texts[index], inclusive=inclusive, country="LT"), tax_oracle.Rate(
            rid, format(percentages[index], "f"), inclusive
        )

    ours = [(amount, rates(spec)[0]) for amount, spec in lines]
    theirs = [(amount, rates(spec)[1]) for amount, spec in lines]
    with patch.dict(CURRENCY_EXPONENT, {"TND": 3}):  # a 3-decimal currency, for the computation only
        got = tax.compute(ours, currency, reverse)
    want = tax_oracle.expected(theirs, reverse)
    assert (got.subtotal, got.tax_amount, got.amount) == (want["subtotal"], want["tax_amount"], want["amount"])
    assert [(g.rate.id if g.rate else None, g.category, g.taxable_amount, g.tax_amount) for g in got.groups] == [
        (g["tax_rate_id"], g["category"], g["taxable_amount"], g["tax_amount"]) for g in want["breakdown"]
    ]


def test_reverse_charge_collects_the_net_of_an_inclusive_price() -> None:
    # Given a Lithuanian seller and a German business buyer, a 21 % inclusive plan of 12.10
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    plan_id = world.plan(amount=1210, tax_rate_id=new_rate(world))
    mandate_id = mandate(world, plan_id, {"type": "business", "company_name": "GmbH", "vat_id": "DE136695976"})
    world.tick()
    [charge] = world.charges(mandate_id)
    # Then 10.00 is collected, no tax, category reverse_charge
    assert (charge.subtotal, charge.tax_amount, charge.amount) == (1210, 0, 1000)
    assert [(g.category, g.percentage, g.taxable_amount) for g in charge.tax_breakdown] == [("reverse_charge", "0", 1000)]


def test_a_customer_change_applies_to_charges_made_afterwards() -> None:
    # Given a monthly mandate with a 21 % exclusive plan: 12.10 collected
    world = World()
    world.api.account.update(MERCHANT, AccountUpdate.model_validate({"vat_id": "LT100001919017"}))
    plan_id = world.plan(amount=1000, tax_rate_id=new_rate(world, inclusive=False))
    mandate_id = mandate(world, plan_id)
    world.tick()
    # When the customer becomes a German business
    world.api.mandates.update_customer(
        MERCHANT, mandate_id, CustomerUpdate.model_validate({"tax": {"type": "business", "vat_id": "DE136695976"}})
    )
    world.clock.advance(days=32)
    world.tick()
    # Then the first charge kept its tax and the next one is reverse-charged
    first, second = sorted(world.charges(mandate_id), key=lambda c: c.cycle)
    assert (first.amount, first.tax_amount) == (1210, 210)
    assert (second.amount, second.tax_amount, second.tax_breakdown[0].category) == (1000, 0, "reverse_charge")


def test_a_charge_with_no_rate_has_no_tax_breakdown_group_in_the_api_and_is_category_o_in_its_xml() -> None:
    """The contract's categories are standard, zero and reverse_charge: an untaxed charge shows
    `tax_breakdown: []`, tax 0, subtotal = amount; its invoice too, while its EN 16931 XML declares
    the lines not subject to VAT (category O) and validates. (Charges stored with a `not_subject`
    group read the same way: the domain keeps that group, the API never shows it.)"""
    from billing.shapes import render
    from billing.shapes.einvoice import cii_xml
    from tests.support.einvoice import assert_valid_en16931
    from tests.unit.test_invoices import Books

    books = Books(vat_id=None)
    charge_id = books.paid_charge(amount=1999)
    books.publish()
    [charge] = [c for c in books.world.charges() if c.id == charge_id]
    assert [g.category for g in charge.tax_breakdown] == ["not_subject"]  # stored as before
    shown = render(charge)
    assert (shown["tax_breakdown"], shown["tax_amount"], shown["subtotal"], shown["amount"]) == ([], 0, 1999, 1999)
    invoice = books.invoice(charge_id)
    assert render(invoice)["tax_breakdown"] == [] and render(invoice)["total"] == 1999
    xml = cii_xml(invoice)
    assert_valid_en16931(xml)
    assert b"<ram:CategoryCode>O</ram:CategoryCode>" in xml


def test_a_charge_is_all_rated_or_all_unrated() -> None:
    """EN 16931 allows category O only alone (BR-O-11..14): no charge mixes lines with and without
    a rate. An item with a rate on a mandate whose plan has none is refused; so is a change to a
    plan without a rate while items with a rate wait."""
    world = World()
    rate = new_rate(world)
    unrated = mandate(world, world.plan(amount=1999))
    with pytest.raises(ValidationFailed) as refused:
        world.api.items.create(
            MERCHANT, unrated, ItemCreate.model_validate({"amount": 100, "description": "x", "tax_rate_id": rate})
        )
    assert refused.value.param == "tax_rate_id"
    # An item without a rate is taken (it is not subject to VAT, like its plan)
    world.api.items.create(MERCHANT, unrated, ItemCreate.model_validate({"amount": 100, "description": "x"}))
    # Given a rated mandate holding an item with its own rate
    rated = mandate(world, world.plan(amount=1210, tax_rate_id=rate))
    world.tick()
    world.api.items.create(MERCHANT, rated, ItemCreate.model_validate({"amount": 100, "description": "x", "tax_rate_id": rate}))
    # When it changes to a plan without a rate, Then 422 on plan_id
    with pytest.raises(ValidationFailed) as refused:
        world.api.mandates.change_plan(MERCHANT, rated, PlanChangeIn(plan_id=world.plan(amount=500, name="Plain")))
    assert refused.value.param == "plan_id"
    world.tick()
    assert all(len({line.tax_rate_id is None for line in c.lines}) == 1 for c in world.charges())


def test_an_event_recorded_with_a_not_subject_group_is_delivered_without_it() -> None:
    """Events (and so webhooks) recorded before: their snapshot's `not_subject` group reads as no group."""
    from datetime import datetime, timezone

    from billing.domain.model import Event
    from billing.shapes import render_event

    group = {"tax_rate_id": None, "percentage": "0", "inclusive": True, "category": "not_subject", "taxable_amount": 1999}
    rated = {"tax_rate_id": "txr_1", "percentage": "21", "inclusive": True, "category": "standard", "taxable_amount": 1000}
    at = datetime(2026, 11, 25, tzinfo=timezone.utc)
    for breakdown, shown in (([group | {"tax_amount": 0}], []), ([rated | {"tax_amount": 210}], [rated | {"tax_amount": 210}])):
        charge = {"id": "chg_1", "object": "charge", "amount": 1999, "tax_breakdown": breakdown}
        event = Event(id="evt_1", merchant_id=MERCHANT, type="charge.succeeded", created_at=at, data={"object": charge})
        assert render_event(event)["data"]["object"]["tax_breakdown"] == shown  # type: ignore[index]
