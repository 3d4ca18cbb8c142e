"""An independent model of what each mandate owes: the oracle the stateful test checks the billing
engine against. It shares no code with `billing.domain` (its own calendar from dateutil, its own
proration with `Fraction`, its own books per charge), and is told only what a merchant or an
observer sees: commands as they were accepted, and charges and refunds as they appear.

The rules, in plain words (the contract: shared/spec/API.md, Plan changes and Items):

1. A mandate's plans form segments. The first starts at its anchor: the later of activation and
   `start_at`, plus the trial. A plan change `at: now` starts a segment now; `at: next_charge`
   starts one at the next charge's date. A charge due inside a segment is that segment's plan:
   its due time lies on that plan's grid from the segment's anchor (month ends clamp, computed
   from the anchor each time), the period it pays ends at the next grid point, and no segment
   bills more charges than its plan's `total_cycles`.
2. A new cycle charge's lines are: the plan's amount; every item accepted since the last cycle
   charge, in the order accepted; and, when the mandate holds credit, a credit line. Tax (the
   contract's "Tax rates", computed by tests/tax_oracle with exact fractions): the plan may have a
   rate, inclusive or exclusive; the items here have none of their own, so every line is in the
   plan's group, and what the charge collects is that group's taxable amount plus its tax. Credit
   is money (what the customer paid, tax included): the credit line is the largest amount as
   entered whose charge collects at most `min(credit, what plan + items collect)` less (the
   simulated gateway has no minimum charge); what it collects less is the credit used.
3. Credit comes only from a plan change `at: now` with proration, out of the last succeeded
   cycle charge of the plan being left (the current segment), when its period covers now: the
   unused share `floor(what the plan line collected * unused seconds / period seconds)` (money,
   tax included), less what was refunded of
   that charge, and never more than was paid for the cycle (what plan and items collect) net of refunds and of
   credit already granted from it. Such a change is not accepted while a refund of that charge is
   pending. Any plan change ends the segment: a plan left without proration forfeits its paid
   time, and a plan never paid for credits nothing.
4. A charge that ends without money (cancelled, or failed and let go by a stop) gives back the
   credit it used.
5. A refund of a charge may be at most `min(amount, paid - credited) - refunded - pending`;
   without an amount it is exactly that. Refunds plus credit of a cycle never exceed what was
   paid for it.
6. When a mandate ends, its items not billed become void, and its credit goes back as refunds
   (`reason` other, `metadata.credit` "true") of its succeeded charges with money, those whose
   cycles granted credit first (the money it came from, at its VAT rates), then the others, each
   group the latest made first, each up to the money it has left (amount less refunds, succeeded and pending), however
   many charges that takes; the credit given back this way from a charge first cancels credit
   granted from it. Only what no charge can take is reported by `mandate.credit_forfeited` with
   its amount. Credit never vanishes.
8. After the charge (the contract: Bank debits and asynchronous settlement, Disputes): a bank
   debit is `processing` until the gateway settles it; a stop leaves it to settle. A payment
   reversed afterwards is no longer collected: when the mandate is not final and holds no other
   unsettled charge, it is the mandate's open charge again and follows the decline rules (a hard
   code fails it); otherwise it fails for good. A refund not yet sent when its charge's money was
   returned, or when a dispute now holds what it would take, never reaches the gateway (it fails).
   Credit granted from a cycle is backed by what that cycle still pays (its plan and items, less
   refunds and open or lost disputes; nothing once its payment is returned): what it no longer
   backs is taken back from the mandate's unused credit when a dispute is reported, and when the
   charge is let go (failed for good: not the mandate's open charge any more, or cancelled); a
   returned payment still being collected keeps it. What a later charge already used is not
   recovered (the contract's known limit, decision 147): the model counts it as `unrecovered`,
   and it may only arise while the mandate's unused credit cannot cover it. Credit withheld while
   a dispute held the money is the customer's again when the dispute is won (within what the
   cycle still pays), and only a report that changes what the disputes hold moves credit. An ended mandate that
   gets credit back afterwards (a charge let go after its wind-up) is wound up again. A dispute moves forward only
   (needs_response -> under_review -> won | lost); while open or lost its amount cannot be refunded
   (limit: amount - refunded - pending - disputed), a won one releases it; a fraud-type reason
   revokes the mandate and no attempt follows. A refund failing later gives its amount back to the
   charge. Money is conserved per mandate and currency: what the gateway holds = succeeded charges
   - succeeded refunds - reversals - lost disputes.
7. An item is accepted only while the mandate is not final; once refused because no cycle is
   left, the mandate never gets another cycle charge; and one accepted while a cycle was left is
   billed, unless it was accepted while paused or a pause came after it (a resume skips the
   cycles in the pause) or a stop ended the mandate: a mandate that completed never voids an item
   accepted while it was not paused, since its last pause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor

from dateutil.relativedelta import relativedelta

from tests import tax_oracle


@dataclass(frozen=True)
class PlanTerms:
    amount: int
    interval: str
    interval_count: int
    total_cycles: int | None
    trial_days: int
    rate: tax_oracle.Rate | None = None  # the plan's tax rate (its items take it too)

    def collects(self, entered: int, reverse: bool = False) -> int:
        """What lines of this plan's rate summing to `entered` collect (tax included; `reverse`:
        the buyer is reverse-charged, so the net)."""
        return int(tax_oracle.expected([(entered, self.rate)], reverse=reverse)["amount"])  # type: ignore[call-overload]

    def with_credit(self, entered: int, credit: int, reverse: bool = False) -> tuple[int, int]:
        """Rule 2: (the credit line as entered, the credit used) of a charge of `entered`."""
        whole = self.collects(entered, reverse)
        target = min(credit, whole)
        if target <= 0:
            return 0, 0
        low, high = 0, entered  # the largest line within the target (what is collected falls with it)
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if whole - self.collects(entered - middle, reverse) <= target else (low, middle - 1)
        return low, whole - self.collects(entered - low, reverse)


@dataclass
class Segment:
    plan_id: str
    terms: PlanTerms
    anchor: datetime
    charges: int = 0  # cycle charges billed in this segment

    def due(self, n: int) -> datetime:
        """The n-th grid point (0-based) of this segment's plan, always from its anchor."""
        count = self.terms.interval_count * n
        if self.terms.interval == "day":
            return self.anchor + timedelta(days=count)
        if self.terms.interval == "week":
            return self.anchor + timedelta(weeks=count)
        if self.terms.interval == "month":
            return self.anchor + relativedelta(months=count)
        return self.anchor + relativedelta(years=count)

    def position(self, moment: datetime) -> int | None:
        """Which grid point `moment` is, if it is one."""
        n = 0
        while (point := self.due(n)) <= moment:
            if point == moment:
                return n
            n += 1
        return None


