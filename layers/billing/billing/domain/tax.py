"""Tax rates and a charge's tax (VAT), as the contract's "Tax rates" says. Pure; exact decimals.

* A `TaxRate` is the merchant's: its percentage (an exact decimal, "0".."100", at most 4
  decimals), country and whether prices entered with it are gross (`inclusive`) never change once
  created; only its name and description do. Archived, it is attached to nothing new.
* What is attached to a plan, an item or the account is a `RateRef`: the rate's id and its
  unchanging terms, copied when attached, so a charge is computed from the mandate alone (the
  notice of a bank debit, the customer's page and the charge agree) and a rate archived later
  still applies where it was attached.
* `compute`: per charge, lines are grouped by rate and the tax of each group is computed once on
  the group's sum (EN 16931), rounded half up to the currency's minor unit: inclusive
  `sum * p / (100 + p)` (held in the price), exclusive `sum * p / 100` (added to what is
  collected). A line with no rate is "not subject to VAT" (EN 16931 category O): inside the
  domain it forms its own group (`tax_rate_id` null, category `not_subject`, tax 0), so every line
  is in exactly one group (what a credit note splits, what the XML declares as O); the API's
  `tax_breakdown` shows rated groups only (`published`): the contract's categories are
  `standard`, `zero` and `reverse_charge`, and an untaxed charge has `tax_breakdown: []`.
* One charge is all rated or all unrated (EN 16931 allows category O only alone, BR-O-11..14):
  an item with a rate is refused on a mandate whose plan has none, and a plan change to a plan
  without a rate while items with their own rate wait (domain/model).
* Reverse charge: the seller has a VAT id and the buyer is a business whose VAT id is of another
  EU member state: every rated group has tax 0 and category `reverse_charge`, and what is collected
  is the net price (an inclusive price less the tax it held).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from .errors import ValidationFailed
from .money import CURRENCY_EXPONENT

# The contract's categories; `not_subject` is the domain's group of lines without a rate, never
# published in a `tax_breakdown` (`published`).
PublishedCategory = Literal["standard", "zero", "reverse_charge"]
TaxCategory = Literal["standard", "zero", "reverse_charge", "not_subject"]
NOT_SUBJECT: TaxCategory = "not_subject"
PERCENTAGE_PATTERN = r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$"
Percentage = Annotated[str, StringConstraints(pattern=PERCENTAGE_PATTERN)]


def iso_country(code: str) -> str:
    """An ISO 3166-1 alpha-2 code that names a country ("ZZ" or "EU" do not: documents name it)."""
    from iso3166 import countries_by_alpha2

    if code not in countries_by_alpha2:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code (e.g. LT)")
    return code


Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]  # stored: read as written (inputs: iso_country)

# EU member states by the prefix of their VAT ids (Greece's is EL; Northern Ireland's XI is
# the UK's, for goods only, and is not a member state).
EU_VAT_PREFIXES: frozenset[str] = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)


def percentage_of(text: str) -> Decimal:
    """The exact percentage of a rate's decimal string (validated: "0".."100", at most 4 decimals)."""
    return Decimal(text)


def normalized_percentage(text: str) -> str:
    """ "21.50" -> "21.5", "100.0" -> "100": one spelling per value (what the API shows)."""
    if not re.fullmatch(PERCENTAGE_PATTERN, text):
        raise ValidationFailed('percentage must be a decimal string from "0" to "100" with at most 4 decimals.', "percentage")
    value = Decimal(text)
    if not Decimal(0) <= value <= Decimal(100) or value != value.quantize(Decimal("0.0001")):
        raise ValidationFailed('percentage must be a decimal string from "0" to "100" with at most 4 decimals.', "percentage")
    return format(value.normalize(), "f") if value else "0"


class RateRef(BaseModel):
    """A rate as attached to a plan, an item or the account: its id and unchanging terms."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    id: str
    percentage: str
    inclusive: bool = True
    country: str

    @property
    def rate(self) -> Decimal:
        return percentage_of(self.percentage)


class TaxAddress(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    line1: Annotated[str, StringConstraints(max_length=200)] | None = None
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(max_length=100)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20)] | None = None
    country: Country | None = None


class CustomerTax(BaseModel):
    """The customer's tax details (what a VAT invoice names as the buyer)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    type: Literal["individual", "business"] | None = None
    company_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    company_code: Annotated[str, StringConstraints(max_length=50)] | None = None
    vat_id: Annotated[str, StringConstraints(max_length=30)] | None = None
    address: TaxAddress | None = None


def vat_prefix(vat_id: str | None) -> str | None:
    """The EU member state prefix of a VAT id ("LT", "EL"...), None when it has none."""
    if not vat_id:
        return None
    prefix = vat_id.strip().upper()[:2]
    return prefix if prefix in EU_VAT_PREFIXES else None


def reverse_charge(seller_vat_id: str | None, buyer: CustomerTax | None) -> bool:
    """Whether a charge is reverse-charged: the seller has an EU VAT id, and the buyer is a business
    whose VAT id is of another EU member state than the seller's."""
    if not seller_vat_id or buyer is None or buyer.type != "business":
        return False
    mine, theirs = vat_prefix(seller_vat_id), vat_prefix(buyer.vat_id)
    return mine is not None and theirs is not None and theirs != mine


