"""Tax rates: the merchant's VAT rates, created, renamed, archived, and resolved when attached to
a plan, an item or the account (an active rate of this merchant, else a 422 naming the field)."""

from __future__ import annotations

from ..domain.account import Account
from ..domain.errors import ValidationFailed, found
from ..domain.tax import RateRef, normalized_percentage
from ..domain.tax_rates import TaxRate, ensure_seller_vat_id
from .commands import NewTaxRate, TaxRateChanges
from .concurrency import retry_on_conflict
from .ports import Changes, Clock, IdGenerator, Page, PageRequest, Repository


class TaxRates:
    def __init__(self, repo: Repository, clock: Clock, ids: IdGenerator) -> None:
        self.repo, self.clock, self.ids = repo, clock, ids

    def create(self, merchant_id: str, request: NewTaxRate) -> TaxRate:
        """422 (`vat_id`) while the account has no VAT id: its invoices could not name the seller's.
        The merchant's first rate marks the account `has_tax_rates` in the same transaction,
        conditioned on the account's version: a VAT id removed meanwhile makes it read again (and
        refuse), and a removal racing it finds the flag (decision 185)."""
        rate_id = self.ids.new("txr")

        def once(_: int) -> TaxRate:
            account = self.repo.get(Account, merchant_id, merchant_id)
            ensure_seller_vat_id(account.vat_id if account is not None else None)
            rate, marked = self._new(merchant_id, rate_id, request), []
            if account is not None and not account.has_tax_rates:
                account.has_tax_rates = True
                marked.append(account)
            self.repo.commit(Changes(put=[rate, *marked]))
            return rate

        return retry_on_conflict(once)

    def _new(self, merchant_id: str, rate_id: str, request: NewTaxRate) -> TaxRate:
        now = self.clock.now()
        return TaxRate(
            id=rate_id,
            merchant_id=merchant_id,
            created_at=now,
            updated_at=now,
            display_name=request.display_name,
            percentage=normalized_percentage(request.percentage),
            country=request.country,
            inclusive=request.inclusive,
            description=request.description,
        )

    def get(self, merchant_id: str, rate_id: str) -> TaxRate:
        return found(self.repo.get(TaxRate, merchant_id, rate_id), "tax_rate", rate_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[TaxRate]:
        return self.repo.page(TaxRate, merchant_id, page, **filters)

    def update(self, merchant_id: str, rate_id: str, request: TaxRateChanges) -> TaxRate:
        changes = request.sent()

        def once(_: int) -> TaxRate:
            rate = self.get(merchant_id, rate_id)
            before = rate.model_dump()
            rate.update(self.clock.now(), changes)
            if rate.model_dump() != before:
                self.repo.commit(Changes(put=[rate]))
            return rate

        return retry_on_conflict(once)

    def archive(self, merchant_id: str, rate_id: str) -> TaxRate:
        def once(_: int) -> TaxRate:
            rate = self.get(merchant_id, rate_id)
            rate.archive(self.clock.now())
            self.repo.commit(Changes(put=[rate]))
            return rate

        return retry_on_conflict(once)


class Unread:
    """Not given: read it."""


UNREAD = Unread()


def seller_vat_id(repo: Repository, merchant_id: str) -> str | None:
    account = repo.get(Account, merchant_id, merchant_id)
    return account.vat_id if account is not None else None


def any_tax_rate(repo: Repository, merchant_id: str) -> bool:
    """Whether the merchant has a tax rate, active or archived (an archived one still applies
    where it was attached)."""
    return bool(repo.page(TaxRate, merchant_id, PageRequest(1, None)).data)


def attach(
    repo: Repository, merchant_id: str, rate_id: str | None, param: str, vat_id: str | None | Unread = UNREAD
) -> RateRef | None:
    """The rate named by a plan, an item or the account: an active rate of this merchant (422
    otherwise: another merchant's rate is unknown here), its terms copied; and the account has a
    VAT id (`vat_id`: the one it will have, when the same request sets it; else read)."""
    if rate_id is None:
        return None
    rate = repo.get(TaxRate, merchant_id, rate_id)
    if rate is None:
        raise ValidationFailed(f"No such tax rate: {rate_id}.", param)
    ref = rate.attachable(param)
    ensure_seller_vat_id(seller_vat_id(repo, merchant_id) if isinstance(vat_id, Unread) else vat_id, param)
    return ref
