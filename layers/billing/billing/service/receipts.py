"""Numbering receipts: each merchant's succeeded charges get the next numbers of its series, in
one transaction with the series' counter (domain/receipts), then their receipt e-mails are asked
for. Run by one writer per merchant (the receipts function on a FIFO queue grouped by merchant);
another writer at the same time loses the counter's version check and starts again on the fresh
counter. Idempotent: a charge numbered before keeps its number, so a redelivered or repeated
request changes nothing.

`ReceiptRequests.handle(batch)` (the receipts function's one call): every merchant's counter and
account in one batch read, then per merchant `ReceiptNumbering.number`: the requests say what
the charges are (succeeded, of which mandate, whether its customer has an address), so the
charges are numbered without being read, each on condition that it succeeded and has no number
yet; any condition that fails (a redelivery, a charge not there) makes the whole write fail and
the merchant's requests go the reading way (`assign_all`), which numbers only what has none.
Receipt e-mails are asked for only for customers with an address, when the account sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..domain.account import Account
from ..domain.charge import Charge
from ..domain.errors import ConcurrentModification
from ..domain.notifications import SETTING
from ..domain.receipts import ReceiptCounter, number, numbers_for
from ..observability import logger
from .concurrency import retry_on_conflict
from .messages import NotificationMessage, ReceiptRequest
from .ports import Changes, Clock, NotificationQueue, Repository

if TYPE_CHECKING:
    from ..domain.invoices import CorrectionKind, Invoice
    from .invoices import Invoicing

Series = tuple[ReceiptCounter | None, Account | None]
# The requests a credit note answers (`refund_failed` asks for the invoice that undoes one).
CREDITED: dict[str, CorrectionKind] = {"refund": "refund", "reversal": "reversal", "dispute": "dispute"}


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

    def number(self, merchant_id: str, requests: Sequence[ReceiptRequest], series: Series | None = None) -> Numbered:
        """Number one merchant's requested charges; the receipt e-mails to ask for. `series`: the
        merchant's counter and account as read for the batch (None: read here)."""
        wanted = list({r.charge_id: r for r in requests if r.merchant_id == merchant_id}.values())
        if not wanted:
            return Numbered(0)
        if all(r.mandate_id is not None and r.customer_has_email is not None for r in wanted):
            if series is None:
                series = self.repo.load_receipt_series([merchant_id]).get(merchant_id, (None, None))
            counter, account = series
            now = self.clock.now()
            counter = counter.model_copy(deep=True) if counter is not None else ReceiptCounter.new(merchant_id, now)
            numbers = numbers_for(counter, [r.charge_id for r in wanted], account.receipt_prefix if account else "R", now)
            try:
                self.repo.number_charges(counter, numbers)
            except ConcurrentModification:
                pass  # one was numbered before (a redelivery), is not there, or the counter moved: read
            else:
                return Numbered(len(numbers), _emails(merchant_id, account, [(r.mandate_id, r.charge_id, r) for r in wanted]))
        new, with_numbers = self.assign_all(merchant_id, [r.charge_id for r in wanted])
        asked = {r.charge_id: r for r in wanted}
        account = series[1] if series is not None else self.repo.get(Account, merchant_id, merchant_id)
        return Numbered(len(new), _emails(merchant_id, account, [(c.mandate_id, c.id, asked.get(c.id)) for c in with_numbers]))


@dataclass(frozen=True)
class Numbered:
    """What numbering one merchant's requests did: how many got a number now, and the receipt
    e-mails to ask for (again for a redelivery: the notifier sends each at most once)."""

    count: int
    emails: list[NotificationMessage] = field(default_factory=list)


