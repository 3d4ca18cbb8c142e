"""Signed links for the customer: a mandate's page and a charge's receipt.

Approval: token = base64url("<merchant_id>.<mandate_id>.<expires_unix>") + "." + base64url(HMAC-SHA256)
The link is derivable from the mandate (so GET returns the same URL every time), cannot be
forged without the key, names exactly one mandate of one merchant, and expires 7 days after
the mandate was created.

Receipt: token = base64url("<merchant_id>.<charge_id>") + "." + base64url(HMAC-SHA256("receipt\\0" + payload)),
for good (a receipt is kept); the MAC's own domain means neither kind of link passes for the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property

from ..domain.charge import Charge
from ..domain.model import Mandate

APPROVAL_LINK_LIFETIME = timedelta(days=7)
CUSTOMER_PAGE_PATH = "/customer/mandates"
RECEIPT_PATH = "/customer/receipts"
_RECEIPT_DOMAIN = b"receipt\0"


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

    def _mac(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def token(self, merchant_id: str, mandate_id: str, expires_at: datetime) -> str:
        payload = f"{merchant_id}.{mandate_id}.{int(expires_at.timestamp())}".encode()
        return f"{_b64(payload)}.{self._mac(payload)}"

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
        return f"{_b64(payload)}.{self._mac(_RECEIPT_DOMAIN + payload)}"

    def receipt_url(self, charge: Charge) -> str | None:
        """A numbered charge's receipt (HTML; `?format=pdf` for the PDF)."""
        if charge.receipt_number is None:
            return None
        return f"{self._base_url}{RECEIPT_PATH}/{self.receipt_token(charge.merchant_id, charge.id)}"

    def verify_receipt(self, token: str) -> tuple[str, str]:
        """(merchant_id, charge_id) a receipt link names; InvalidLink for anything else."""
        encoded, _, mac = token.partition(".")
        try:
            payload = _unb64(encoded)
        except ValueError as error:
            raise InvalidLink("malformed link") from error
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), self._mac(_RECEIPT_DOMAIN + payload).encode()):
            raise InvalidLink("bad signature")
        merchant_id, charge_id = payload.decode().split(".")  # our own payload: well formed
        return merchant_id, charge_id

    def verify(self, token: str, now: datetime, allow_expired: bool = False) -> LinkTarget:
        """The mandate a link names. Expired links raise ExpiredLink unless `allow_expired` (an
        approved mandate's page stays reachable from the same link).

        The MAC is checked before anything in the payload is read: only what this deployment
        signed is ever parsed, so no forged link can reach the parser."""
        encoded, _, mac = token.partition(".")
        try:
            payload = _unb64(encoded)
        except ValueError as error:  # binascii.Error, non-ASCII text
            raise InvalidLink("malformed link") from error
        if not hmac.compare_digest(mac.encode("utf-8", "replace"), self._mac(payload).encode()):
            raise InvalidLink("bad signature")
        merchant_id, mandate_id, expires = payload.decode().split(".")  # our own payload: well formed
        expires_at = datetime.fromtimestamp(int(expires), tz=timezone.utc)
        if now >= expires_at and not allow_expired:
            raise ExpiredLink("link expired")
        return LinkTarget(merchant_id, mandate_id, expires_at)
