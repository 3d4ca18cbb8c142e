"""Notices before a charge: `upcoming_charge` (before each cycle's due time) and `trial_ending`
(before the trial's end, the first charge), each `<kind>_days` before it as the merchant's
account says at the time (0: off), only for a charge whose notice time is after the activation,
and only while the mandate is active and nothing is being collected. Pure.

Scheduled without a scan, by the dispatcher's own pass over the due index: a mandate with a
notice to give is due (`wake`) `MAX_NOTICE_DAYS` before its next charge, the most any account
asks for. Then the dispatcher reads the account and `take`s: a notice whose time has come is
handed back to send, one switched off (or too late: the charge is due) is marked done, and the
mandate's next look is set to the exact notice time of the rest (`notice_check`, valid only for
the charge it was computed for: a plan change, pause or retry that moves the charge makes it
moot). Each notice is marked done on the mandate's version, and its e-mail's id is
deterministic (domain/notifications), so it is sent at most once whatever runs twice.

A bank debit's pre-notification is mandatory (SEPA Core): a bank-debit mandate always gets its
`upcoming_charge` notice, `upcoming_charge_days` before the debit, or `BANK_DEBIT_NOTICE_DAYS`
when the account switched the notice off (0). Its cycle is not debited before the notice is given
(`Mandate.waits_for_pre_notification`), nor before the date the notice names
(`Mandate.debit_not_before`): its due time, or, for a notice given late (the cycle due at
activation, or due sooner than the notice days after it), that many days after the notice. The
amount it names is the one debited: when the amount changes before the debit (an item, a plan
change, credit), the due time moves past the date named, or the customer switched from a card to a
bank account after the card's notice, the debit is announced again (a new round of the cycle's
notice, its own e-mail) and waits the notice days once more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from .payment_methods import BANK_DEBIT_NOTICE_DAYS

if TYPE_CHECKING:
    from .account import NotificationSettings
    from .model import Mandate

MAX_NOTICE_DAYS = 14  # the most `upcoming_charge_days` and `trial_ending_days` may be (domain/account)
NoticeKind = Literal["upcoming_charge", "trial_ending"]


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    cycle: int
    due_at: datetime  # when the charge it announces is due (a bank debit: when it is presented)
    round: int = 0  # a bank debit announced again (another amount or a later date): 1, 2, ...

    @property
    def occasion(self) -> str:
        """The at-most-once key of its e-mail, with the mandate (cycles are never reused)."""
        return str(self.cycle) if not self.round else f"{self.cycle}.{self.round}"


def occasion_cycle(occasion: str) -> str:
    """The cycle a notice's occasion is about (whatever its round)."""
    return occasion.split(".", 1)[0]


@dataclass
class Taken:
    send: list[Notice] = field(default_factory=list)  # their time has come: e-mail them now
    changed: bool = False  # the mandate changed (notices done, or the next look moved): save it


def pending(mandate: Mandate) -> list[Notice]:
    """The notices still to give for the mandate's next charge (whatever the account says)."""
    due = mandate.next_charge_at
    quiet = mandate.open_charge_id is None and mandate.claimed_until is None and not mandate.attempt_at_gateway
    if mandate.status != "active" or not mandate.customer.email or due is None or not quiet:
        return []
    out: list[Notice] = []
    if mandate.trial_ends_at == due and not mandate.trial_noticed:
        out.append(Notice("trial_ending", mandate.next_cycle, due))
    if mandate.noticed_cycle < mandate.next_cycle:
        out.append(Notice("upcoming_charge", mandate.next_cycle, due))
    elif mandate.announcement_stale:
        out.append(Notice("upcoming_charge", mandate.next_cycle, due, mandate.notice_round + 1))
    return out


def mandatory(mandate: Mandate, kind: str) -> bool:
    """Whether the notice is given whatever the account says: a bank debit's pre-notification."""
    method = mandate.payment_method
    return kind == "upcoming_charge" and method is not None and method.bank_debit


def days_before(mandate: Mandate, kind: NoticeKind, settings: NotificationSettings) -> int:
    """How many days before the charge the notice is given (0: not at all)."""
    if kind == "trial_ending":
        return settings.trial_ending_days
    days = settings.upcoming_charge_days
    if days == 0 and mandatory(mandate, kind):
        return BANK_DEBIT_NOTICE_DAYS
    return days


def first_debit_at(mandate: Mandate, settings: NotificationSettings, now: datetime) -> datetime | None:
    """When the next charge is made, as far as it is known at `now`: its due time, or a bank
    debit's later date when its notice (still to give) comes too late for it."""
    debit = mandate.next_debit_at
    if debit is None or not mandate.waits_for_pre_notification:
        return debit
    return max(debit, now + timedelta(days=days_before(mandate, "upcoming_charge", settings)))


def wake(mandate: Mandate) -> datetime | None:
    """When the dispatcher must look at the mandate's notices, if it must."""
    if not pending(mandate):
        return None
    assert mandate.next_charge_at is not None
    check = mandate.notice_check
    if check is not None and check[0] == mandate.next_charge_at:
        return check[1]
    return mandate.next_charge_at - timedelta(days=MAX_NOTICE_DAYS)


def take(mandate: Mandate, settings: NotificationSettings, now: datetime) -> Taken:
    """What the dispatcher does with the mandate's notices at `now`, given the account's settings."""
    taken, later = Taken(), []
    for notice in pending(mandate):
        days = days_before(mandate, notice.kind, settings)
        at = notice.due_at - timedelta(days=days)
        if days and at > now:
            later.append(at)
            continue
        activated = mandate.activated_at
        amount = mandate.upcoming_amounts([(notice.cycle, notice.due_at)])[0]
        worth = notice.kind == "trial_ending" or amount > 0
        announced = mandatory(mandate, notice.kind) and mandate.pre_notified
        if announced and activated is not None and worth:
            # Given even late (before the activation, or the charge already due): the debit waits for
            # it, until the date it names.
            day = max(notice.due_at, now + timedelta(days=days))
            mandate.debit_not_before = day
            taken.send.append(Notice(notice.kind, notice.cycle, day, notice.round))
        elif days and activated is not None and at > activated and now < notice.due_at and worth:
            taken.send.append(notice)
        _done(mandate, notice, amount if announced else None)
        taken.changed = True
    check = (mandate.next_charge_at, min(later)) if later and mandate.next_charge_at is not None else None
    if check != mandate.notice_check:
        mandate.notice_check, taken.changed = check, True
    return taken


def _done(mandate: Mandate, notice: Notice, amount: int | None) -> None:
    """The notice is done: sent, or not worth sending (switched off, too late, nothing to collect).
    A bank debit's keeps the amount announced (or found nothing to collect): another amount is
    announced again."""
    if notice.kind == "trial_ending":
        mandate.trial_noticed = True
    else:
        mandate.noticed_cycle, mandate.noticed_amount, mandate.notice_round = notice.cycle, amount, notice.round
