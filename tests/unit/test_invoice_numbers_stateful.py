"""Both series (invoices and credit notes) under concurrency and crashes, as a Hypothesis state
machine on fakes, following the receipt-numbering machine.

Charges of two merchants succeed, get refunded (partly, several times), returned by the bank or
lose disputes at random; the receipt queue's requests (a charge's, a correction's) are delivered in any order, in batches, twice, with a
crash at a write, with transaction conflicts, and with a second writer that issues another
credit note between the first one's read of the counter and its write. After every step, per
merchant: the invoices' numbers are their charges' receipt numbers (no duplicate invoice per
charge), the credit notes' numbers are exactly 1..n (no gap, no duplicate), at most one credit
note per correction, each naming its charge's invoice, and no rate of an invoice is credited
beyond what it holds (the invoice's tally is its credit notes' sum). At the end every numbered
charge has its invoice and every succeeded refund its credit note (unless the invoice was fully
credited before it).
"""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from billing.domain.charge import Charge, Line, TaxLine, charge_id
from billing.domain.disputes import Dispute
from billing.domain.errors import ConcurrentModification
from billing.domain.invoices import CreditNoteCounter, Invoice, carried, correction_source, invoice_id
from billing.domain.model import PaymentMethod
from billing.domain.refunds import Refund
from billing.service.invoices import Invoicing
from billing.service.messages import ReceiptRequest
from billing.service.ports import Changes
from billing.service.receipts import ReceiptNumbering, ReceiptRequests
from tests.world import World

MERCHANTS = ("mch_a", "mch_b")
AMOUNT = 1710  # 12.10 at 21 % inclusive + 5.00 not subject to VAT


class Crash(Exception):
    pass


