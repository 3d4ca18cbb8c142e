"""Money rules: integer minor units, ISO 4217 currencies with their exponents, and `Money`, an
amount and its currency travelling together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, StrictInt

MIN_AMOUNT = 1
MAX_AMOUNT = 99_999_999

# ISO 4217 minor-unit exponents of the currencies we accept.
CURRENCY_EXPONENT: dict[str, int] = {
    "EUR": 2,
    "USD": 2,
    "GBP": 2,
    "PLN": 2,
    "SEK": 2,
    "DKK": 2,
    "NOK": 2,
    "CHF": 2,
    "CZK": 2,
    "HUF": 2,
    "JPY": 0,
    "AUD": 2,
    "CAD": 2,
    "NZD": 2,
    "RON": 2,
    "ISK": 0,
}

Currency = Literal["EUR", "USD", "GBP", "PLN", "SEK", "DKK", "NOK", "CHF", "CZK", "HUF", "JPY", "AUD", "CAD", "NZD", "RON", "ISK"]
Amount = Annotated[StrictInt, Field(ge=MIN_AMOUNT, le=MAX_AMOUNT, description="Integer amount in the currency's minor unit")]


def format_amount(amount: int, currency: str) -> str:
    """`1999, EUR` -> `19.99 EUR`; `500, JPY` -> `500 JPY`. For people, never for arithmetic."""
    exponent = CURRENCY_EXPONENT[currency]
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if exponent == 0:
        return f"{sign}{amount} {currency}"
    major, minor = divmod(amount, 10**exponent)
    return f"{sign}{major}.{minor:0{exponent}d} {currency}"


class CurrencyMismatch(ValueError):
    """Arithmetic or a comparison across two currencies: never meaningful, always a bug."""


@dataclass(frozen=True, slots=True)
class Money:
    """An integer amount in the currency's minor unit, and the currency. Immutable; adds,
    subtracts and compares only with money of the same currency (anything else raises
    CurrencyMismatch). Stored objects and the API keep their `amount` and `currency` fields; this
    is what carries the two together in code (e.g. a request to a gateway)."""

    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise TypeError(f"a Money amount is an integer number of minor units, not {self.amount!r}")
        if self.currency not in CURRENCY_EXPONENT:
            raise ValueError(f"unknown currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"{other!r} is not Money")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self} and {other} are in different currencies")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def __str__(self) -> str:
        return format_amount(self.amount, self.currency)
