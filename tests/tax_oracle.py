"""An independent tax computation, written from the contract's "Tax rates" section alone (shares
no code with `billing`): exact rational arithmetic (fractions), half-up rounding by integers.

- Lines are grouped by rate; each group's tax is computed once on the group's sum, rounded half
  up to the minor unit: inclusive `sum * p / (100 + p)`, exclusive `sum * p / 100` (added).
- Reverse charge (seller has a VAT id, buyer a business with a VAT id of another EU member state):
  tax 0, category reverse_charge, collected = the net price (an inclusive price less its tax).
- A line with no rate: not subject to VAT (EN 16931 category O), tax 0, its own group.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

EU = {
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "EL",
    "ES",
    "FI",
    "FR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
}


@dataclass(frozen=True)
class Rate:
    id: str
    percentage: str  # the decimal string as the merchant sent it
    inclusive: bool


def half_up(value: Fraction) -> int:
    """Round a non-negative-or-negative rational to the nearest integer, halves away from zero."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    return sign * ((2 * magnitude.numerator + magnitude.denominator) // (2 * magnitude.denominator))


def is_reverse_charge(seller_vat_id: str | None, buyer_type: str | None, buyer_vat_id: str | None) -> bool:
    if not seller_vat_id or buyer_type != "business" or not buyer_vat_id:
        return False
    theirs, ours = buyer_vat_id[:2].upper(), seller_vat_id[:2].upper()
    return theirs in EU and theirs != ours


def expected(lines: list[tuple[int, Rate | None]], reverse: bool) -> dict[str, object]:
    order: list[str | None] = []
    sums: dict[str | None, int] = {}
    rates: dict[str | None, Rate | None] = {}
    for amount, rate in lines:
        key = rate.id if rate else None
        if key not in sums:
            order.append(key)
            sums[key] = 0
            rates[key] = rate
        sums[key] += amount
    breakdown = []
    collected = 0
    for key in order:
        total, rate = sums[key], rates[key]
        if rate is None:
            breakdown.append({"tax_rate_id": None, "category": "not_subject", "taxable_amount": total, "tax_amount": 0})
            collected += total
            continue
        p = Fraction(rate.percentage)
        inclusive_tax = half_up(Fraction(total) * p / (100 + p)) if rate.inclusive else 0
        net = total - inclusive_tax
        if reverse:
            breakdown.append({"tax_rate_id": rate.id, "category": "reverse_charge", "taxable_amount": net, "tax_amount": 0})
            collected += net
            continue
        tax = inclusive_tax if rate.inclusive else half_up(Fraction(total) * p / 100)
        breakdown.append(
            {"tax_rate_id": rate.id, "category": "zero" if p == 0 else "standard", "taxable_amount": net, "tax_amount": tax}
        )
        collected += net + tax
    return {
        "subtotal": sum(amount for amount, _ in lines),
        "tax_amount": sum(int(group["tax_amount"]) for group in breakdown),  # type: ignore[call-overload]
        "amount": collected,
        "breakdown": breakdown,
    }
