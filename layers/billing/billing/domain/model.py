"""Plans and mandates: the aggregates, their invariants and the mandate state machine.

Every mutating method takes `now` and returns the event types it caused; the service layer
turns those into stored, published events. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from . import notices, payment_methods, schedule, tax
from .errors import InvalidState, TooManyRequests, ValidationFailed
from .events import EventType
from .lifecycles import MANDATE, PLAN
from .lifecycles import MandateStatus as MandateStatus
from .lifecycles import PlanStatus as PlanStatus
from .money import MAX_AMOUNT, Currency
from .payment_methods import Gateway, PaymentMethodType
from .schedule import Cadence, Interval, Term
from .tax import ChargeTax, CustomerTax, RateRef

FINAL_STATUSES: frozenset[str] = MANDATE.final  # cancelled, revoked, completed
STOPPABLE_STATUSES: frozenset[str] = MANDATE.sources("cancel", "revoke")
DEFAULT_RETRY_SCHEDULE_DAYS: tuple[int, ...] = (1, 3, 7)


class Entity(BaseModel):
    """Common to stored aggregates: tenant, identity, timestamps and an optimistic-lock version."""

    model_config = ConfigDict(defer_build=True, validate_assignment=True)

    id: str
    merchant_id: str
    created_at: datetime
    updated_at: datetime
    version: int = 0  # 0 = never stored; the repository increments on every committed write


class PlanTerms(BaseModel):
    """What a mandate is charged: a plan's price and schedule, copied to each mandate at creation
    (a plan's terms never change; a mandate keeps the terms it was created with)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    amount: int
    currency: Currency
    interval: Interval
    interval_count: int = 1
    trial_days: int = 0
    total_cycles: int | None = None
    retry_schedule_days: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE_DAYS
    # The plan's tax rate (on a mandate: the plan's, else the account's default when the mandate
    # took these terms), its terms copied (domain/tax); None: not subject to VAT.
    tax_rate: RateRef | None = None

    @property
    def cadence(self) -> Cadence:
        return Cadence(interval=self.interval, interval_count=self.interval_count)


class Plan(Entity):
    name: str
    terms: PlanTerms
    status: PlanStatus = "active"
    metadata: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _terms_of_a_flat_plan(cls, data: Any) -> Any:
        """Plans stored before `terms` was its own object kept the term fields at the top level."""
        if isinstance(data, dict) and "terms" not in data and "amount" in data:
            fields = PlanTerms.model_fields
            data = {k: v for k, v in data.items() if k not in fields} | {"terms": {k: v for k, v in data.items() if k in fields}}
        return data

    def update(self, now: datetime, name: str | None = None, metadata: dict[str, str] | None = None) -> list[EventType]:
        changed = False
        if name is not None and name != self.name:
            self.name, changed = name, True
        if metadata is not None and metadata != self.metadata:
            self.metadata, changed = metadata, True
        if not changed:
            return []
        self.updated_at = now
        return [EventType.PLAN_UPDATED]

    def archive(self, now: datetime) -> list[EventType]:
        self.status, self.updated_at = PLAN.move(self.status, "archive"), now
        return [EventType.PLAN_ARCHIVED]

    def ensure_accepts_mandates(self) -> None:
        if self.status != "active":
            raise InvalidState("Plan is archived and takes no new mandates.", "plan_id")


class Customer(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)
    reference: str
    email: str | None = None
    name: str | None = None
    locale: Literal["en", "lt"] | None = None  # set at creation (the account's default when not sent)
    tax: CustomerTax | None = None  # the buyer's tax details (a business may be reverse-charged)


class PaymentMethod(BaseModel):
    """The gateway's reference to how the customer pays (never card or account numbers), its type,
    the last four digits shown to people, and a bank debit's SEPA mandate reference."""

    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)
    gateway: Gateway
    token: str
    type: PaymentMethodType = "card"
    last4: str | None = None  # of the card number or the IBAN
    mandate_reference: str | None = None  # a bank debit's: the gateway's own, or set at activation

    @model_validator(mode="before")
    @classmethod
    def _simulated_details(cls, data: Any) -> Any:
        """A simulated token says its type; its last four digits are the test card's or IBAN's."""
        if isinstance(data, dict) and data.get("gateway") == "simulated" and isinstance(data.get("token"), str):
            kind = payment_methods.simulated_type(data["token"])
            last4 = payment_methods.SIMULATED_IBAN_LAST4 if kind == "sepa_debit" else payment_methods.SIMULATED_LAST4
            data = {"type": kind, "last4": last4, **data}
        return data

    @property
    def bank_debit(self) -> bool:
        return self.type == "sepa_debit"

    @property
    def shown_last4(self) -> str:
        """The last four digits people see: the card's or the IBAN's as the gateway described
        them (the only fallback, for a method stored before they were kept: its token's end)."""
        return self.last4 or payment_methods.last4(self.token)


