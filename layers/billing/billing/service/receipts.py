"""Numbering receipts: `ReceiptNumbering.assign(merchant, charge ids)` gives the merchant's
succeeded charges that have no number the next numbers of its series, in one transaction with
the series' counter (domain/receipts). Idempotent: a charge numbered before keeps its number, so
a redelivered or repeated request changes nothing. Run by one writer per merchant (the receipts
function on a FIFO queue grouped by merchant); another writer at the same time loses the
counter's version check and starts again on the fresh counter."""

from __future__ import annotations

from ..domain.account import Account
from ..domain.charge import Charge
from ..domain.receipts import ReceiptCounter, number
from .concurrency import retry_on_conflict
from .ports import Changes, Clock, Repository


class ReceiptNumbering:
    def __init__(self, repo: Repository, clock: Clock) -> None:
        self.repo, self.clock = repo, clock

    def assign(self, merchant_id: str, charge_ids: list[str]) -> list[Charge]:
        """The charges numbered by this call (none when all already had their numbers)."""
        return self.assign_all(merchant_id, charge_ids)[0]

    def assign_all(self, merchant_id: str, charge_ids: list[str]) -> tuple[list[Charge], list[Charge]]:
        """The charges numbered by this call, and every one of `charge_ids` that has its number
        now (numbered by this call or before: whose receipt e-mail may go, at most once)."""
        wanted = list(dict.fromkeys(charge_ids))

        def once(attempt: int) -> tuple[list[Charge], list[Charge]]:
            now = self.clock.now()
            charges = self.repo.load_many({Charge: [(merchant_id, c) for c in wanted]}).of(Charge)
            done = [charges[c] for c in wanted if c in charges and charges[c].receipt_number is not None]
            todo = [charges[c] for c in wanted if c in charges and charges[c].receipt_number is None]
            if not todo:
                return [], done
            account = self.repo.get(Account, merchant_id, merchant_id)
            prefix = account.receipt_prefix if account is not None else "R"
            counter = self.repo.get(ReceiptCounter, merchant_id, merchant_id) or ReceiptCounter.new(merchant_id, now)
            numbered = number(counter, todo, prefix, now)
            if numbered:
                self.repo.commit(Changes(put=[*numbered, counter]))
            return numbered, done + numbered

        return retry_on_conflict(once)
