"""What the customer page accepts from a browser: the approval forms (validated by pydantic),
CSRF tokens bound to the link and the action, and the same-origin rule."""

from __future__ import annotations

import hmac
from typing import Literal
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel, ConfigDict, Field

from ..domain.payment_methods import SIMULATED_TOKENS
from ..service.links import Purpose, signature

MAX_FORM_BYTES = 10_000


class ApproveForm(BaseModel):
    """Approval with a test card (the simulated gateway)."""

    model_config = ConfigDict(defer_build=True, extra="ignore")  # built by the first form posted

    csrf: str = Field(max_length=100)
    terms_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    payment_token: Literal[SIMULATED_TOKENS]  # type: ignore[valid-type]
    consent: Literal["yes"]


class StripeApproveForm(BaseModel):
    """Approval with a card Stripe.js confirmed in the browser (a SetupIntent, read back from Stripe)."""

    model_config = ConfigDict(defer_build=True, extra="ignore")  # built by the first form posted

    csrf: str = Field(max_length=100)
    terms_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    setup_intent: str = Field(pattern=r"^seti_[A-Za-z0-9]{1,100}$")
    consent: Literal["yes"]


class UpdateMethodForm(BaseModel):
    """A new payment method from the customer: a test card or bank account (the simulated
    gateway); for a bank account, the terms hash shown and the SEPA mandate's acceptance."""

    model_config = ConfigDict(defer_build=True, extra="ignore")  # built by the first form posted

    csrf: str = Field(max_length=100)
    payment_token: Literal[SIMULATED_TOKENS]  # type: ignore[valid-type]
    terms_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    consent: Literal["yes"] | None = None

    @property
    def accepted_terms(self) -> str | None:
        """The terms hash the customer accepted (the mandate's box ticked), else None."""
        return self.terms_sha256 if self.consent == "yes" else None


class StripeUpdateMethodForm(BaseModel):
    """A new card or bank account from the customer, confirmed by Stripe.js (read back from
    Stripe's SetupIntent); for a bank account, the terms hash shown and the mandate's acceptance."""

    model_config = ConfigDict(defer_build=True, extra="ignore")  # built by the first form posted

    csrf: str = Field(max_length=100)
    setup_intent: str = Field(pattern=r"^seti_[A-Za-z0-9]{1,100}$")
    terms_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    consent: Literal["yes"] | None = None

    @property
    def accepted_terms(self) -> str | None:
        """The terms hash the customer accepted (the mandate's box ticked), else None."""
        return self.terms_sha256 if self.consent == "yes" else None


def parse_form(body: str) -> dict[str, str]:
    """An urlencoded body (first value of each field; at most MAX_FORM_BYTES read)."""
    return {k: v[0] for k, v in parse_qs(body[:MAX_FORM_BYTES]).items()}


def csrf_token(key: bytes, link_token: str, action: str) -> str:
    """Signed for the CSRF purpose only (the key also signs links), bound to the link and the action."""
    return signature(key, Purpose.CSRF, f"{action}|{link_token}".encode()).hex()[:40]


def csrf_valid(key: bytes, link_token: str, action: str, submitted: str) -> bool:
    """Compared as bytes: `compare_digest` refuses a str that is not ASCII (a TypeError, not a no)."""
    return hmac.compare_digest(submitted.encode("utf-8", "replace"), csrf_token(key, link_token, action).encode())


def same_origin(origin: str | None, host: str | None) -> bool:
    """Browsers send Origin on POST; when they do, it must be this site."""
    return not origin or urlparse(origin).netloc == (host or "")