class Consent(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)
    accepted_at: datetime
    ip: str | None = None
    user_agent: str | None = None
    terms_sha256: str | None = None  # evidence of what the customer saw (hosted page approvals)


class PaidPeriod(BaseModel):
    """The service period the last succeeded cycle charge of the current plan paid for,
    `[start, end)`, and what its plan line was worth in money (its tax included, as collected
    then): what a plan change `at: now` with proration
    may credit back. Any plan change consumes it (credited or forfeited), so the same time is
    never credited twice and a plan never paid for credits nothing."""

    model_config = ConfigDict(defer_build=True)

    charge_id: str
    start: datetime
    end: datetime
    amount: int

    def unused_credit(self, now: datetime) -> int:
        """`floor(amount * (end - now) / (end - start))` when the period covers now, else 0 (exact
        integer arithmetic on microseconds: the same ratio as in seconds, without rounding)."""
        if not self.start <= now < self.end:
            return 0
        return self.amount * micros(self.end - now) // micros(self.end - self.start)


# What a prorated plan change may credit: given the paid period being left, the credit granted
# (the paid charge decides, net of what was refunded of it; see Charge.credit_back).
CreditBack = Callable[[PaidPeriod], int]


def micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# Items waiting for the next cycle charge of one mandate (each is one operation of the claim's transaction).
MAX_PENDING_ITEMS = 50
# The customer may put in a new payment method from their page at most this often per mandate
# (each one is a card confirmed at the gateway: no unbounded card checks through one link).
MAX_CUSTOMER_METHOD_CHANGES = 5
CUSTOMER_METHOD_CHANGE_WINDOW = timedelta(days=1)