@dataclass
class ChargeBooks:
    """What the model knows of one charge."""

    charge_id: str
    mandate_id: str
    segment: Segment
    amount: int
    paid_value: int  # what plan + items collect (money, tax included)
    plan_amount: int  # what the plan line alone collects (money)
    credit_used: int  # money
    period: tuple[datetime, datetime]
    made: int  # the order it was made in among the mandate's charges (newest: highest)
    status: str = "pending"
    money: bool = False  # taken at the gateway (a succeeded charge of more than 0)
    refunded: int = 0
    pending_refunds: int = 0
    credited: int = 0
    released: bool = False  # an unpaid charge gave its credit back
    currency: str = ""
    disputes: dict[str, tuple[int, str]] = field(default_factory=dict)  # reference -> (amount, status)
    reversals: int = 0  # times its payment was returned
    unrecovered: int = 0  # credit granted from it that it no longer backs, already used by a later charge
    withheld: int = 0  # credit taken back while a dispute held its money: the customer's again once released

    @property
    def disputed(self) -> int:
        """Open and lost disputes: not the merchant's to refund."""
        return sum(amount for amount, status in self.disputes.values() if status != "won")

    @property
    def lost(self) -> int:
        return sum(amount for amount, status in self.disputes.values() if status == "lost")

    @property
    def refund_limit(self) -> int:
        if self.status != "succeeded":
            return 0
        taken = self.refunded + self.pending_refunds + self.disputed
        return max(0, min(self.amount, self.paid_value - self.credited) - taken)

    @property
    def money_left(self) -> int:
        if self.status != "succeeded" or not self.money:
            return 0
        return max(0, self.amount - self.refunded - self.pending_refunds - self.disputed)

    @property
    def backed(self) -> int:
        """What the cycle still pays for, and so may back credit granted from it."""
        if self.status != "succeeded":
            return 0
        return max(0, self.paid_value - self.refunded - self.disputed)

    @property
    def held(self) -> int:
        """What the gateway holds of it: collected (and not returned) less refunds and lost disputes."""
        return (self.amount if self.status == "succeeded" and self.money else 0) - self.refunded - self.lost


