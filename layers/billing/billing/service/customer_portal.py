"""The customer's side of a mandate, reached only through its signed link: see what will be
charged, approve (with consent evidence), follow the charges, revoke."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..domain.charge import Charge
from ..domain.errors import InvalidState, NotFound
from ..domain.model import Consent, Mandate, PaymentMethod
from .links import ApprovalLinks, ExpiredLink, InvalidLink, LinkTarget
from .merchant_api import MerchantApi
from .ports import PageRequest

UPCOMING = 6
PAST = 24


class TermsChanged(Exception):
    """What the customer approved is not what the mandate would charge now: show it again."""


@dataclass
class CustomerView:
    merchant_name: str
    mandate: Mandate
    upcoming: list[tuple[int, datetime]]
    charges: list[Charge]
    link_expired: bool
    terms_sha256: str


def terms_digest(mandate: Mandate) -> str:
    """A hash of the terms the page shows (not of dates that move with the clock), kept as consent evidence."""
    shown = {
        "merchant_id": mandate.merchant_id,
        "mandate_id": mandate.id,
        "terms": mandate.terms.model_dump(mode="json"),
        "start_at": mandate.start_at.isoformat() if mandate.start_at else None,
        "end_at": mandate.end_at.isoformat() if mandate.end_at else None,
    }
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()


class CustomerPortal:
    def __init__(self, api: MerchantApi, links: ApprovalLinks, merchant_name: Callable[[str], str | None]) -> None:
        self.api, self.links, self.merchant_name = api, links, merchant_name

    def _target(self, token: str) -> tuple[LinkTarget, bool]:
        now = self.api.clock.now()
        try:
            return self.links.verify(token, now), False
        except ExpiredLink:
            return self.links.verify(token, now, allow_expired=True), True

    def view(self, token: str) -> CustomerView:
        """Raises InvalidLink for a link that is not ours (or names no mandate)."""
        target, expired = self._target(token)
        try:
            mandate = self.api.get_mandate(target.merchant_id, target.mandate_id)
        except NotFound as error:
            raise InvalidLink("no such mandate") from error
        upcoming = mandate.upcoming_charges(self.api.clock.now(), UPCOMING)
        charges = self.api.list_charges(target.merchant_id, PageRequest(PAST), mandate_id=mandate.id).items
        return CustomerView(
            merchant_name=self.merchant_name(target.merchant_id) or "",
            mandate=mandate,
            upcoming=upcoming,
            charges=charges,
            link_expired=expired and mandate.status == "pending_approval",
            terms_sha256=terms_digest(mandate),
        )

    def approve(self, token: str, method: PaymentMethod, ip: str | None, user_agent: str | None, terms_sha256: str) -> Mandate:
        view = self.view(token)
        if view.link_expired:
            raise ExpiredLink("link expired")
        if view.mandate.status != "pending_approval":
            raise InvalidState("This mandate is not waiting for approval.")
        if terms_sha256 != view.terms_sha256:
            raise TermsChanged("the terms changed since the page was shown")
        consent = Consent(accepted_at=self.api.clock.now(), ip=ip, user_agent=(user_agent or "")[:500] or None, terms_sha256=terms_sha256)
        return self.api.approve_mandate(view.mandate.merchant_id, view.mandate.id, method, consent)

    def revoke(self, token: str) -> Mandate:
        view = self.view(token)
        return self.api.revoke_mandate(view.mandate.merchant_id, view.mandate.id)
