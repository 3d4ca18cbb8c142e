"""What the customer page accepts from a browser: the approval forms and the business details
(validated by pydantic), CSRF tokens bound to the link and the action, and the same-origin rule."""

from __future__ import annotations

import hmac
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..domain.payment_methods import SIMULATED_TOKENS
from ..domain.tax import CustomerTax, TaxAddress
from ..domain.text import single_line
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


# The countries the business form offers (ISO 3166-1 alpha-2): the EU member states, then the
# rest of the EEA (Iceland, Liechtenstein, Norway). Greece is GR here (its VAT ids say EL).
EU_COUNTRIES: tuple[str, ...] = tuple("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())
EEA_COUNTRIES: tuple[str, ...] = (*EU_COUNTRIES, "IS", "LI", "NO")
MISSING_COMPANY_NAME = "company_name_missing"  # the error a business without its name gives


class BusinessForm(BaseModel):
    """The customer's "buying as a business" form: the company's name (required), code, VAT id and
    address (a country of the EU/EEA), or `type=individual` to buy as a private person again (the
    company's details are then dropped). Blank fields are absent; bounds are the domain's
    (`CustomerTax`); the VAT id is checked by the use case, as for the merchant's API."""

    model_config = ConfigDict(defer_build=True, extra="ignore")  # built by the first form posted

    csrf: str = Field(max_length=100)
    type: Literal["individual", "business"]
    company_name: str | None = Field(default=None, max_length=200)
    company_code: str | None = Field(default=None, max_length=50)
    vat_id: str | None = Field(default=None, max_length=30)
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: Literal[EEA_COUNTRIES] | None = None  # type: ignore[valid-type]

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = " ".join(value.split())  # no line breaks or runs of spaces on an invoice
            return single_line(value) or None  # nor a control character (an invoice's XML cannot hold it)
        return value

    @field_validator("country", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _named(self) -> BusinessForm:
        if self.type == "business" and self.company_name is None:
            raise PydanticCustomError(MISSING_COMPANY_NAME, "A business needs its company name.")
        return self

    def tax(self) -> CustomerTax:
        """The customer's tax details this form gives (the VAT id as typed: the use case checks it)."""
        if self.type == "individual":
            return CustomerTax(type="individual")
        address = TaxAddress(
            line1=self.line1, line2=self.line2, city=self.city, postal_code=self.postal_code, country=self.country
        )
        return CustomerTax(
            type="business",
            company_name=self.company_name,
            company_code=self.company_code,
            vat_id=self.vat_id,
            address=address if address != TaxAddress() else None,
        )


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