@dataclass
class MandateBooks:
    mandate_id: str
    segments: list[Segment]
    reverse: bool = False  # the customer is reverse-charged (a business of another member state)
    credit: int = 0
    items: list[tuple[str, int]] = field(default_factory=list)  # pending, in the order accepted
    last_paid: ChargeBooks | None = None  # the last succeeded cycle charge of the current segment
    ended: bool = False  # wound up: nothing more is owed either way
    pauses: int = 0  # pauses acknowledged so far
    accepted_at_pause: dict[str, int] = field(default_factory=dict)  # item id -> pauses when accepted
    expected: tuple[list[str], dict[str, int], int] | None = None  # the wind-up: voided, refunds by charge, forfeited
    given: dict[str, int] = field(default_factory=dict)  # credit refunds seen, by charge
    checked: bool = False  # the finished wind-up was compared with `expected`
    rounds: int = 0  # wind-ups started (a second one: credit given back after the first)
    voided: list[str] = field(default_factory=list)  # items voided by every wind-up so far
    forfeits: list[int] = field(default_factory=list)  # credit reported forfeited by every wind-up so far
    charges_when_no_cycle_left: int | None = None

    @property
    def segment(self) -> Segment:
        return self.segments[-1]


class Oracle:
    def __init__(self) -> None:
        self.plans: dict[str, PlanTerms] = {}
        self.mandates: dict[str, MandateBooks] = {}
        self.charges: dict[str, ChargeBooks] = {}
        self.refunds: dict[str, tuple[str, int, str]] = {}  # refund id -> (charge id, amount, status)

    # -------------------------------------------------------------- commands
    def plan(
        self,
        plan_id: str,
        amount: int,
        interval: str,
        interval_count: int,
        total_cycles,
        trial_days: int,
        rate: tax_oracle.Rate | None = None,
    ) -> None:
        self.plans[plan_id] = PlanTerms(amount, interval, interval_count, total_cycles, trial_days, rate)

    def activated(
        self, mandate_id: str, plan_id: str, activated_at: datetime, start_at: datetime | None, reverse: bool = False
    ) -> None:
        terms = self.plans[plan_id]
        anchor = max(activated_at, start_at or activated_at) + timedelta(days=terms.trial_days)
        self.mandates[mandate_id] = MandateBooks(mandate_id, [Segment(plan_id, terms, anchor)], reverse)

    def item_accepted(self, mandate_id: str, item_id: str, amount: int, while_paused: bool) -> None:
        books = self.mandates[mandate_id]
        assert not books.ended, f"an item was accepted on the ended mandate {mandate_id}"
        books.items.append((item_id, amount))
        books.accepted_at_pause[item_id] = -1 if while_paused else books.pauses

    def paused(self, mandate_id: str) -> None:
        self.mandates[mandate_id].pauses += 1

    def item_refused_no_cycle_left(self, mandate_id: str, charges_so_far: int) -> None:
        self.mandates[mandate_id].charges_when_no_cycle_left = charges_so_far

    def plan_changed(self, mandate_id: str, plan_id: str, at: str, prorate: bool, now: datetime, next_charge_at) -> None:
        """Rule 3: only the last paid cycle of the segment being left may credit, once."""
        books = self.mandates[mandate_id]
        paid = books.last_paid
        if at == "now" and prorate and paid is not None and paid.segment is books.segment:
            start, end = paid.period
            if start <= now < end:
                unused = floor(
                    Fraction(paid.plan_amount)
                    * Fraction((end - now) / timedelta(microseconds=1))
                    / Fraction((end - start) / timedelta(microseconds=1))
                )
                # The service accepted this change: rule 3 says it may not have, while a refund is pending.
                assert not (unused > 0 and paid.pending_refunds), (
                    f"{mandate_id}: a prorated change accepted while a refund of {paid.charge_id} is pending"
                )
                # (decision 135: money an open or lost dispute holds counts as given back, like a refund)
                given_back = paid.refunded + paid.disputed
                granted = max(0, min(unused - given_back, paid.paid_value - paid.credited - given_back))
                paid.credited += granted
                books.credit += granted
        books.last_paid = None
        anchor = now if at == "now" else next_charge_at
        books.segments.append(Segment(plan_id, self.plans[plan_id], anchor))

    def refund_limit(self, charge_id: str) -> int:
        return self.charges[charge_id].refund_limit

    def refund_created(self, refund_id: str, charge_id: str, amount: int) -> None:
        books = self.charges[charge_id]
        assert 1 <= amount <= books.refund_limit, (refund_id, amount, books.refund_limit)
        books.pending_refunds += amount
        self.refunds[refund_id] = (charge_id, amount, "pending")

    # ----------------------------------------------------------- observations
    def next_amount(self, mandate_id: str) -> int:
        """Rule 1 ahead of time: what the mandate's next cycle charge would collect now (its plan
        and pending items, less the credit as far as it goes): what a bank debit's notice names."""
        books = self.mandates[mandate_id]
        terms = books.segment.terms
        entered = terms.amount + sum(amount for _, amount in books.items)
        return terms.collects(entered, books.reverse) - terms.with_credit(entered, books.credit, books.reverse)[1]

    def charge_appeared(self, charge) -> None:
        """Rules 1, 2: a new cycle charge must be exactly what the model says."""
        books = self.mandates[charge.mandate_id]
        segment = next((s for s in reversed(books.segments) if s.anchor <= charge.due_at), None)
        assert segment is books.segment, f"{charge.id} due {charge.due_at} is not on the current plan's schedule"
        assert charge.plan_id == segment.plan_id, (charge.plan_id, segment.plan_id)
        n = segment.position(charge.due_at)
        assert n is not None, f"{charge.id} is due at {charge.due_at}, off its plan's schedule from {segment.anchor}"
        total = segment.terms.total_cycles
        assert total is None or n < total, f"{charge.id} is position {n + 1} of a plan of {total} cycles"
        assert books.charges_when_no_cycle_left is None, f"{charge.mandate_id} was charged after it had no cycle left"
        segment.charges += 1
        expected = [("plan", segment.terms.amount, None)] + [("item", amount, item_id) for item_id, amount in books.items]
        entered = sum(amount for _, amount, _ in expected)
        gross = segment.terms.collects(entered, books.reverse)
        line, used = segment.terms.with_credit(entered, books.credit, books.reverse)
        if line:
            expected.append(("proration", -line, None))
        actual = [(line.type, line.amount, line.item_id) for line in charge.bill_lines]
        assert actual == expected, f"{charge.id}: lines {actual}, the model says {expected}"
        assert charge.amount == gross - used, (charge.id, charge.amount, gross, used)
        assert charge.period_end == segment.due(n + 1), (charge.period_end, segment.due(n + 1))
        books.credit -= used
        books.items = []
        made = sum(1 for c in self.charges.values() if c.mandate_id == charge.mandate_id)
        self.charges[charge.id] = ChargeBooks(
            charge.id,
            charge.mandate_id,
            segment,
            gross - used,
            gross,
            segment.terms.collects(segment.terms.amount, books.reverse),
            used,
            (charge.due_at, segment.due(n + 1)),
            made,
            currency=charge.currency,
        )

    def charge_settled(self, charge_id: str, status: str, money: bool) -> None:
        books = self.charges[charge_id]
        if books.status == status:
            return
        assert books.status in ("pending", "processing", "retrying", "failed"), f"{charge_id}: {books.status} -> {status}"
        books.status, books.money = status, money
        mandate = self.mandates[books.mandate_id]
        if status == "succeeded" and books.segment is mandate.segment:
            mandate.last_paid = books

    def charge_let_go(self, charge_id: str) -> None:
        """Rule 4: cancelled, or failed and detached by a stop: its credit comes back once; and
        rule 8: credit granted from it (a returned payment) is taken back as far as unused."""
        books = self.charges[charge_id]
        if not books.released and books.status != "succeeded":
            books.released = True
            mandate = self.mandates[books.mandate_id]
            mandate.credit += books.credit_used
            self._claw_back(books)
            self._credit_after_wind_up(mandate)

    @staticmethod
    def _credit_after_wind_up(mandate: MandateBooks) -> None:
        if mandate.ended and mandate.checked and mandate.credit > 0:  # credit on an ended mandate: wound up again
            mandate.expected, mandate.given, mandate.checked = None, {}, False

    def _claw_back(self, books: ChargeBooks) -> int:
        """Rule 8: credit this cycle granted and no longer backs leaves the mandate's unused
        credit; what a later charge used already is counted as not recovered."""
        mandate = self.mandates[books.mandate_id]
        excess = max(0, books.credited - books.backed)
        taken = min(excess, mandate.credit)
        books.credited -= taken
        mandate.credit -= taken
        books.unrecovered = excess - taken
        assert not books.unrecovered or mandate.credit == 0, (books.charge_id, books.unrecovered, mandate.credit)
        return taken

    def unrecovered(self) -> dict[str, int]:
        """Credit no cycle backs that a later charge already used, by mandate (the known limit)."""
        totals: dict[str, int] = {}
        for books in self.charges.values():
            if books.unrecovered:
                totals[books.mandate_id] = totals.get(books.mandate_id, 0) + books.unrecovered
        return totals

    def refund_sent(self, refund_id: str) -> None:
        """Rule 8, when a refund first reaches the gateway: it is not made from money returned,
        nor from money a dispute holds (on the model's books: refunds settled in the same step may
        not be counted yet, which only makes this weaker)."""
        charge_id, amount, _ = self.refunds[refund_id]
        books = self.charges[charge_id]
        assert books.status == "succeeded", f"{refund_id} reached the gateway after {charge_id}'s money was returned"
        assert books.refunded + amount + books.disputed <= books.amount, (
            f"{refund_id} of {amount} reached the gateway; {charge_id}: {books.refunded} refunded, {books.disputed} disputed"
        )

    def refund_settled(self, refund_id: str, status: str) -> None:
        charge_id, amount, before = self.refunds[refund_id]
        if before != "pending" or status == "pending":
            return
        books = self.charges[charge_id]
        books.pending_refunds -= amount
        if status == "succeeded":
            books.refunded += amount
        self.refunds[refund_id] = (charge_id, amount, status)

    def wound_up(self, mandate_id: str, status: str) -> tuple[list[str], dict[str, int], int]:
        """Rule 6, when the engine starts winding an ended mandate up (on the books as they are
        then): the items to void, the credit refunds by charge, and the credit forfeited."""
        books = self.mandates[mandate_id]
        # (once more after credit came back to an ended mandate: it may have been taken back since)
        assert books.expected is None, f"{mandate_id} wound up twice"
        books.rounds += 1
        voided = [item_id for item_id, _ in books.items]
        if status == "completed":  # rule 7: it ran out of cycles, so each item accepted with a cycle left was billed
            unpaused = [i for i in voided if books.accepted_at_pause[i] == books.pauses]
            assert not unpaused, f"{mandate_id} completed leaving items accepted with no cycle to bill them: {unpaused}"
        books.ended, books.items = True, []
        left, plan = books.credit, {}
        newest_first = sorted(
            (c for c in self.charges.values() if c.mandate_id == mandate_id), key=lambda c: c.made, reverse=True
        )
        mine = [c for c in newest_first if c.credited > 0] + [c for c in newest_first if c.credited <= 0]
        for charge in mine:
            if left == 0:
                break
            amount = min(left, charge.money_left)
            if amount > 0:
                plan[charge.charge_id] = amount
                left -= amount
        books.credit = 0
        books.expected = (voided, plan, left)
        books.voided += voided
        books.forfeits += [left] if left else []
        return books.expected

    def credit_refund_created(self, refund_id: str, charge_id: str, amount: int) -> None:
        books = self.charges[charge_id]
        books.pending_refunds += amount
        books.credited -= min(amount, books.credited)
        self.refunds[refund_id] = (charge_id, amount, "pending")

    # ------------------------------------------------------- after the charge (rule 8)
    def charge_reversed(self, charge_id: str, code: str, final: bool, hard: bool) -> set[str]:
        """The gateway returned this succeeded payment. Returns the statuses the charge may take:
        `retrying` only when the mandate can collect it again (not final, no other unsettled
        charge) and the code is soft (a retry schedule may also be used up: then `failed`)."""
        books = self.charges[charge_id]
        assert books.status == "succeeded", f"{charge_id} reversed while {books.status}"
        mandate = self.mandates[books.mandate_id]
        others = [
            c
            for c in self.charges.values()
            if c.mandate_id == books.mandate_id and c.charge_id != charge_id and c.status in ("pending", "processing", "retrying")
        ]
        reattach = not final and not others
        books.status, books.money, books.reversals = "reversed", False, books.reversals + 1
        if mandate.last_paid is books:
            mandate.last_paid = None  # a returned payment paid for no time a plan change could credit
        # Credit granted from it stays while it is collected again; it goes when the charge is let go.
        return {"retrying", "failed"} if reattach and not hard else {"failed"}

    def charge_after_reversal(self, charge_id: str, status: str) -> None:
        books = self.charges[charge_id]
        assert books.status == "reversed", books.status
        books.status = status

    def dispute_reported(self, charge_id: str, reference: str, amount: int, status: str) -> None:
        """A dispute as the gateway reports it (any order, any number of times): forward only."""
        rank = {"needs_response": 0, "under_review": 1, "won": 2, "lost": 2}
        books = self.charges[charge_id]
        known = books.disputes.get(reference)
        before = books.disputed
        if known is None:
            books.disputes[reference] = (amount, status)
        elif rank[status] > rank[known[1]]:
            books.disputes[reference] = (known[0], status)
        if known is not None and books.disputed == before:
            return  # what the disputes hold did not change: neither does the credit
        taken = self._claw_back(books)
        books.withheld += taken
        if not taken:  # released: credit withheld is backed again, within what the cycle still pays
            mandate = self.mandates[books.mandate_id]
            room = books.backed - books.pending_refunds - books.credited
            back = max(0, min(books.withheld, room))
            books.withheld -= back
            books.credited += back
            mandate.credit += back
            self._credit_after_wind_up(mandate)

    def refund_failed_later(self, refund_id: str) -> None:
        charge_id, amount, status = self.refunds[refund_id]
        assert status == "succeeded", (refund_id, status)
        self.charges[charge_id].refunded -= amount
        self.refunds[refund_id] = (charge_id, amount, "failed")

    def held(self) -> dict[tuple[str, str], int]:
        """Rule 8's conservation on the model's books, per mandate and currency."""
        totals: dict[tuple[str, str], int] = {}
        for books in self.charges.values():
            key = (books.mandate_id, books.currency)
            totals[key] = totals.get(key, 0) + books.held
        return {k: v for k, v in totals.items() if v}
