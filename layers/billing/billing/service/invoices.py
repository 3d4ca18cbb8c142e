"""Issuing invoices and credit notes (domain/invoices), on the receipt queue's single writer per
merchant, after the receipt numbering:

* `issue_for(merchant, charge ids)`: each numbered charge without its invoice gets one (its number
  is the receipt number; its id derives from the charge's, so it is created at most once: a
  second writer's or a redelivery's write conflicts, reads again and finds it issued). A crash
  between the numbering and the invoice leaves the request in the queue: its redelivery issues it.
* `credit(merchant, request)`: a credit note for a succeeded refund, a reversal or a lost dispute,
  numbered from the merchant's `CreditNoteCounter`, written with the counter and the corrected
  invoice's tally in one transaction on their versions (a crash numbers nothing, a redelivery
  finds the note issued: its id derives from what it answers). An invoice not issued yet (the
  correction overtook its charge's request) is issued first, its charge numbered if need be.
  What a correction gives back beyond what the invoice still holds is carried on it (domain/
  invoices `carry`) and credited from the charge's next collection's invoice, issued with it.
* `restore(merchant, refund)`: a refund failed after it succeeded: the invoice that undoes its
  credit note, numbered from the receipt counter, written with it and the corrected invoice's
  tally in one transaction (its id derives from the refund: issued at most once). What the
  refund itself carried is released; what else the invoice carries is credited from what it frees.
* `Invoices`: the merchant's reads (`GET /v1/invoices`), and the exports' `InvoiceRows`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

from ..domain.account import Account
from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.errors import found
from ..domain.events import EventType
from ..domain.exports import InvoiceRow
from ..domain.invoices import (
    CorrectionKind,
    CreditNoteCounter,
    Invoice,
    carried,
    carry,
    charge_invoice_id,
    collection_source,
    correction_source,
    invoice_id,
    issue_credit_note,
    issue_invoice,
    issue_restoring_invoice,
    release_carry,
    take_carried,
)
from ..domain.model import Customer, Entity, Mandate, Plan
from ..domain.receipts import ReceiptCounter
from ..domain.refunds import Refund
from ..observability import logger
from .concurrency import retry_on_conflict
from .event_recorder import EventRecorder
from .ports import Changes, Clock, IdGenerator, Links, Page, PageRequest, Repository
from .receipts import ReceiptNumbering

# Invoices written per transaction (each with its event: DynamoDB takes 100 items).
CHUNK = 40


class Invoicing:
    def __init__(
        self, repo: Repository, clock: Clock, ids: IdGenerator, numbering: ReceiptNumbering, links: Links | None = None
    ) -> None:
        """`links`: the customer links (`service/links`) that `invoice.issued` and
        `credit_note.issued` carry as the document's `url` (None: `url` is null)."""
        self.repo, self.clock, self.numbering = repo, clock, numbering
        self.recorder = EventRecorder(ids, links)

    def issue_for(self, merchant_id: str, charge_ids: list[str]) -> list[Invoice]:
        """Invoices for the numbered charges among `charge_ids` whose latest collection has none
        (a charge reversed and collected again is numbered and invoiced again); those issued now."""
        wanted = list(dict.fromkeys(charge_ids))

        def once(_: int) -> list[Invoice]:
            now = self.clock.now()
            # One read for the usual case (a first collection's invoice id is the charge's); a charge
            # collected again after a reversal reads its collection's invoice after.
            loaded = self.repo.load_many(
                {Charge: [(merchant_id, c) for c in wanted], Invoice: [(merchant_id, charge_invoice_id(c)) for c in wanted]}
            )
            charges, invoices = loaded.of(Charge), dict(loaded.of(Invoice))
            numbered = [charges[c] for c in wanted if c in charges and charges[c].receipt_number is not None]
            ids = {c.id: charge_invoice_id(c.id, c.collection) for c in numbered}
            if again := [(merchant_id, i) for c, i in ids.items() if i != charge_invoice_id(c)]:
                invoices |= self.repo.load_many({Invoice: again}).of(Invoice)
            todo = [c for c in numbered if ids[c.id] not in invoices]
            if not todo:
                return []
            parts = self.repo.load_many(
                {
                    Mandate: [(merchant_id, m) for m in dict.fromkeys(c.mandate_id for c in todo)],
                    Plan: [(merchant_id, p) for p in dict.fromkeys(c.plan_id for c in todo)],
                }
            )
            mandates, plans = parts.of(Mandate), parts.of(Plan)
            account = self.repo.get(Account, merchant_id, merchant_id) or Account.new(merchant_id, merchant_id, now)
            issued = [
                issue_invoice(c, _customer(mandates.get(c.mandate_id)), account, now, _plan_name(plans.get(c.plan_id)))
                for c in todo
            ]
            # A collection after a reversal first gives back what its previous one carries (money
            # returned beyond what that invoice held), with it in one transaction.
            previous = {(merchant_id, charge_invoice_id(c.id, c.collection - 1)) for c in todo if c.collection > 1}
            carriers = {
                i.charge_id: i for i in (self.repo.load_many({Invoice: list(previous)}).of(Invoice).values() if previous else [])
            }
            carrying = {c for c, i in carriers.items() if carried(i)}
            plain = [i for i in issued if i.charge_id not in carrying]
            for start in range(0, len(plain), CHUNK):
                chunk = plain[start : start + CHUNK]
                events = self.recorder.events([(i, [EventType.INVOICE_ISSUED]) for i in chunk], now)
                self.repo.commit(Changes(put=list(chunk), events=events))
            counter: CreditNoteCounter | None = None
            for invoice in (i for i in issued if i.charge_id in carrying):
                counter = counter or self._counter(merchant_id, now)
                charge = charges[invoice.charge_id]
                source = f"{collection_source(charge.id, charge.collection)}|carried"
                carrier = carriers[invoice.charge_id]
                note = take_carried(carrier, invoice, counter, account.credit_note_prefix, source, now)
                put: list[Entity] = [invoice, carrier]
                documents: list[tuple[Invoice, list[EventType]]] = [(invoice, [EventType.INVOICE_ISSUED])]
                if note is not None:
                    put += [note, counter]
                    documents.append((note, [EventType.CREDIT_NOTE_ISSUED]))
                self.repo.commit(Changes(put=put, events=self.recorder.events(documents, now)))
            return issued

        return retry_on_conflict(once)

    def credit(
        self, merchant_id: str, kind: CorrectionKind, source_id: str, charge_id: str, collection: int | None = None
    ) -> Invoice | None:
        """The credit note issued now for a refund, reversal or dispute (None: issued before, or
        nothing to correct: a refund not succeeded, a dispute not lost, a charge never invoiced)."""
        note, new = self.credit_note(merchant_id, kind, source_id, charge_id, collection)
        return note if new else None

    def credit_note(
        self, merchant_id: str, kind: CorrectionKind, source_id: str, charge_id: str, collection: int | None = None
    ) -> tuple[Invoice | None, bool]:
        """The credit note answering a refund, reversal or dispute, and whether it was issued now
        (a redelivery finds the one issued before: its e-mail may be asked for again, the notifier
        sends it at most once); None when there is nothing to correct. A reversal credits the
        invoice of the collection it returned (`collection`, the charge's n-th; its note's id
        derives from both); a refund or a dispute, the invoice of the charge's latest collection."""
        if kind == "reversal":
            source_id = collection_source(charge_id, collection or 1)
        note_id = invoice_id(correction_source(kind, source_id))

        def once(_: int) -> tuple[Invoice | None, bool]:
            now = self.clock.now()
            if (issued := self.repo.get(Invoice, merchant_id, note_id)) is not None:
                return issued, False
            invoice = self._invoice_of(merchant_id, charge_id, collection if kind == "reversal" else None)
            if invoice is None:
                logger.warning("nothing to correct: the charge has no invoice", extra={"charge_id": charge_id, "kind": kind})
                return None, False
            amount = self._amount(merchant_id, kind, source_id, invoice)
            if amount <= 0 or note_id in invoice.carries:
                return None, False
            # What the invoice no longer holds is carried (domain/invoices `carry`): the money went.
            credited = min(amount, invoice.uncredited)
            carry(invoice, note_id, amount - credited, now)
            if amount > credited:
                logger.warning(
                    "correction gives back more than its invoice holds: the rest is carried",
                    extra={"charge_id": charge_id, "kind": kind, "carried": amount - credited},
                )
            if credited <= 0:
                self.repo.commit(Changes(put=[invoice]))
                return None, False
            account = self.repo.get(Account, merchant_id, merchant_id) or Account.new(merchant_id, merchant_id, now)
            counter = self._counter(merchant_id, now)
            note = issue_credit_note(invoice, counter, account.credit_note_prefix, credited, kind, source_id, now)
            events = self.recorder.events([(note, [EventType.CREDIT_NOTE_ISSUED])], now)
            self.repo.commit(Changes(put=[note, invoice, counter], events=events))
            return note, True

        return retry_on_conflict(once)

    def restore(self, merchant_id: str, refund_id: str) -> tuple[Invoice | None, bool]:
        """A refund that failed at the gateway after it had succeeded: the invoice (of the invoice
        series) that undoes its credit note, and whether it was issued now; None when the refund
        has no credit note to undo (it never succeeded, or never got one) or has not failed."""
        note_id = invoice_id(correction_source("refund", refund_id))
        restoring_id = invoice_id(correction_source("refund_failed", refund_id))

        def once(_: int) -> tuple[Invoice | None, bool]:
            now = self.clock.now()
            loaded = self.repo.load_many({Invoice: [(merchant_id, note_id), (merchant_id, restoring_id)]}).of(Invoice)
            if (issued := loaded.get(restoring_id)) is not None:
                return issued, False
            note, refund = loaded.get(note_id), self.repo.get(Refund, merchant_id, refund_id)
            if refund is None or refund.status != "failed":
                return None, False
            if note is None or note.corrects is None:  # carried whole: no note of its own to undo
                return self._release(merchant_id, refund, note_id, restoring_id, now)
            invoice = self.repo.get(Invoice, merchant_id, note.corrects)
            if invoice is None:
                return None, False
            account = self.repo.get(Account, merchant_id, merchant_id)
            prefix = account.receipt_prefix if account is not None else "R"
            counter = self.repo.get(ReceiptCounter, merchant_id, merchant_id) or ReceiptCounter.new(merchant_id, now)
            restoring = issue_restoring_invoice(note, invoice, counter, prefix, "refund_failed", refund_id, now)
            documents: list[tuple[Invoice, list[EventType]]] = [(restoring, [EventType.INVOICE_ISSUED])]
            put: list[Entity] = [restoring, invoice, counter]
            # The refund's own carried part is given back no more; what else the invoice carries
            # is credited from what the undone note freed.
            release_carry(invoice, restoring_id, note_id, now)
            if carried(invoice):
                notes = self._counter(merchant_id, now)
                credit_prefix = account.credit_note_prefix if account is not None else "CN"
                if (taken := take_carried(invoice, invoice, notes, credit_prefix, f"{refund_id}|carried", now)) is not None:
                    put += [taken, notes]
                    documents.append((taken, [EventType.CREDIT_NOTE_ISSUED]))
            self.repo.commit(Changes(put=put, events=self.recorder.events(documents, now)))
            return restoring, True

        return retry_on_conflict(once)

    def _counter(self, merchant_id: str, now: datetime) -> CreditNoteCounter:
        return self.repo.get(CreditNoteCounter, merchant_id, merchant_id) or CreditNoteCounter.new(merchant_id, now)

    def _release(self, merchant_id: str, refund: Refund, note_id: str, key: str, now: datetime) -> tuple[Invoice | None, bool]:
        """A failed refund that had no credit note (the invoice held nothing when it succeeded):
        what it carried (on the invoice of the collection it was credited to) is given back no
        more. What a later collection's credit note already took of it is undone by an invoice
        restoring that note (its id is the refund's `key`: written once), when that note took no
        more than this refund's carry (a note that also took others' carries is left: logged)."""
        charge = self.repo.get(Charge, merchant_id, refund.charge_id)
        if charge is None:
            return None, False
        wanted = [(merchant_id, charge_invoice_id(charge.id, n)) for n in range(1, charge.collection + 1)]
        invoices = self.repo.load_many({Invoice: wanted}).of(Invoice)
        carrier = next((i for i in invoices.values() if note_id in i.carries), None)
        if carrier is None or key in carrier.carries or f"{key}|released" in carrier.carries:
            return None, False  # nothing carried, or released before (a redelivery)
        own = carrier.carries.get(note_id, 0)
        taken = own - release_carry(carrier, key, note_id, now)  # the part a later note gave back
        carrier.carries = {**carrier.carries, key: carrier.carries.get(key, 0)}  # released: once
        takes = [k for k, v in carrier.carries.items() if v < 0 and "|" not in k and k != key]
        notes = self.repo.load_many({Invoice: [(merchant_id, k) for k in takes]}).of(Invoice) if taken > 0 and takes else {}
        take = next(
            (
                n
                for n in sorted(notes.values(), key=lambda n: n.seq, reverse=True)
                if n.type == "credit_note" and 0 < -n.total <= taken
            ),
            None,
        )
        target = invoices.get(take.corrects) if take is not None and take.corrects is not None else None
        if take is None or target is None:
            if taken > 0:
                logger.warning(
                    "a failed refund's carry was given back by a note that also gave others'; left",
                    extra={"refund_id": refund.id},
                )
            self.repo.commit(Changes(put=[carrier]))
            return None, False
        account = self.repo.get(Account, merchant_id, merchant_id)
        prefix = account.receipt_prefix if account is not None else "R"
        counter = self.repo.get(ReceiptCounter, merchant_id, merchant_id) or ReceiptCounter.new(merchant_id, now)
        restoring = issue_restoring_invoice(take, target, counter, prefix, "refund_failed", refund.id, now)
        # The ledger: the refund gives back nothing (its carry released), and the note that gave it
        # back is undone: both recorded, the carrier's sum unchanged.
        undone = -take.total  # what the note gave back (its amounts are negative)
        carrier.carries = {**carrier.carries, f"{key}|released": -undone, f"{key}|undone": undone}
        carrier.updated_at = now
        put: list[Entity] = [restoring, target, counter] + ([carrier] if carrier.id != target.id else [])
        self.repo.commit(Changes(put=put, events=self.recorder.events([(restoring, [EventType.INVOICE_ISSUED])], now)))
        return restoring, True

    def _invoice_of(self, merchant_id: str, charge_id: str, collection: int | None = None) -> Invoice | None:
        """The invoice of the charge's `collection` (None: its latest), issued first if the
        correction overtook its charge's request."""

        def wanted() -> str | None:
            if collection is not None:
                return charge_invoice_id(charge_id, collection)
            charge = self.repo.get(Charge, merchant_id, charge_id)
            return charge_invoice_id(charge_id, charge.collection) if charge is not None else None

        if (first := wanted()) is not None and (invoice := self.repo.get(Invoice, merchant_id, first)) is not None:
            return invoice
        self.numbering.assign_all(merchant_id, [charge_id])
        self.issue_for(merchant_id, [charge_id])
        again = wanted()
        return self.repo.get(Invoice, merchant_id, again) if again is not None else None

    def _amount(self, merchant_id: str, kind: CorrectionKind, source_id: str, invoice: Invoice) -> int:
        if kind == "refund":
            refund = self.repo.get(Refund, merchant_id, source_id)
            return refund.amount if refund is not None and refund.status == "succeeded" else 0
        if kind == "dispute":
            dispute = self.repo.get(Dispute, merchant_id, source_id)
            return dispute.amount if dispute is not None and dispute.status == "lost" else 0
        return invoice.total  # a reversal returns the whole payment


