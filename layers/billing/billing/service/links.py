"""Signed links for the customer: a mandate's page and a charge's receipt (and, through
`signature`, the page's CSRF tokens). One key signs them all, so every MAC input starts with its
PURPOSE (`Purpose`), and each kind is verified only as its own purpose.

Page: token = base64url("<merchant_id>.<mandate_id>.<expires_unix>") + "." + base64url(HMAC-SHA256("page\\0" + payload))
The link is derivable from the mandate (so GET returns the same URL every time), cannot be
forged without the key, names exactly one mandate of one merchant, and expires 7 days after
the mandate was created. Page links made before purposes were signed (MAC over the bare payload,
still in customers' e-mails) keep verifying as pages: only for a payload that starts with no
purpose label (ours start with the merchant id), so no other purpose's MAC can pass for one.

Receipt: token = base64url("<merchant_id>.<charge_id>") + "." + base64url(HMAC-SHA256("receipt\\0" + payload)),
for good (a receipt is kept; the format has not changed since the first receipt).

Every token that is not ours, or not of the purpose asked for, is an InvalidLink (a 404 page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from functools import cached_property

from ..domain.charge import Charge
from ..domain.invoices import Invoice
from ..domain.model import Mandate

APPROVAL_LINK_LIFETIME = timedelta(days=7)
CUSTOMER_PAGE_PATH = "/customer/mandates"
RECEIPT_PATH = "/customer/receipts"


class Purpose(bytes, Enum):
    """What a signature is for: the first bytes of its MAC input. No label is a prefix of another,
    nor of a payload signed before labels (`receipt` and `csrf` had theirs from the start)."""

    PAGE = b"page\0"
    RECEIPT = b"receipt\0"
    CSRF = b"csrf|"
    DASHBOARD_CSRF = b"dashboard-csrf\0"  # the dashboard's forms (bound to the session)


def signature(key: bytes, purpose: Purpose, payload: bytes) -> bytes:
    """The MAC of `payload` for one purpose only."""
    return hmac.new(key, purpose.value + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InvalidLink(Exception):
    pass


class ExpiredLink(InvalidLink):
    pass


@dataclass(frozen=True)
class LinkTarget:
    merchant_id: str
    mandate_id: str
    expires_at: datetime


class ApprovalLinks:
    def __init__(self, key: bytes | Callable[[], bytes], base_url: str) -> None:
        """`key`: the signing key, or how to read it: a request that shows no link and checks no
        link (most of the API's) never reads the secret."""
        self._read_key = key if callable(key) else (lambda: key)
        self._base_url = base_url.rstrip("/")

    @cached_property
    def _key(self) -> bytes:
        key = self._read_key()
        if len(key) < 32:
            raise ValueError("the link signing key must be at least 32 bytes")
        return key

    def _mac(self, purpose: Purpose, payload: bytes) -> str:
        return _b64(signature(self._key, purpose, payload))

    def _signed(self, token: str, purpose: Purpose) -> bytes:
        """The payload of a token signed for `purpose`; InvalidLink for anything else. Nothing in
        the payload is read before its MAC is checked."""
        encoded, _, mac = token.partition(".")
        try:
            payload = _unb64(encoded)
        except ValueError as error:  # binascii.Error, non-ASCII text
            raise InvalidLink("malformed link") from error
        given = mac.encode("utf-8", "replace")
        if hmac.compare_digest(given, self._mac(purpose, payload).encode()):
            return payload
        if purpose is Purpose.PAGE and not payload.startswith(tuple(p.value for p in Purpose)):
            legacy = _b64(hmac.new(self._key, payload, hashlib.sha256).digest())  # a page link made before purposes
            if hmac.compare_digest(given, legacy.encode()):
                return payload
        raise InvalidLink("bad signature")

    def token(self, merchant_id: str, mandate_id: str, expires_at: datetime) -> str:
        payload = f"{merchant_id}.{mandate_id}.{int(expires_at.timestamp())}".encode()
        return f"{_b64(payload)}.{self._mac(Purpose.PAGE, payload)}"

    def approval_url(self, mandate: Mandate) -> str | None:
        if not mandate.awaiting_approval:
            return None
        expires = mandate.created_at + APPROVAL_LINK_LIFETIME
        return f"{self._base_url}{CUSTOMER_PAGE_PATH}/{self.token(mandate.merchant_id, mandate.id, expires)}"

    def page_url(self, mandate: Mandate, expires_at: datetime) -> str:
        """The customer's page of a mandate (for e-mails): an approved mandate's page stays
        reachable after the link's time, so the link keeps working."""
        return f"{self._base_url}{CUSTOMER_PAGE_PATH}/{self.token(mandate.merchant_id, mandate.id, expires_at)}"

    def receipt_token(self, merchant_id: str, charge_id: str) -> str:
        payload = f"{merchant_id}.{charge_id}".encode()
        return f"{_b64(payload)}.{self._mac(Purpose.RECEIPT, payload)}"

    def receipt_url(self, charge: Charge) -> str | None:
        """A numbered charge's receipt (HTML; `?format=pdf` for the PDF)."""
        if charge.receipt_number is None:
            return None
        return f"{self._base_url}{RECEIPT_PATH}/{self.receipt_token(charge.merchant_id, charge.id)}"

    def invoice_url(self, invoice: Invoice) -> str | None:
        """An invoice's link is its charge's receipt link (one document); a credit note's names it
        (same page, same signature purpose: the page tells them apart by the id's prefix)."""
        named = invoice.charge_id if invoice.type == "invoice" else invoice.id
        return f"{self._base_url}{RECEIPT_PATH}/{self.receipt_token(invoice.merchant_id, named)}"

    def verify_receipt(self, token: str) -> tuple[str, str]:
        """(merchant_id, charge_id) a receipt link names; InvalidLink for anything else."""
        merchant_id, charge_id = _fields(self._signed(token, Purpose.RECEIPT), 2)
        return merchant_id, charge_id

    def verify(self, token: str, now: datetime, allow_expired: bool = False) -> LinkTarget:
        """The mandate a page link names. Expired links raise ExpiredLink unless `allow_expired`
        (an approved mandate's page stays reachable from the same link)."""
        merchant_id, mandate_id, expires = _fields(self._signed(token, Purpose.PAGE), 3)
        try:
            expires_at = datetime.fromtimestamp(int(expires), tz=timezone.utc)
        except (ValueError, OverflowError, OSError) as error:
            raise InvalidLink("malformed link") from error
        if now >= expires_at and not allow_expired:
            raise ExpiredLink("link expired")
        return LinkTarget(merchant_id, mandate_id, expires_at)


def _fields(payload: bytes, count: int) -> list[str]:
    """A signed payload's dot-separated fields (ours are always well formed: this is a second guard)."""
    try:
        fields = payload.decode("ascii").split(".")
    except UnicodeDecodeError as error:
        raise InvalidLink("malformed link") from error
    if len(fields) != count or not all(fields):
        raise InvalidLink("malformed link")
    return fields
