"""Domain values read and shown at the edges: amounts by their currency's exponent, and a plan
stored in an older shape."""

from __future__ import annotations

from billing.domain.money import format_amount


def test_amounts_are_formatted_by_currency_exponent() -> None:
    # When minor units are shown, Then each currency's exponent places the decimal point
    assert format_amount(1999, "EUR") == "19.99 EUR"
    assert format_amount(5, "USD") == "0.05 USD"
    assert format_amount(500, "JPY") == "500 JPY"


def test_a_plan_stored_with_flat_terms_reads_as_the_same_plan() -> None:
    # Given a plan body as stored before `terms` was its own object (term fields at the top level)
    from billing.domain.model import Plan, PlanTerms

    flat = {
        "id": "pln_1",
        "merchant_id": "mch_1",
        "created_at": "2026-11-01T09:00:00Z",
        "updated_at": "2026-11-01T09:00:00Z",
        "name": "Gold",
        "amount": 1999,
        "currency": "EUR",
        "interval": "month",
        "interval_count": 1,
        "trial_days": 7,
        "retry_schedule_days": [1, 3],
        "status": "active",
        "metadata": {},
    }
    # When it is read
    plan = Plan.model_validate(flat)
    # Then its terms are exactly the stored ones, and it stores back in the new shape
    assert plan.terms == PlanTerms(amount=1999, currency="EUR", interval="month", trial_days=7, retry_schedule_days=(1, 3))
    assert Plan.model_validate(plan.model_dump(mode="json")) == plan
