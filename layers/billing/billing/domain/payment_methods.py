"""Payment-method tokens: each gateway's token format, and the card-number guard.

Tokens are the gateway's references to a stored payment method, never card data. A value
that looks like a primary account number is refused before anything stores or logs it.
"""

from __future__ import annotations

import re
from typing import Literal

from .errors import ValidationFailed

Gateway = Literal["simulated", "stripe"]
# A card, or a SEPA Core direct debit from a euro bank account (identified by IBAN).
PaymentMethodType = Literal["card", "sepa_debit"]
BANK_DEBIT_CURRENCIES: frozenset[str] = frozenset({"EUR"})
# A bank debit is pre-notified at least this many days before it is presented (SEPA Core): its
# `upcoming_charge` notice when the account asks for none, and the least time before a retry.
BANK_DEBIT_NOTICE_DAYS = 2

# The simulated gateway's behaviour by token (see the contract's "The simulated gateway").
SIMULATED_TOKENS: tuple[str, ...] = (
    "pm_sim_ok",
    "pm_sim_insufficient_funds",
    "pm_sim_expired_card",
    "pm_sim_fail_once",
    "pm_sim_timeout",
    "pm_sim_error",
    "pm_sim_rejected",
    "pm_sim_refund_fails",
    "pm_sim_dispute_lost",
    "pm_sim_dispute_won",
    "pm_sim_card_updated",
    "pm_sim_sepa_ok",
    "pm_sim_sepa_insufficient_funds",
    "pm_sim_sepa_late_failure",
    "pm_sim_sepa_revoked",
)
# The last four digits a simulated method shows (a card's number, a test IBAN's account).
SIMULATED_LAST4 = "4242"
SIMULATED_IBAN_LAST4 = "3000"


def simulated_type(token: str) -> PaymentMethodType:
    """Simulated tokens say their type: those with `sepa` are bank debits, the rest cards."""
    return "sepa_debit" if "_sepa_" in token else "card"


def mandate_reference(mandate_id: str) -> str:
    """The SEPA mandate reference of a mandate whose gateway does not hold the mandate itself:
    at most 35 characters of `A-Z0-9-`, unique per merchant because the mandate id is."""
    body = "".join(ch for ch in mandate_id.split("_", 1)[-1].upper() if ch.isascii() and ch.isalnum())
    return f"RP-{body}"[:35]


def ensure_bank_debit_allowed(currency: str, email: str | None, name: str | None, param: str = "payment_method") -> None:
    """A SEPA debit collects euros only, and needs the account holder's name and an e-mail address
    (the pre-notification before each debit is mandatory)."""
    if currency not in BANK_DEBIT_CURRENCIES:
        raise ValidationFailed(f"Bank debits (sepa_debit) collect EUR only; this plan is in {currency}.", param)
    if not email:
        raise ValidationFailed("A bank debit needs the customer's e-mail address (for its pre-notifications).", "customer.email")
    if not name:
        raise ValidationFailed("A bank debit needs the customer's name (the account holder).", "customer.name")


# \d on purpose: any run of digits that looks like a card number is refused (wider is safer here).
_CARD_LIKE = re.compile(r"(?:\d[ -]?){12,18}\d")
# A PaymentMethod id, optionally with the Customer it is attached to (needed off session).
_STRIPE_TOKEN = re.compile(r"^(cus_[A-Za-z0-9]{8,60}:)?pm_[A-Za-z0-9]{8,120}$")
MAX_TOKEN_LENGTH = 255


def looks_like_card_number(value: str) -> bool:
    """13..19 digits, possibly grouped by spaces or dashes, anywhere in the value."""
    return bool(_CARD_LIKE.search(value))


def validate_token(gateway: str, token: str, param: str = "payment_method.token") -> str:
    """Return the token if the gateway accepts its shape; raise ValidationFailed otherwise.

    Messages never echo the value: it may be a card number pasted by mistake.
    """
    if looks_like_card_number(token):
        raise ValidationFailed("Card numbers are not accepted; send the gateway's payment method token.", param)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ValidationFailed(f"Token must be 1..{MAX_TOKEN_LENGTH} characters.", param)
    if gateway == "simulated":
        if token not in SIMULATED_TOKENS:
            raise ValidationFailed("Unknown simulated token; use one of " + ", ".join(SIMULATED_TOKENS) + ".", param)
        return token
    if gateway == "stripe":
        if token.startswith("pm_sim_") or not _STRIPE_TOKEN.fullmatch(token):
            raise ValidationFailed(
                "Stripe tokens are PaymentMethod ids like pm_1Q2w3E4r5T6y7U8i, or cus_…:pm_… with the customer.", param
            )
        return token
    raise ValidationFailed("Unknown gateway.", "payment_method.gateway")


# The smallest non-zero charge each gateway takes, in our minor units (ISO 4217). Stripe's
# documented minimums (docs.stripe.com/currencies, "Minimum charge amount by currency"; ISK is
# not listed there: its usual equivalent, 75 ISK). The simulated gateway takes any amount.
STRIPE_MINIMUM: dict[str, int] = {
    "EUR": 50,
    "USD": 50,
    "GBP": 30,
    "PLN": 200,
    "SEK": 300,
    "DKK": 250,
    "NOK": 300,
    "CHF": 50,
    "CZK": 1500,
    "HUF": 17500,
    "JPY": 50,
    "AUD": 50,
    "CAD": 50,
    "NZD": 50,
    "RON": 200,
    "ISK": 75,
}


def minimum_charge(gateway: str | None, currency: str) -> int:
    """The least amount above zero the gateway charges in this currency."""
    return STRIPE_MINIMUM.get(currency, 1) if gateway == "stripe" else 1


def last4(token: str) -> str:
    return token[-4:]


def ensure_usable(gateway: str, usable: frozenset[str], param: str = "payment_method.gateway") -> None:
    """A payment method must be chargeable by this deployment: Stripe needs its key, the
    simulated gateway may be switched off (AllowSimulatedGateway)."""
    if gateway not in usable:
        names = ", ".join(sorted(usable)) or "none"
        raise ValidationFailed(f"Gateway '{gateway}' is not available on this deployment (available: {names}).", param)
