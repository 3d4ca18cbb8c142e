"""The merchant's account settings: read and change (only the fields sent; a change is one
version-checked write of the account item, redone on a race)."""

from __future__ import annotations

from ..domain.account import Account
from ..domain.errors import ValidationFailed, found
from ..domain.tax import ensure_vat_id
from .commands import AccountChanges
from .concurrency import retry_on_conflict
from .ports import Changes, Clock, Repository
from .tax_rates import UNREAD, any_tax_rate, attach

# Fields that always have a value: sending them as null is a 422 (the request model says so too).
REQUIRED = ("name", "default_locale", "receipt_prefix", "credit_note_prefix", "notifications")


class Accounts:
    def __init__(self, repo: Repository, clock: Clock) -> None:
        self.repo, self.clock = repo, clock

    def get(self, merchant_id: str) -> Account:
        return found(self.repo.get(Account, merchant_id, merchant_id), "account", merchant_id)

    def update(self, merchant_id: str, request: AccountChanges) -> Account:
        changes = request.sent()
        if "invoice_prefix" in changes:  # receipt_prefix is its alias: one series
            changes["receipt_prefix"] = changes.pop("invoice_prefix")
        if "default_tax_rate_id" in changes:
            rate_id = changes.pop("default_tax_rate_id")
            vat_id = changes["vat_id"] if "vat_id" in changes else UNREAD
            changes["default_tax_rate"] = attach(
                self.repo,
                merchant_id,
                rate_id if isinstance(rate_id, str) else None,
                "default_tax_rate_id",
                vat_id if isinstance(vat_id, str) or vat_id is None else UNREAD,
            )
        if isinstance(vat_id := changes.get("vat_id"), str):  # it decides the tax: an EU VAT id, compact
            changes["vat_id"] = ensure_vat_id(vat_id, "vat_id")
        for field in REQUIRED:
            if field in changes and changes[field] is None:
                raise ValidationFailed(f"{field} cannot be null.", field)

        def once(_: int) -> Account:
            account = self.get(merchant_id)
            learned = False
            if "vat_id" in changes and not changes["vat_id"] and account.has_tax_rates is None:
                # An account from before the flag: its rates (if any) were all created before it,
                # so the index shows them; learned once and written with this version-checked write.
                account.has_tax_rates, learned = any_tax_rate(self.repo, merchant_id), True
            # Inside the version-checked write: a rate created meanwhile sets the flag in a
            # transaction conditioned on this version, so one of the two writes is redone.
            account.ensure_vat_id_may_go(changes)
            if account.update(self.clock.now(), changes) or learned:
                self.repo.commit(Changes(put=[account]))
            return account

        return retry_on_conflict(once)