def _plan_name(plan: Plan | None) -> str | None:
    return plan.name if plan is not None else None


def _customer(mandate: Mandate | None) -> Customer:
    """The buyer's details (a charge always has its mandate; none would issue with an empty buyer
    rather than leave a gap in the series)."""
    return mandate.customer if mandate is not None else Customer(reference="")


class Invoices:
    """The merchant's invoices and credit notes (read-only), and the invoices export's rows."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def get(self, merchant_id: str, invoice_id: str) -> Invoice:
        return found(self.repo.get(Invoice, merchant_id, invoice_id), "invoice", invoice_id)

    def page(self, merchant_id: str, page: PageRequest, **filters: str | None) -> Page[Invoice]:
        return self.repo.page(Invoice, merchant_id, page, **filters)

    def issued_between(self, merchant_id: str, start: datetime, end: datetime) -> Iterator[list[InvoiceRow]]:
        """`InvoiceRows`: one row per document and tax group, oldest first (documents are created
        when issued)."""
        for page in self.repo.created_between(Invoice, merchant_id, start, end):
            yield [row for invoice in page for row in rows_of(invoice)]


def rows_of(invoice: Invoice) -> list[InvoiceRow]:
    tax = invoice.buyer.tax
    address = tax.address if tax is not None else None
    return [
        InvoiceRow(
            number=invoice.number,
            type=invoice.type,
            issued_at=invoice.issued_at,
            corrects=invoice.corrects_number,
            customer_name=(tax.company_name if tax is not None and tax.company_name else None) or invoice.buyer.name,
            company_code=tax.company_code if tax is not None else None,
            vat_id=tax.vat_id if tax is not None else None,
            country=address.country if address is not None else None,
            currency=invoice.currency,
            taxable_amount=group.taxable_amount,
            percentage=Decimal(group.percentage) if group.tax_rate_id is not None else None,
            tax_amount=group.tax_amount,
            total=group.taxable_amount + group.tax_amount,
            charge_id=invoice.charge_id,
        )
        for group in invoice.tax_breakdown
    ]
