"""Money rules: integer minor units, ISO 4217 currencies with their exponents."""

from __future__ import annotations

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
    if exponent == 0:
        return f"{amount} {currency}"
    major, minor = divmod(amount, 10**exponent)
    return f"{major}.{minor:0{exponent}d} {currency}"
