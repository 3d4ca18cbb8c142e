"""Charges as merchants and customers read them (the billing engine creates and settles them)."""

from __future__ import annotations

from ..domain.charge import Charge
from ..domain.errors import found
from .ports import Page, PageRequest, Repository


class ChargeLog:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, merchant_id: str, charge_id: str) -> Charge:
        return found(self.repo.get(Charge, merchant_id, charge_id), "charge", charge_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Charge]:
        return self.repo.page(Charge, merchant_id, page, **filters)