class BothSeries(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.world = World()
        self.numbering = ReceiptNumbering(self.world.repo, self.world.clock)
        self.invoicing = Invoicing(self.world.repo, self.world.clock, self.world.ids, self.numbering)
        self.receipts = ReceiptRequests(self.world.repo, self.numbering, None, self.invoicing)
        self.requests: list[ReceiptRequest] = []  # still in the queue
        self.refunded: dict[str, int] = {}  # charge id -> refunded so far
        self.refunds: dict[str, str] = {}  # refund id -> merchant
        self.corrections: dict[tuple[str, str], str] = {}  # (reversal|dispute, source id) -> merchant
        self.given: dict[str, str] = {}  # document id -> its number
        self.count = 0

    # ------------------------------------------------------------------ money
    @rule(merchant=st.sampled_from(MERCHANTS))
    def charge_succeeds(self, merchant: str) -> None:
        self.count += 1
        now = self.world.clock.now()
        charge = Charge(
            id=charge_id(merchant, f"mdt_{self.count}", 1),
            merchant_id=merchant,
            created_at=now,
            updated_at=now,
            mandate_id=f"mdt_{self.count}",
            plan_id="pln_1",
            cycle=1,
            amount=AMOUNT,
            subtotal=AMOUNT,
            tax_amount=210,
            currency="EUR",
            due_at=now,
            status="succeeded",
            lines=[
                Line(type="plan", description="Gold", amount=1210, tax_rate_id="txr_1"),
                Line(type="item", description="Towel", amount=500),
            ],
            tax_breakdown=[
                TaxLine(
                    tax_rate_id="txr_1", percentage="21", inclusive=True, category="standard", taxable_amount=1000, tax_amount=210
                ),
                TaxLine(percentage="0", inclusive=True, category="not_subject", taxable_amount=500, tax_amount=0),
            ],
        )
        self.world.repo.commit(Changes(put=[charge]))
        self.refunded[charge.id] = 0
        self.requests.append(
            ReceiptRequest(merchant_id=merchant, charge_id=charge.id, mandate_id=charge.mandate_id, customer_has_email=False)
        )
        self.world.clock.advance(seconds=1)

    @precondition(lambda self: self.refunded)
    @rule(pick=st.integers(0, 100), amount=st.integers(1, 900))
    def refund_succeeds(self, pick: int, amount: int) -> None:
        charge_id_ = sorted(self.refunded)[pick % len(self.refunded)]
        amount = min(amount, AMOUNT - self.refunded[charge_id_])
        if amount <= 0:
            return
        merchant = next(m for m in MERCHANTS if self.world.repo.get(Charge, m, charge_id_) is not None)
        charge = self.world.repo.get(Charge, merchant, charge_id_)
        now = self.world.clock.now()
        refund = Refund(
            id=self.world.ids.new("rfd"),
            merchant_id=merchant,
            created_at=now,
            updated_at=now,
            charge_id=charge.id,
            mandate_id=charge.mandate_id,
            amount=amount,
            currency="EUR",
            status="succeeded",
            payment_method=PaymentMethod(gateway="simulated", token="pm_sim_ok"),
        )
        self.world.repo.commit(Changes(put=[refund]))
        self.refunded[charge.id] += amount
        self.refunds[refund.id] = merchant
        self.requests.append(ReceiptRequest(merchant_id=merchant, charge_id=charge.id, correction="refund", source_id=refund.id))
        self.world.clock.advance(seconds=1)

    @precondition(lambda self: self.refunded)
    @rule(pick=st.integers(0, 100), kind=st.sampled_from(["reversal", "dispute"]), amount=st.integers(1, 2000))
    def payment_returned_or_dispute_lost(self, pick: int, kind: str, amount: int) -> None:
        """A reversal (the whole payment) or a lost dispute: its credit note takes what is left."""
        charge_id_ = sorted(self.refunded)[pick % len(self.refunded)]
        merchant = next(m for m in MERCHANTS if self.world.repo.get(Charge, m, charge_id_) is not None)
        if kind == "reversal":
            source = charge_id_
        else:
            now = self.world.clock.now()
            source = self.world.ids.new("dsp")
            dispute = Dispute(
                id=source,
                merchant_id=merchant,
                created_at=now,
                updated_at=now,
                charge_id=charge_id_,
                mandate_id=self.world.repo.get(Charge, merchant, charge_id_).mandate_id,
                amount=amount,
                currency="EUR",
                reason="general",
                status="lost",
                gateway_reference=f"dp_{source}",
            )
            self.world.repo.commit(Changes(put=[dispute]))
        self.corrections[(kind, source)] = merchant
        self.requests.append(ReceiptRequest(merchant_id=merchant, charge_id=charge_id_, correction=kind, source_id=source))

    # --------------------------------------------------------------- delivery
    def _batch(self, start: int, size: int) -> list[ReceiptRequest]:
        start %= len(self.requests)
        return self.requests[start : start + size]

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 30), size=st.integers(1, 8), keep=st.booleans())
    def deliver(self, start: int, size: int, keep: bool) -> None:
        batch = self._batch(start, size)
        out = self.receipts.handle(batch)
        assert out.retry_from is None
        if not keep:
            self.requests = [r for r in self.requests if r not in batch]

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 30), size=st.integers(1, 8), skip=st.integers(0, 4))
    def crash_at_a_write(self, start: int, size: int, skip: int) -> None:
        """The process dies at one of the batch's writes (numbering, an invoice, a credit note):
        the batch comes back (whatever was written before the crash stays)."""
        repo = self.world.repo
        real = repo.commit
        left = [skip]

        def commit(changes: Changes) -> None:
            if left[0] == 0:
                repo.commit = real
                raise Crash()
            left[0] -= 1
            real(changes)

        repo.commit = commit
        try:
            self.receipts.handle(self._batch(start, size))
        finally:
            repo.commit = real

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 30), conflicts=st.integers(1, 8))
    def transaction_conflicts(self, start: int, conflicts: int) -> None:
        self.world.repo.conflicts_left = conflicts
        try:
            self.receipts.handle(self._batch(start, 5))
        except ConcurrentModification:
            pass
        finally:
            self.world.repo.conflicts_left = 0

    @precondition(lambda self: len([r for r in self.requests if r.correction]) >= 2)
    @rule(first=st.integers(0, 30), second=st.integers(0, 30))
    def two_writers_race_on_the_credit_note_counter(self, first: int, second: int) -> None:
        """Writer A reads the credit note counter; writer B issues another credit note and commits
        first; A goes on (its write conflicts, it reads again)."""
        corrections = [r for r in self.requests if r.correction]
        a, b = corrections[first % len(corrections)], corrections[second % len(corrections)]
        repo = self.world.repo
        real = repo.get

        def read_then_let_the_other_win(model: type, merchant_id: str, object_id: str):
            found = real(model, merchant_id, object_id)
            if model is CreditNoteCounter:
                repo.get = real
                self.receipts.handle([b])
            return found

        repo.get = read_then_let_the_other_win
        try:
            self.receipts.handle([a])
        finally:
            repo.get = real

    # ------------------------------------------------------------- invariants
    def _documents(self, merchant: str) -> list[Invoice]:
        return [o for (m, _), o in self.world.repo.items.items() if m == merchant and isinstance(o, Invoice)]

    @invariant()
    def both_series_are_gapless_and_consistent(self) -> None:
        for merchant in MERCHANTS:
            documents = self._documents(merchant)
            invoices = [d for d in documents if d.type == "invoice"]
            notes = [d for d in documents if d.type == "credit_note"]
            for invoice in invoices:
                charge = self.world.repo.get(Charge, merchant, invoice.charge_id)
                assert invoice.id == invoice_id(charge.id) and invoice.number == charge.receipt_number
            assert len({i.number for i in invoices}) == len(invoices)
            assert sorted(n.seq for n in notes) == list(range(1, len(notes) + 1))
            assert all(n.number == f"CN-{n.seq}" for n in notes)
            counter = self.world.repo.get(CreditNoteCounter, merchant, merchant)
            assert (counter.next if counter else 1) == len(notes) + 1
            assert len({n.id for n in notes}) == len(notes)
            by_id = {i.id: i for i in invoices}
            for invoice in invoices:
                mine = [n for n in notes if n.corrects == invoice.id]
                for i, group in enumerate(invoice.tax_breakdown):
                    taken = [g for n in mine for g in n.tax_breakdown if g.category == group.category]
                    collected = -sum(g.taxable_amount + g.tax_amount for g in taken)
                    tax = -sum(g.tax_amount for g in taken)
                    assert (invoice.credited[i], invoice.credited_tax[i]) == (collected, tax)
                    assert 0 <= tax <= group.tax_amount and 0 <= collected - tax <= group.taxable_amount
            assert all(n.corrects in by_id for n in notes)
            # What the corrections answered gave back is credited or carried, never lost or twice
            for invoice in invoices:
                assert sum(invoice.credited) + carried(invoice) == self._given_back(merchant, invoice)
            for document in documents:
                assert self.given.setdefault(document.id, document.number) == document.number

    def _given_back(self, merchant: str, invoice: Invoice) -> int:
        """What the corrections of `invoice`'s charge answered so far (a credit note issued or an
        amount carried) gave back: a refund's or a lost dispute's amount, a reversal the payment."""
        answered = {n.id for n in self._documents(merchant) if n.corrects == invoice.id} | set(invoice.carries)
        total = 0
        for refund_id in (r for r, m in self.refunds.items() if m == merchant):
            refund_ = self.world.repo.get(Refund, merchant, refund_id)
            if refund_.charge_id == invoice.charge_id and invoice_id(correction_source("refund", refund_id)) in answered:
                total += refund_.amount
        for (kind, source), m in self.corrections.items():
            if m != merchant or invoice_id(correction_source(kind, source)) not in answered:  # type: ignore[arg-type]
                continue
            if kind == "reversal":
                total += invoice.total if source == invoice.charge_id else 0
            else:
                dispute = self.world.repo.get(Dispute, merchant, source)
                total += dispute.amount if dispute.charge_id == invoice.charge_id else 0
        return total

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        for request in list(self.requests):  # the queue drains once the faults stop
            assert self.receipts.handle([request]).retry_from is None
        self.both_series_are_gapless_and_consistent()
        for merchant in MERCHANTS:
            documents = self._documents(merchant)
            numbered = {c.id for c in self.world.repo.charges(merchant) if c.receipt_number}
            assert {d.charge_id for d in documents if d.type == "invoice"} == numbered
            notes = [d for d in documents if d.type == "credit_note"]
            credited = {d.refund_id for d in notes if d.reason == "refund"}
            # Every refund has its credit note, unless a reversal or a lost dispute took all first
            for refund_id in (r for r, m in self.refunds.items() if m == merchant):
                refund_ = self.world.repo.get(Refund, merchant, refund_id)
                invoice = self.world.repo.get(Invoice, merchant, invoice_id(refund_.charge_id))
                assert refund_id in credited or (invoice is not None and invoice.uncredited == 0)


EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "200"))
BothSeries.TestCase.settings = settings(settings.default, max_examples=EXAMPLES, stateful_step_count=40, deadline=None)
TestBothSeries = BothSeries.TestCase
