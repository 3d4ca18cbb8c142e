"""Receipt numbers under concurrency and crashes, as a Hypothesis state machine on fakes.

Charges of two merchants succeed at random; their numbering requests are delivered in any order,
in batches, twice, as the receipts function gets them (`number`: written without reading the
charges, on condition that none has a number yet) or by charge id (`assign`: read first), with a crash at the write, with a second writer racing the first (it reads the
same counter, then the other commits first), with a transaction conflict, and with the prefix
changed between. After every step, per merchant: the numbers given are exactly 1..n (no gap, no
duplicate), a charge's number never changes once given, and only succeeded charges have one. At
the end every succeeded charge has its number.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from billing.api.requests import AccountUpdate
from billing.domain.charge import Charge
from billing.domain.errors import ConcurrentModification
from billing.domain.receipts import ReceiptCounter
from billing.service.messages import ReceiptRequest
from billing.service.receipts import ReceiptNumbering
from tests.world import World, settled_charge

MERCHANTS = ("mch_a", "mch_b")


class Crash(Exception):
    pass


class ReceiptNumbers(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.world = World()
        self.numbering = ReceiptNumbering(self.world.repo, self.world.clock)
        self.requests: list[tuple[str, str]] = []  # (merchant, charge id) still in the queue
        self.given: dict[str, str] = {}  # charge id -> the number it got
        self.count = 0

    # ---------------------------------------------------------------- charges
    @rule(merchant=st.sampled_from(MERCHANTS), status=st.sampled_from(["succeeded", "succeeded", "failed"]))
    def charge_settles(self, merchant: str, status: str) -> None:
        self.count += 1
        charge = settled_charge(self.world, merchant, self.count, status)
        if status == "succeeded":
            self.requests.append((merchant, charge.id))
        self.world.clock.advance(seconds=1)

    @rule(merchant=st.sampled_from(MERCHANTS), prefix=st.sampled_from(["R", "SK", "2027"]))
    def prefix_changes(self, merchant: str, prefix: str) -> None:
        self.world.api.account.update(merchant, AccountUpdate(receipt_prefix=prefix))

    # --------------------------------------------------------------- numbering
    def _batch(self, start: int, size: int) -> tuple[str, list[str]] | None:
        if not self.requests:
            return None
        start %= len(self.requests)
        merchant = self.requests[start][0]
        chosen = [c for m, c in self.requests[start : start + size] if m == merchant]
        return merchant, chosen

    def _number(self, merchant: str, chosen: list[str], fast: bool) -> None:
        """Numbered as the receipts function does (`fast`: the requests say what the charges are,
        as the event publisher sends them) or by charge id only (requests sent before they said)."""
        if not fast:
            self.numbering.assign(merchant, chosen)
            return
        requests = [
            ReceiptRequest(
                merchant_id=merchant,
                charge_id=c,
                mandate_id=self.world.repo.get(Charge, merchant, c).mandate_id,
                customer_has_email=False,
            )
            for c in chosen
        ]
        self.numbering.number(merchant, requests)

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 20), size=st.integers(1, 10), keep=st.booleans(), fast=st.booleans())
    def deliver(self, start: int, size: int, keep: bool, fast: bool) -> None:
        """A batch numbered; `keep`: the messages come back anyway (redelivery)."""
        merchant, chosen = self._batch(start, size)
        self._number(merchant, chosen, fast)
        if not keep:
            self.requests = [r for r in self.requests if r[1] not in chosen]

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 20), size=st.integers(1, 10), fast=st.booleans())
    def crash_at_the_write(self, start: int, size: int, fast: bool) -> None:
        merchant, chosen = self._batch(start, size)
        self.world.repo.fail_next_commit_with = Crash()
        try:
            self._number(merchant, chosen, fast)
        except Crash:
            pass
        finally:
            self.world.repo.fail_next_commit_with = None

    @precondition(lambda self: len(self.requests) >= 2)
    @rule(first=st.integers(0, 20), second=st.integers(0, 20))
    def two_writers_race(self, first: int, second: int) -> None:
        """Writer A reads the counter; writer B numbers another batch and commits first; A goes on."""
        a, b = self._batch(first, 3), self._batch(second, 3)
        repo = self.world.repo
        real = repo.get

        def read_then_let_the_other_win(model: type, merchant_id: str, object_id: str):
            found = real(model, merchant_id, object_id)
            if model is ReceiptCounter:
                repo.get = real
                self.numbering.assign(*b)
            return found

        repo.get = read_then_let_the_other_win
        try:
            self.numbering.assign(*a)
        finally:
            repo.get = real

    @precondition(lambda self: len(self.requests) >= 2)
    @rule(first=st.integers(0, 20), second=st.integers(0, 20), fast=st.booleans())
    def two_writers_race_on_the_batch_read(self, first: int, second: int, fast: bool) -> None:
        """Writer A reads the batch's counters (as the receipts function does); writer B numbers
        another batch and commits first; A goes on without reading the charges."""
        a, b = self._batch(first, 3), self._batch(second, 3)
        repo = self.world.repo
        real = repo.load_receipt_series

        def read_then_let_the_other_win(merchant_ids: list[str]):
            series = real(merchant_ids)
            repo.load_receipt_series = real
            self._number(*b, fast)
            return series

        repo.load_receipt_series = read_then_let_the_other_win
        try:
            self._number(*a, True)
        finally:
            repo.load_receipt_series = real

    @precondition(lambda self: self.requests)
    @rule(start=st.integers(0, 20), conflicts=st.integers(1, 6), fast=st.booleans())
    def transaction_conflicts(self, start: int, conflicts: int, fast: bool) -> None:
        merchant, chosen = self._batch(start, 5)
        self.world.repo.conflicts_left = conflicts
        try:
            self._number(merchant, chosen, fast)
        except ConcurrentModification:
            pass  # gave up: the message comes back
        finally:
            self.world.repo.conflicts_left = 0

    @rule(step=st.sampled_from([timedelta(seconds=1), timedelta(hours=1)]))
    def time_passes(self, step: timedelta) -> None:
        self.world.clock.advance(seconds=step.total_seconds())

    # -------------------------------------------------------------- invariants
    @invariant()
    def numbers_are_a_series_without_gaps_or_duplicates(self) -> None:
        for merchant in MERCHANTS:
            charges = self.world.repo.charges(merchant)
            numbered = [c for c in charges if c.receipt_number is not None]
            assert all(c.status == "succeeded" for c in numbered)
            seqs = sorted(c.receipt_seq for c in numbered)
            assert seqs == list(range(1, len(numbered) + 1)), seqs
            assert all(c.receipt_number.endswith(f"-{c.receipt_seq}") for c in numbered)
            counter = self.world.repo.get(ReceiptCounter, merchant, merchant)
            assert (counter.next if counter else 1) == len(numbered) + 1
            for charge in numbered:
                assert self.given.setdefault(charge.id, charge.receipt_number) == charge.receipt_number

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        for merchant, charge in list(self.requests):  # the queue drains once the faults stop
            self._number(merchant, [charge], True)
        self.numbers_are_a_series_without_gaps_or_duplicates()
        for merchant in MERCHANTS:
            assert all(c.receipt_number for c in self.world.repo.charges(merchant) if c.status == "succeeded")


EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "300"))
ReceiptNumbers.TestCase.settings = settings(settings.default, max_examples=EXAMPLES, stateful_step_count=40, deadline=None)
TestReceiptNumbers = ReceiptNumbers.TestCase