@dataclass(frozen=True)
class TaxGroup:
    """One group of a charge's breakdown: its lines' sum as entered (`entered`), the taxable
    amount, the tax and what the group collects."""

    rate: RateRef | None
    category: TaxCategory
    entered: int
    taxable_amount: int
    tax_amount: int

    @property
    def collected(self) -> int:
        return self.taxable_amount + self.tax_amount

    @property
    def percentage(self) -> str:
        if self.rate is None or self.category == "reverse_charge":
            return "0"
        return self.rate.percentage


@dataclass(frozen=True)
class ChargeTax:
    subtotal: int  # the lines' sum, as entered
    groups: tuple[TaxGroup, ...]

    @property
    def tax_amount(self) -> int:
        return sum(group.tax_amount for group in self.groups)

    @property
    def amount(self) -> int:
        """What is collected."""
        return sum(group.collected for group in self.groups)


def _round(value: Decimal) -> int:
    """Half up (away from zero for a negative value) to the minor unit: `value` counts minor units
    (of any currency: 0, 2 or 3 decimals alike), the result is a whole number of them."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def group_tax(entered: int, rate: RateRef | None, currency: str, reversed_: bool) -> TaxGroup:
    """The tax of one group whose lines sum to `entered` minor units."""
    if currency not in CURRENCY_EXPONENT:
        raise ValueError(f"unknown currency {currency!r}")
    if rate is None:
        return TaxGroup(None, "not_subject", entered, entered, 0)
    p = rate.rate
    held = _round(Decimal(entered) * p / (Decimal(100) + p)) if rate.inclusive else 0
    net = entered - held
    if reversed_:
        return TaxGroup(rate, "reverse_charge", entered, net, 0)
    tax = held if rate.inclusive else _round(Decimal(entered) * p / Decimal(100))
    return TaxGroup(rate, "zero" if p == 0 else "standard", entered, net, tax)


def compute(lines: list[tuple[int, RateRef | None]], currency: str, reversed_: bool = False) -> ChargeTax:
    """A charge's tax: lines (amount as entered, rate) grouped by rate, in order of first use."""
    sums: dict[str | None, tuple[RateRef | None, int]] = {}
    for amount, rate in lines:
        key = rate.id if rate is not None else None
        known, total = sums.get(key, (rate, 0))
        sums[key] = (known, total + amount)
    groups = tuple(group_tax(total, rate, currency, reversed_) for rate, total in sums.values())
    return ChargeTax(subtotal=sum(amount for amount, _ in lines), groups=groups)


def compute_with_credit(
    lines: list[tuple[int, RateRef | None]], rate: RateRef | None, credit: int, currency: str, reversed_: bool = False
) -> ChargeTax:
    """A charge's tax with carried credit taken off. Credit is money (what the customer paid, tax
    included, for time not used): it comes off what the charge collects, as a line of `rate` (the
    plan's) whose amount as entered is the largest that lowers what is collected by at most
    `credit`, and never takes that group below zero. The tax is computed on the lines after credit
    (a discount on this charge, so the books per rate stay what was collected). With an exclusive or
    reverse-charged rate, rounding may leave a minor unit of `credit` unused (it carries on)."""
    base = compute(lines, currency, reversed_)
    key = rate.id if rate is not None else None
    room = sum(amount for amount, r in lines if (r.id if r is not None else None) == key)
    if credit <= 0 or room <= 0:
        return base

    def with_line(entered: int) -> ChargeTax:
        return compute([*lines, (-entered, rate)], currency, reversed_)

    # What is collected falls monotonically as the credit line grows (each group's tax is a
    # non-decreasing function of its sum): the largest line within `credit`, by bisection.
    low, high = 0, room
    while low < high:
        middle = (low + high + 1) // 2
        if base.amount - with_line(middle).amount <= credit:
            low = middle
        else:
            high = middle - 1
    return with_line(low) if low else base


def ensure_vat_id(vat_id: str, param: str) -> str:
    """An EU VAT id checked for its country prefix's format (python-stdnum's `stdnum.eu.vat`);
    returned compact and upper case with its VAT prefix ("lt 1000 0191 9017" -> "LT100001919017";
    Greece's "GR…", its ISO code, becomes "EL…", its VAT prefix)."""
    from stdnum.eu import vat  # imported on first use (cold start)

    try:
        compact = str(vat.validate(vat_id)).upper()
    except Exception:  # stdnum's ValidationError family: format, length, checksum, unknown prefix
        raise ValidationFailed("vat_id is not a valid EU VAT number for its country prefix.", param) from None
    if compact.startswith("GR"):
        compact = "EL" + compact[2:]
    if vat_prefix(compact) is None:  # e.g. XI (Northern Ireland): not a member state's VAT id
        raise ValidationFailed("vat_id must be the VAT number of an EU member state, with its prefix.", param)
    return compact