class Mandate(Entity):
    plan_id: str
    terms: PlanTerms
    customer: Customer
    payment_method: PaymentMethod | None = None
    status: MandateStatus = "pending_approval"
    start_at: datetime | None = None
    end_at: datetime | None = None
    consent: Consent | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    ended_at: datetime | None = None
    activated_at: datetime | None = None
    anchor_at: datetime | None = None
    next_cycle: int = 1  # the next cycle to charge (cycles count across plan changes)
    # The cycle due at `anchor_at`: a plan change re-anchors the schedule, and the plan's own
    # position of cycle k is k - anchor_cycle + 1 (its `total_cycles` counts from there).
    anchor_cycle: int = 1
    next_charge_at: datetime | None = None
    cycles_charged: int = 0
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    # Past pauses whose cycles are still ahead of `next_cycle`: cycles due inside [paused, resumed)
    # are not billed; cycles due before a pause are still owed. Pruned once passed.
    pause_windows: list[tuple[datetime, datetime]] = Field(default_factory=list)
    # Billing engine state (not part of the API object):
    pending_items: dict[str, int] = Field(default_factory=dict)  # item id -> amount, billed with the next cycle charge
    pending_item_rates: dict[str, RateRef] = Field(default_factory=dict)  # a pending item's own rate (else the plan's)
    # The seller's VAT id as it was last read (`as_sold_by`: by each dispatcher run, each preview,
    # each change of terms or customer): with the customer's tax details it decides reverse charge
    # (domain/tax); a charge records the one it was taxed for.
    seller_vat_id: str | None = None
    # Proration credit not yet used, taken off the next charges: money (minor units the customer paid
    # for time not used, tax included), whatever the rates of the plans it came from and goes to.
    credit: int = 0
    credit_refund_failures: int = 0  # leftover-credit refunds that failed after succeeding (domain/wind_up)
    paid_period: PaidPeriod | None = None
    open_charge_id: str | None = None  # the charge being collected, or the failed one while past_due
    attempt_at: datetime | None = None  # when the open charge's next attempt is due
    claimed_until: datetime | None = None  # dispatch lease: sent to the charger, awaiting its result
    # The start marker: set (by a write conditional on this mandate's version) just before the
    # open charge's in-flight attempt goes to the gateway; cleared when its outcome is recorded.
    # A stop acknowledged before it means the attempt never starts; a stop after it leaves the
    # charge open until the attempt's outcome is known.
    attempt_started_at: datetime | None = None
    # Notices before a charge (domain/notices): when the trial ends (the first charge), the cycle
    # whose upcoming-charge notice is done (sent, switched off or too late), whether the
    # trial-ending one is, and (due_at, when to look) for the notices of the charge due at due_at.
    trial_ends_at: datetime | None = None
    noticed_cycle: int = 0
    trial_noticed: bool = False
    notice_check: tuple[datetime, datetime] | None = None
    # What the upcoming-charge notice of `noticed_cycle` named (domain/notices): a bank debit's binds
    # its debit (amount, account, date, e-mailed). None on mandates noticed before it was kept.
    announcement: notices.Announcement | None = None
    # When the customer put in a new payment method from their page, within the last day (at most
    # MAX_CUSTOMER_METHOD_CHANGES, pruned at each change).
    customer_method_changes: list[datetime] = Field(default_factory=list)

    # ----------------------------------------------------------------- derived
    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def term(self) -> Term:
        return Term(total_cycles=self.terms.total_cycles, end_at=self.end_at)

    @property
    def awaiting_approval(self) -> bool:
        """Only a mandate awaiting approval has an approval link (and nothing charged yet)."""
        return self.status == "pending_approval"

    @property
    def may_be_stopped(self) -> bool:
        """Whether cancel or revoke (merchant, bank or customer) is allowed now."""
        return self.status in STOPPABLE_STATUSES

    @property
    def customer_may_revoke(self) -> bool:
        """The customer revokes from their page once they have approved (before, it offers approval)."""
        return self.may_be_stopped and not self.awaiting_approval

    @property
    def customer_may_replace_method(self) -> bool:
        """The customer may put in a new payment method from their page (a past_due one recovers)."""
        return MANDATE.allows(self.status, "replace_payment_method")

    def customer_method_change_at(self, now: datetime) -> datetime:
        """When the customer may next put in a new payment method from their page: now, or once
        the oldest of the last day's MAX_CUSTOMER_METHOD_CHANGES changes is a day old."""
        recent = self._recent_customer_method_changes(now)
        if len(recent) < MAX_CUSTOMER_METHOD_CHANGES:
            return now
        return recent[-MAX_CUSTOMER_METHOD_CHANGES] + CUSTOMER_METHOD_CHANGE_WINDOW

    def ensure_customer_may_change_method(self, now: datetime) -> None:
        retry_at = self.customer_method_change_at(now)
        if retry_at > now:
            raise TooManyRequests(
                f"The payment method was changed {MAX_CUSTOMER_METHOD_CHANGES} times from the customer's page in a day.",
                retry_at,
            )

    def _recent_customer_method_changes(self, now: datetime) -> list[datetime]:
        return [at for at in self.customer_method_changes if now - at < CUSTOMER_METHOD_CHANGE_WINDOW]

    @property
    def attempt_at_gateway(self) -> bool:
        """An attempt of the open charge may be at the gateway: its outcome must be recorded."""
        return self.attempt_started_at is not None

    @property
    def collecting(self) -> bool:
        """Whether a new gateway attempt may start (no stop is in effect)."""
        return self.status == "active"

    def has_cycle_left(self, now: datetime) -> bool:
        """Whether a cycle charge is still to be created (an item added now would be billed):
        not once the last cycle is charged or being collected, nor after the mandate ended, nor
        while paused past `end_at` (a resume, at the earliest now, skips every cycle before it)."""
        if self.is_final:
            return False
        if self.status == "paused" and self.end_at is not None and self.end_at <= now:
            return False
        return self.status == "pending_approval" or self.next_charge_at is not None

    @property
    def winding_up(self) -> bool:
        """Ended, with nothing left at the gateway, but still holding what must not vanish: items
        never billed (voided) or carried credit (refunded or reported forfeited). The billing
        engine winds it up (domain/wind_up)."""
        return (
            self.is_final
            and not self.attempt_at_gateway
            and self.open_charge_id is None
            and (bool(self.pending_items) or self.credit > 0)
        )

    @property
    def pre_notified(self) -> bool:
        """Whether the next charge is a bank debit whose customer must be told it first (SEPA Core)."""
        method = self.payment_method
        return method is not None and method.bank_debit and bool(self.customer.email)

    @property
    def waits_for_pre_notification(self) -> bool:
        """A bank debit's next cycle is not debited before its notice was e-mailed, nor for another
        amount or account than it named, nor later than the date it named, until announced again."""
        return self.pre_notified and (
            self.noticed_cycle < self.next_cycle or self.announcement_stale or self.undelivered_by is not None
        )

    @property
    def _announced(self) -> notices.Announcement | None:
        """What the next cycle's notice named, if it was kept."""
        said = self.announcement
        return said if said is not None and said.cycle == self.next_cycle and self.noticed_cycle == self.next_cycle else None

    @property
    def announcement_stale(self) -> bool:
        """The next cycle's bank debit was announced, and since then its amount changed (an item, a
        plan change, credit), its account was replaced, its due time moved past the date named, or
        it was announced as a card charge (the customer switched to a bank account): it is
        announced again. (Noticed before announcements were kept: taken as announced.)"""
        said, due = self._announced, self.next_charge_at
        if not self.pre_notified or said is None or due is None or self.payment_method is None:
            return False
        if not said.mandatory or said.method != self.payment_method.token:
            return True
        amount = self.upcoming_amounts([(self.next_cycle, due)])[0]
        return amount != said.amount or (amount > 0 and due > said.date)

    @property
    def undelivered_by(self) -> datetime | None:
        """The date a bank debit's announcement named while it is not e-mailed yet (None: it was,
        or there is none): not e-mailed by then, it is announced again."""
        said = self._announced
        if self.status != "active" or not self.pre_notified or said is None or not said.mandatory or said.delivered:
            return None  # (a mandate that stopped is announced nothing again: no hot loop on its date)
        return said.date if said.amount > 0 else None

    @property
    def next_debit_at(self) -> datetime | None:
        """When the next cycle's charge may be made: its due time, or the later date its bank
        debit's announcement named (a notice given late)."""
        due, said = self.next_charge_at, self._announced
        if due is None or said is None or not said.mandatory:
            return due
        return max(due, said.date)

    def announcement_delivered(self, occasion: str) -> bool:
        """The notifier e-mailed the announcement of that occasion (or tried for good): True when
        it is the mandate's current one, now delivered."""
        said = self.announcement
        if said is None or said.delivered or said.occasion != occasion:
            return False
        self.announcement = said.model_copy(update={"delivered": True})
        return True

    @property
    def dispatch_at(self) -> datetime | None:
        """When the billing engine must next look at this mandate (the due index key), if ever."""
        # A bank debit's next cycle is announced even while the charge before is being collected.
        announce = notices.wake(self) if self.pre_notified else None
        if self.attempt_at_gateway:
            return _earliest(self.claimed_until, announce)  # whatever the status: resolved when the lease ends
        if self.winding_up:
            return self.ended_at or self.updated_at
        if self.status == "active":
            if self.claimed_until is not None:
                return _earliest(self.claimed_until, announce)  # an unfinished claim: due again when its lease ends
            if self.open_charge_id is not None:
                return _earliest(self.attempt_at, announce)
            # A notice to give before the next charge is looked at first.
            return _earliest(notices.wake(self), self.next_debit_at)
        if self.status == "paused":
            return self.resume_at
        return None

    def due(self, cycle: int) -> datetime:
        """When `cycle` is due on the current plan's schedule (from its anchor)."""
        assert self.anchor_at is not None
        return schedule.due_at(self.anchor_at, self.terms.cadence, cycle - self.anchor_cycle + 1)

    def in_term(self, cycle: int, when: datetime) -> bool:
        return self.term.includes(cycle - self.anchor_cycle + 1, when)

    def _first_cycle_on_or_after(self, moment: datetime, not_before: int) -> int:
        assert self.anchor_at is not None
        offset = self.anchor_cycle - 1
        return offset + schedule.first_cycle_on_or_after(self.anchor_at, self.terms.cadence, moment, not_before - offset)

    def upcoming_charges(self, now: datetime, count: int) -> list[tuple[int, datetime]]:
        """The next `count` (cycle, due_at) if nothing changes; a preview that writes nothing."""
        if self.status in FINAL_STATUSES or self.status == "past_due":
            return []
        windows = list(self.pause_windows)
        if self.status == "pending_approval":
            anchor, first, offset = schedule.billing_anchor(now, self.start_at, self.terms.trial_days), 1, 0
        else:
            assert self.anchor_at is not None
            anchor, first, offset = self.anchor_at, self.next_cycle, self.anchor_cycle - 1
            if self.status == "paused":
                if self.resume_at is None or self.paused_at is None:
                    return []
                windows.append((self.paused_at, self.resume_at))
        out: list[tuple[int, datetime]] = []
        for position, when in schedule.upcoming(anchor, self.terms.cadence, self.term, first - offset):
            if len(out) == count:
                break
            if not any(start <= when < end for start, end in windows):
                out.append((position + offset, when))
        return out

    def upcoming_payments(self, now: datetime, count: int) -> list[tuple[int, datetime]]:
        """`upcoming_charges`, the next one on the day it is taken: a bank debit announced for a
        later date than its due time (its announcement's) is taken on that date."""
        out = self.upcoming_charges(now, count)
        debit = self.next_debit_at
        if out and debit is not None and out[0][0] == self.next_cycle and debit > out[0][1]:
            out[0] = (out[0][0], debit)
        return out

    def upcoming_amounts(self, upcoming: list[tuple[int, datetime]]) -> list[int]:
        """What each previewed charge would be (see `upcoming_credit_use`)."""
        return [amount for amount, _ in self.upcoming_credit_use(upcoming)]

    def upcoming_credit_use(self, upcoming: list[tuple[int, datetime]]) -> list[tuple[int, int]]:
        """What each previewed charge would collect (its tax included), and the carried credit it
        would use (money): the plan's amount, the pending items on the first, less the credit as far
        as it goes (the rules `charge_lines` applies; `price` computes the tax the charge will)."""
        credit, amounts = self.credit, []
        for index, _ in enumerate(upcoming):
            items = self.pending_items if index == 0 else {}
            whole, priced = self.price(items, 0), self.price(items, self.credit_for(items, credit))
            credit -= whole.amount - priced.amount
            amounts.append((priced.amount, whole.amount - priced.amount))
        return amounts

    def as_sold_by(self, vat_id: str | None) -> Mandate:
        """This mandate priced for the seller's VAT id as it is now (the account's, read by the
        caller): what is charged, announced and previewed is one computation with one VAT id
        (decision 186: the one of the day decides). Returns the mandate itself."""
        self.seller_vat_id = vat_id
        return self

    @property
    def charges_vat(self) -> bool:
        """A seller without a VAT id is not registered for VAT and charges none: its lines are
        outside the scope of VAT (EN 16931 category O) whatever rate they carry (a merchant that
        deregistered keeps its mandates' rates; they apply again if it registers again)."""
        return bool(self.seller_vat_id)

    @property
    def reverse_charged(self) -> bool:
        return tax.reverse_charge(self.seller_vat_id, self.customer.tax)

    def item_rate(self, item_id: str) -> RateRef | None:
        """A pending item's rate: its own, else the plan's."""
        return self.pending_item_rates.get(item_id, self.terms.tax_rate)

    def credit_for(self, items: dict[str, int], credit: int | None = None) -> int:
        """The carried credit (money) a charge of the plan and `items` may take (see
        `credit_to_use`), on what it collects. Credit is for the plan's unused time, so it comes off
        the plan's tax group and never takes that group below zero (items of other rates stay whole)."""
        whole = self.price(items, 0)
        plan_rate = self.terms.tax_rate.id if self.terms.tax_rate else None
        cap = sum(g.collected for g in whole.groups if (g.rate.id if g.rate else None) == plan_rate)
        return self.credit_to_use(whole.amount, credit, cap=cap)

    def price(self, items: dict[str, int], credit: int) -> ChargeTax:
        """The tax of a charge of the plan and `items` (id -> amount), with up to `credit` (money)
        of carried credit taken off what it collects (domain/tax `compute_with_credit`): the one
        computation of a charge, its preview and a bank debit's notice. A seller without a VAT id
        charges none (`charges_vat`)."""

        def rated(rate: RateRef | None) -> RateRef | None:
            return rate if self.charges_vat else None

        lines: list[tuple[int, RateRef | None]] = [(self.terms.amount, rated(self.terms.tax_rate))]
        lines += [(amount, rated(self.item_rate(item_id))) for item_id, amount in items.items()]
        return tax.compute_with_credit(lines, rated(self.terms.tax_rate), credit, self.terms.currency, self.reverse_charged)

    def credit_to_use(self, gross: int, credit: int | None = None, cap: int | None = None) -> int:
        """How much of the carried credit a charge collecting `gross` (tax included) takes: all it
        can, except that what is left to collect is either nothing or at least the gateway's minimum
        (a EUR 0.20 charge would be refused by Stripe; the credit that would have made it carries on
        instead). The minimum is on what is collected, never on the amounts as entered."""
        credit = self.credit if credit is None else credit
        used = min(credit, gross if cap is None else min(cap, gross))
        minimum = payment_methods.minimum_charge(
            self.payment_method.gateway if self.payment_method else None, self.terms.currency
        )
        if 0 < gross - used < minimum <= gross:
            used = gross - minimum
        return used

    # ------------------------------------------------------------ transitions
    def _schedule_from(self, cycle: int, now: datetime) -> list[EventType]:
        """Point the mandate at `cycle`; complete it when the term has no such cycle (once the
        charge still being collected, if any, has settled)."""
        self.next_cycle = cycle
        when = self.due(cycle)
        if self.in_term(cycle, when):
            self.next_charge_at = when
            return []
        self.next_charge_at = None
        if self.open_charge_id is not None:
            return []  # completed when that charge settles
        self.status, self.ended_at = MANDATE.move(self.status, "complete"), now
        return [EventType.MANDATE_COMPLETED]

    def _billable_from(self, cycle: int) -> int:
        """The first cycle >= `cycle` not due inside a past pause; windows behind it are dropped."""
        while True:
            when = self.due(cycle)
            window = next((w for w in self.pause_windows if w[0] <= when < w[1]), None)
            if window is None:
                break
            cycle = self._first_cycle_on_or_after(window[1], cycle)
        self.pause_windows = [w for w in self.pause_windows if w[1] > when]
        return cycle

    def advance_schedule(self) -> None:
        """The charge of `next_cycle` exists now: point at the next billable cycle (None past the term).

        The mandate is completed only when that charge settles, not here."""
        self.next_cycle = self._billable_from(self.next_cycle + 1)
        when = self.due(self.next_cycle)
        self.next_charge_at = when if self.in_term(self.next_cycle, when) else None

    def complete(self, now: datetime) -> list[EventType]:
        self.status, self.ended_at, self.updated_at, self.next_charge_at = MANDATE.move(self.status, "complete"), now, now, None
        self.detach_charge()
        return [EventType.MANDATE_COMPLETED]

    def collection_failed(self, now: datetime, code: str | None) -> list[EventType]:
        """The open charge failed for good: past_due until the payment method is replaced,
        or revoked when the bank says the customer withdrew the mandate. A mandate paused while
        that attempt was at the gateway is past_due too: it needs a new payment method first."""
        self.attempt_started_at = None
        if code == "mandate_revoked":
            return self._end("revoke", now)
        self.status, self.updated_at = MANDATE.move(self.status, "collection_failed"), now
        self.paused_at = self.resume_at = None
        self.claimed_until = self.attempt_at = None  # keeps open_charge_id: re-attempted after a new method
        return [EventType.MANDATE_PAST_DUE]

    def ensure_method_allowed(self, method: PaymentMethod, param: str = "payment_method") -> None:
        """A bank debit collects euros only and needs the account holder's name and an e-mail address."""
        if method.bank_debit:
            payment_methods.ensure_bank_debit_allowed(self.terms.currency, self.customer.email, self.customer.name, param)

    def _adopt(self, method: PaymentMethod) -> PaymentMethod:
        """The method as the mandate keeps it: a bank debit carries a SEPA mandate reference (the
        gateway's own where it holds the mandate, else one derived from this mandate)."""
        self.ensure_method_allowed(method)
        if method.bank_debit and not method.mandate_reference:
            method = method.model_copy(update={"mandate_reference": payment_methods.mandate_reference(self.id)})
        return method

    @property
    def mandate_reference(self) -> str | None:
        """A bank debit's SEPA mandate reference, always one: the method's (set when adopted), else
        (a method stored without one) the reference derived from this mandate; None for a card."""
        method = self.payment_method
        if method is None or not method.bank_debit:
            return None
        return method.mandate_reference or payment_methods.mandate_reference(self.id)

    def activate(self, now: datetime, payment_method: PaymentMethod, consent: Consent) -> list[EventType]:
        MANDATE.ensure(self.status, "activate")
        adopted = self._adopt(payment_method)
        self.status = MANDATE.move(self.status, "activate")
        self.payment_method, self.consent = adopted, consent
        self.activated_at, self.updated_at = now, now
        self.anchor_at = schedule.billing_anchor(now, self.start_at, self.terms.trial_days)
        self.trial_ends_at = self.anchor_at if self.terms.trial_days else None
        return [EventType.MANDATE_ACTIVATED, *self._schedule_from(1, now)]

    def detach_charge(self) -> None:
        """The open charge settled (or is cancelled by the caller): no collection work is left."""
        self.open_charge_id = self.attempt_at = self.claimed_until = self.attempt_started_at = None

    def _stop_collection(self) -> None:
        """A stop (cancel, revoke, pause): no attempt may start from now on. A claim whose
        attempt has not started is void (its message finds this mandate changed and does
        nothing); an attempt already at the gateway keeps its lease, so its outcome is recorded."""
        self.attempt_at = None
        if not self.attempt_at_gateway:
            self.claimed_until = None

    def _end(self, action: Literal["cancel", "revoke"], now: datetime) -> list[EventType]:
        """Final stop. The open charge is cancelled by the caller when it was detached here;
        with an attempt at the gateway it stays open until that outcome is recorded."""
        self.status, self.ended_at, self.updated_at = MANDATE.move(self.status, action), now, now
        self.next_charge_at = self.resume_at = self.paused_at = None
        self._stop_collection()
        if not self.attempt_at_gateway:
            self.detach_charge()
        return [EventType.MANDATE_CANCELLED if action == "cancel" else EventType.MANDATE_REVOKED]

    def cancel(self, now: datetime) -> list[EventType]:
        return self._end("cancel", now)

    def revoke(self, now: datetime) -> list[EventType]:
        return self._end("revoke", now)

    def ensure_new_terms_valid(self, now: datetime) -> None:
        """A new mandate may not end before it starts billing."""
        if self.end_at is not None and self.end_at <= now:
            raise ValidationFailed("end_at must be in the future.", "end_at")

    def pause(self, now: datetime, resume_at: datetime | None = None) -> list[EventType]:
        """No attempt starts while paused. The unsettled charge is kept: its cycle is still owed."""
        MANDATE.ensure(self.status, "pause")
        if resume_at is not None and resume_at <= now:
            raise ValidationFailed("resume_at must be in the future.", "resume_at")
        self.status = MANDATE.move(self.status, "pause")
        self.paused_at, self.resume_at, self.updated_at = now, resume_at, now
        self._stop_collection()
        return [EventType.MANDATE_PAUSED]

    def resume(self, now: datetime, retry_at: datetime | None = None) -> list[EventType]:
        """A charge kept by the pause is attempted at the next dispatch (a bank debit's retry not
        before `retry_at`, the open charge's next retry: the date its failure e-mail named); new
        cycles continue from the next scheduled date on or after now (cycles due inside the pause
        are not billed)."""
        MANDATE.ensure(self.status, "resume")
        assert self.anchor_at is not None and self.paused_at is not None
        self.pause_windows = [*self.pause_windows, (self.paused_at, now)]
        cycle = self._billable_from(self.next_cycle)
        self.status = MANDATE.move(self.status, "resume")
        self.paused_at, self.resume_at, self.updated_at = None, None, now
        if self.open_charge_id is not None and not self.attempt_at_gateway:
            bank = self.payment_method is not None and self.payment_method.bank_debit
            self.attempt_at = max(now, retry_at) if bank and retry_at is not None else now
        return [EventType.MANDATE_RESUMED, *self._schedule_from(cycle, now)]

    def replace_payment_method(
        self,
        now: datetime,
        payment_method: PaymentMethod,
        reattempt_allowed: bool = True,
        by_customer: bool = False,
        consent: Consent | None = None,
    ) -> list[EventType]:
        """A past_due mandate becomes active and its failed charge is attempted again at the
        next dispatch, at most MAX_REATTEMPTS times per charge (`reattempt_allowed`). The customer
        (`by_customer`, from their page) changes it at most MAX_CUSTOMER_METHOD_CHANGES times a day;
        a bank account they give comes with their `consent` to its SEPA mandate (what they saw,
        hashed), which becomes the mandate's consent evidence (the one before stays in its events)."""
        MANDATE.ensure(self.status, "replace_payment_method")
        if self.status == "past_due" and self.open_charge_id and not reattempt_allowed:
            raise InvalidState("This charge was already re-attempted the maximum number of times; the mandate stays past_due.")
        if by_customer and payment_method.bank_debit and (consent is None or not consent.terms_sha256):
            raise ValidationFailed("A bank account needs the customer's acceptance of its SEPA mandate.", "consent")
        if by_customer:
            self.ensure_customer_may_change_method(now)
            self.customer_method_changes = [*self._recent_customer_method_changes(now), now]
        self.payment_method, self.updated_at = self._adopt(payment_method), now
        if consent is not None:
            self.consent = consent
        if self.status == "past_due":
            self.attempt_at = now if self.open_charge_id else None
        self.status = MANDATE.move(self.status, "replace_payment_method")
        return [EventType.MANDATE_PAYMENT_METHOD_UPDATED]

    def method_updated_by_gateway(self, now: datetime, last4: str) -> list[EventType]:
        """The card network replaced the card (same payment method at the gateway, new number):
        only the last four digits shown change."""
        method = self.payment_method
        if method is None or method.last4 == last4:
            return []
        self.payment_method, self.updated_at = method.model_copy(update={"last4": last4}), now
        return [EventType.MANDATE_PAYMENT_METHOD_UPDATED]

    def revoked_by_gateway(self, now: datetime) -> list[EventType]:
        """The bank cancelled the debit mandate, or a fraud-type dispute: no attempt starts after it
        is recorded (one already at the gateway, a processing debit too, still settles)."""
        if not self.may_be_stopped:
            return []
        return self.revoke(now)

    def update_customer(self, now: datetime, changes: dict[str, Any], seller_vat_id: str | None) -> bool:
        """Change the customer's e-mail, name, language or tax details (the fields sent; charges
        created afterwards use them). A bank debit keeps both its e-mail (its pre-notifications)
        and its account holder's name: clearing either is a 422. The seller's VAT id is taken
        again (with the buyer's details it decides reverse charge). False: nothing changed."""
        if self.is_final:
            raise InvalidState(f"The customer of a {self.status} mandate cannot be changed.")
        updated = self.customer.model_copy(update=changes)
        if self.payment_method is not None and self.payment_method.bank_debit:
            payment_methods.ensure_bank_debit_allowed(self.terms.currency, updated.email, updated.name, "customer")
        if updated == self.customer and seller_vat_id == self.seller_vat_id:
            return False
        self.customer, self.seller_vat_id, self.updated_at = updated, seller_vat_id, now
        return True

    # ------------------------------------------------------- items and plans
    def add_item(self, item_id: str, amount: int, now: datetime, rate: RateRef | None = None) -> None:
        """An item waits for the next cycle charge; that charge's total stays within the amount limit.
        A mandate with no cycle left to bill takes none (it would never be billed)."""
        if self.is_final:
            raise InvalidState(f"Cannot add an item to a mandate that is {self.status}.")
        if not self.has_cycle_left(now):
            raise InvalidState("This mandate has no cycle left to bill: its last charge is already made or being collected.")
        if len(self.pending_items) >= MAX_PENDING_ITEMS:
            raise InvalidState(
                f"A mandate holds at most {MAX_PENDING_ITEMS} pending items; delete one or wait for the next charge."
            )
        if rate is not None and self.terms.tax_rate is None:
            raise ValidationFailed(
                "This mandate's plan has no tax rate (nor had the account a default when it was taken): an item with a"
                " tax rate cannot share a charge with lines not subject to VAT (EN 16931 BR-O-11).",
                "tax_rate_id",
            )
        items = {**self.pending_items, item_id: amount}
        rates = {**self.pending_item_rates, **({item_id: rate} if rate is not None else {})}
        with_item = self.model_copy(update={"pending_items": items, "pending_item_rates": rates})
        if self.terms.amount + sum(items.values()) > MAX_AMOUNT or with_item.price(items, 0).amount > MAX_AMOUNT:
            raise ValidationFailed(f"The next charge would exceed {MAX_AMOUNT} with this item.", "amount")
        self.pending_items, self.pending_item_rates = items, rates

    def remove_item(self, item_id: str) -> None:
        self.pending_items = {k: v for k, v in self.pending_items.items() if k != item_id}
        self.pending_item_rates = {k: v for k, v in self.pending_item_rates.items() if k != item_id}

    def change_plan(
        self,
        now: datetime,
        plan: Plan,
        at: Literal["next_charge", "now"],
        prorate: bool,
        credit_back: CreditBack | None = None,
    ) -> list[EventType]:
        """Move to `plan` at the next charge (same date, new amount and interval) or now (anchored
        now, first charge due now, with an optional credit for the unused part of the period paid).

        Cycles keep counting; the new plan's `total_cycles` counts from its anchor; its trial is
        ignored. Only while nothing is being collected, so no charge straddles two plans. Credit
        comes only from the last paid cycle of the plan being left (`paid_period`), through
        `credit_back` (the paid charge, net of its refunds); any change consumes that period, so a
        plan left without proration forfeits it and a plan never paid for credits nothing."""
        MANDATE.ensure(self.status, "change_plan")
        if self.open_charge_id is not None or self.claimed_until is not None or self.attempt_at_gateway:
            raise InvalidState("A charge of this mandate is being collected; change the plan once it has settled.")
        if plan.id == self.plan_id:
            raise ValidationFailed("The mandate is already on this plan.", "plan_id")
        if plan.status != "active":
            raise ValidationFailed("The plan is archived.", "plan_id")
        if plan.terms.currency != self.terms.currency:
            raise ValidationFailed(f"The new plan must be in {self.terms.currency}, like the current one.", "plan_id")
        if plan.terms.tax_rate is None and self.pending_item_rates:
            raise ValidationFailed(
                "The new plan has no tax rate (nor has the account a default), and items with a tax rate wait for the next"
                " charge: one charge cannot mix lines with and without VAT (EN 16931 BR-O-11). Delete those items first.",
                "plan_id",
            )
        if plan.terms.amount + sum(self.pending_items.values()) > MAX_AMOUNT:
            raise ValidationFailed(f"The next charge would exceed {MAX_AMOUNT} with this plan and the pending items.", "plan_id")
        if at == "next_charge":
            if self.next_charge_at is None:
                raise InvalidState("This mandate has no next charge.")
            anchor = self.next_charge_at
        else:
            anchor = now
            if prorate and self.paid_period is not None and credit_back is not None:
                self.credit += credit_back(self.paid_period)
        self.paid_period = None  # credited or forfeited: the new plan has paid for nothing yet
        self.status, self.plan_id, self.terms = MANDATE.move(self.status, "change_plan"), plan.id, plan.terms
        self.anchor_at, self.anchor_cycle, self.updated_at = anchor, self.next_cycle, now
        return [EventType.MANDATE_PLAN_CHANGED, *self._schedule_from(self.next_cycle, now)]


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


class Event(BaseModel):
    """A recorded state change; `data.object` is the object as the API returned it then."""

    model_config = ConfigDict(defer_build=True)  # built on first use (cold start)

    id: str
    merchant_id: str
    type: str
    created_at: datetime
    data: dict[str, Any]
    # Not part of the API object: what the event's consumers need and `data` does not show. A
    # charge.succeeded: whether the customer has an e-mail address (its receipt e-mail); None: not said.
    customer_has_email: bool | None = None

    @property
    def mandate_id(self) -> str | None:
        """The mandate the event is about: its object's, or the object itself when it is a mandate
        (None: a plan's, an API key's, a webhook endpoint's, ...). A mandate's timeline lists by it."""
        obj = self.data.get("object")
        if not isinstance(obj, dict):
            return None
        found = obj.get("id") if str(obj.get("id", "")).startswith("mdt_") else obj.get("mandate_id")
        return found if isinstance(found, str) and found.startswith("mdt_") else None