def _emails(
    merchant_id: str, account: Account | None, charges: list[tuple[str | None, str, ReceiptRequest | None]]
) -> list[NotificationMessage]:
    """Receipt e-mails for numbered charges (mandate id, charge id, its request), except where
    none can go: the account does not send them, or the request says the customer has no
    address (a request that does not say is asked for: the notifier decides)."""
    if account is not None and not getattr(account.notifications, SETTING["receipt"]):
        return []
    return [
        NotificationMessage(
            merchant_id=merchant_id, kind="receipt", mandate_id=mandate_id, charge_id=charge_id, occasion=charge_id
        )
        for mandate_id, charge_id, request in charges
        if mandate_id is not None and (request is None or request.customer_has_email is not False)
    ]


def credit_note_email(note: Invoice) -> NotificationMessage:
    """A refund's credit note e-mail, asked for whenever its request is handled (a redelivery after
    a crash asks again): the notifier sends it at most once (its occasion is the credit note)."""
    return NotificationMessage(
        merchant_id=note.merchant_id, kind="credit_note", mandate_id=note.mandate_id, charge_id=note.charge_id, occasion=note.id
    )


@dataclass
class ReceiptBatch:
    """A batch's outcome: how many charges were numbered, how many requests were invalid, and the
    position of the first request of the first merchant whose numbering failed (FIFO: that
    request and every later valid one come back)."""

    numbered: int = 0
    invalid: int = 0
    retry_from: int | None = None
    invoices: int = 0  # invoices issued
    credit_notes: int = 0  # credit notes issued


class ReceiptRequests:
    """The receipts function's use case: a FIFO batch of requests (None: a record that is not one)."""

    def __init__(
        self,
        repo: Repository,
        numbering: ReceiptNumbering,
        notification_queue: NotificationQueue | None,
        invoicing: Invoicing | None = None,
    ) -> None:
        """`invoicing`: issues each numbered charge's invoice, and the credit notes asked for
        (service/invoices); None: numbering only."""
        self.repo, self.numbering, self.notification_queue = repo, numbering, notification_queue
        self.invoicing = invoicing

    def handle(self, batch: Sequence[ReceiptRequest | None]) -> ReceiptBatch:
        out = ReceiptBatch(invalid=sum(1 for r in batch if r is None))
        groups: dict[str, list[tuple[int, ReceiptRequest]]] = {}
        for position, request in enumerate(batch):
            if request is not None:
                groups.setdefault(request.merchant_id, []).append((position, request))
        try:
            series = self.repo.load_receipt_series(sorted(groups)) if groups else {}
        except Exception:  # noqa: BLE001 (each merchant reads its own)
            logger.exception("receipt series not read for the batch; each merchant reads its own")
            series = {}
        for merchant_id, wanted in groups.items():
            try:
                charges = [r for _, r in wanted if r.correction is None]
                numbered = self.numbering.number(merchant_id, charges, series.get(merchant_id)) if charges else Numbered(0)
                out.numbered += numbered.count
                emails = list(numbered.emails)
                if self.invoicing is not None:  # before the e-mails: a receipt e-mail links its invoice
                    out.invoices += len(self.invoicing.issue_for(merchant_id, [r.charge_id for r in charges]))
                    for _, r in wanted:
                        if r.correction == "refund_failed" and r.source_id is not None:
                            out.invoices += self.invoicing.restore(merchant_id, r.source_id)[1]
                        elif (kind := CREDITED.get(r.correction or "")) is not None and r.source_id is not None:
                            note, new = self.invoicing.credit_note(merchant_id, kind, r.source_id, r.charge_id, r.collection)
                            out.credit_notes += new
                            if note is not None and note.reason == "refund":  # the notifier decides (account, address)
                                emails.append(credit_note_email(note))
                if self.notification_queue is not None and emails:
                    self.notification_queue.send(emails)
            except Exception:  # noqa: BLE001 (this merchant's requests come back)
                logger.exception("receipts of merchant %s not numbered; retried", merchant_id)
                first = wanted[0][0]
                out.retry_from = first if out.retry_from is None else min(out.retry_from, first)
        return out
