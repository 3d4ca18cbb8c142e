"""`Money`: integer minor units and a currency, immutable, arithmetic only within one currency."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.money import CURRENCY_EXPONENT, CurrencyMismatch, Money

CURRENCIES = st.sampled_from(sorted(CURRENCY_EXPONENT))
AMOUNTS = st.integers(-(10**12), 10**12)


@given(currency=CURRENCIES, a=AMOUNTS, b=AMOUNTS)
def test_money_of_one_currency_adds_subtracts_and_compares_like_its_minor_units(currency: str, a: int, b: int) -> None:
    # Given two amounts of one currency
    x, y = Money(a, currency), Money(b, currency)  # type: ignore[arg-type]
    # Then sums, differences and order are those of the minor units, in that currency
    assert x + y == Money(a + b, currency) and x - y == Money(a - b, currency)  # type: ignore[arg-type]
    assert (x + y) - y == x and -(-x) == x
    assert (x < y) == (a < b) and (x <= y) == (a <= b) and (x > y) == (a > b) and (x >= y) == (a >= b)


def test_money_of_two_currencies_never_mixes() -> None:
    # Given euros and yen
    eur, jpy = Money(1999, "EUR"), Money(1999, "JPY")
    # When they are added, subtracted or compared, Then it is refused (a bug, never a sum)
    for mix in (lambda: eur + jpy, lambda: eur - jpy, lambda: eur < jpy, lambda: eur >= jpy):
        with pytest.raises(CurrencyMismatch, match="different currencies"):
            mix()
    # And equal amounts of two currencies are not equal money
    assert eur != jpy


def test_money_is_immutable_and_only_whole_minor_units_of_a_known_currency() -> None:
    money = Money(500, "EUR")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.amount = 1  # type: ignore[misc]
    for amount in (19.99, True, "500"):
        with pytest.raises(TypeError, match="integer number of minor units"):
            Money(amount, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown currency"):
        Money(500, "XXX")  # type: ignore[arg-type]


def test_money_reads_as_people_write_it() -> None:
    assert str(Money(1999, "EUR")) == "19.99 EUR"
    assert str(Money(5, "USD")) == "0.05 USD"
    assert str(Money(500, "JPY")) == "500 JPY"
    assert str(Money(-5, "EUR")) == "-0.05 EUR"  # a credit
    assert Money.zero("EUR").is_zero and not Money(1, "EUR").is_zero
