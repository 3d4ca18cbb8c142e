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
when the account switched the notice off (0). What it names is kept on the mandate as the
cycle's `Announcement`: the amount, the bank account (payment method) and the date (the due time,
or, for a notice given late, e.g. a cycle due at activation, that many days after the notice).
The cycle is not debited before the notice was e-mailed (the notifier marks the announcement
delivered), nor before the date named (`Mandate.next_debit_at`), nor for another amount or account
than named: an amount changed since (an item, a plan change, credit), another account, a due time
moved past the date named, or a switch from a card after the card's notice is announced again (a
new round, its own e-mail) and waits the notice days once more; so is an announcement not e-mailed
by the date it named (the queue lost it, or it came too late). The next cycle of a bank debit is
announced even while the charge before is still being collected (a debit takes days to settle), so
debits keep up with the schedule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from .payment_methods import BANK_DEBIT_NOTICE_DAYS

if TYPE_CHECKING:
    from .account import NotificationSettings
    from .model import Mandate

MAX_NOTICE_DAYS = 14  # the most `upcoming_charge_days` and `trial_ending_days` may be (domain/account)
NoticeKind = Literal["upcoming_charge", "trial_ending"]


class Announcement(BaseModel):
    """What the `upcoming_charge` notice of a cycle named (kept on the mandate). A bank debit's
    (`mandatory`) binds the debit: that amount, from that account (its payment method's token), not
    before that date, once e-mailed (`delivered`). A card's only records that it was given."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    cycle: int
    round: int = 0  # announced again (another amount, account or date): 1, 2, ...
    amount: int
    method: str
    date: datetime
    mandatory: bool
    delivered: bool = False

    @property
    def occasion(self) -> str:
        """The at-most-once key of its e-mail: a card's is its cycle (as always); a bank debit's
        names the round and what it says, so a notice taken again with other facts is another e-mail."""
        if not self.mandatory:
            return str(self.cycle)
        facts = f"{self.amount}|{self.method}|{self.date.isoformat()}"
        return f"{self.cycle}.{self.round}.{hashlib.sha256(facts.encode()).hexdigest()[:8]}"


def announcement_order(occasion: str) -> tuple[int, int] | None:
    """(cycle, round) of a bank debit's announcement from its e-mail's occasion (None: not one)."""
    parts = occasion.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1])


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    cycle: int
    due_at: datetime  # when the charge it announces is due (a bank debit: the date it names)
    round: int = 0  # a bank debit announced again: 1, 2, ...
    announcement: Announcement | None = None  # a bank debit's: what it names

    @property
    def occasion(self) -> str:
        """The at-most-once key of its e-mail, with the mandate (cycles are never reused)."""
        return self.announcement.occasion if self.announcement is not None else str(self.cycle)


@dataclass
class Taken:
    send: list[Notice] = field(default_factory=list)  # their time has come: e-mail them now
    changed: bool = False  # the mandate changed (notices done, or the next look moved): save it


def pending(mandate: Mandate, now: datetime | None = None) -> list[Notice]:
    """The notices still to give for the mandate's next charge (whatever the account says); with
    `now`, also a bank debit's announcement not e-mailed by the date it named."""
    due = mandate.next_charge_at
    quiet = mandate.open_charge_id is None and mandate.claimed_until is None and not mandate.attempt_at_gateway
    if mandate.status != "active" or not mandate.customer.email or due is None:
        return []
    out: list[Notice] = []
    if quiet and mandate.trial_ends_at == due and not mandate.trial_noticed:
        out.append(Notice("trial_ending", mandate.next_cycle, due))
    if not quiet and not mandate.pre_notified:
        return out  # a card's notice waits until nothing is being collected
    announced = mandate.announcement
    again = (announced.round + 1) if announced is not None and announced.cycle == mandate.next_cycle else 1
    if mandate.noticed_cycle < mandate.next_cycle:
        out.append(Notice("upcoming_charge", mandate.next_cycle, due))
    elif mandate.announcement_stale or (now is not None and (late := mandate.undelivered_by) is not None and late <= now):
        out.append(Notice("upcoming_charge", mandate.next_cycle, due, again))
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
    """When the dispatcher must look at the mandate's notices, if it must: a notice to give, or a
    bank debit's announcement still not e-mailed (looked at again on the date it named)."""
    if not pending(mandate):
        return mandate.undelivered_by
    assert mandate.next_charge_at is not None
    check = mandate.notice_check
    if check is not None and check[0] == mandate.next_charge_at:
        return check[1]
    return mandate.next_charge_at - timedelta(days=MAX_NOTICE_DAYS)


def take(mandate: Mandate, settings: NotificationSettings, now: datetime) -> Taken:
    """What the dispatcher does with the mandate's notices at `now`, given the account's settings."""
    taken, later = Taken(), []
    for notice in pending(mandate, now):
        days = days_before(mandate, notice.kind, settings)
        at = notice.due_at - timedelta(days=days)
        if days and at > now:
            later.append(at)
            continue
        activated = mandate.activated_at
        amount = mandate.upcoming_amounts([(notice.cycle, notice.due_at)])[0]
        worth = notice.kind == "trial_ending" or amount > 0
        bank = mandatory(mandate, notice.kind) and mandate.pre_notified
        token = mandate.payment_method.token if mandate.payment_method is not None else ""
        # What it names: a card's only records it was given; a bank debit's with nothing to collect
        # has nothing to tell (any amount that comes later is announced).
        said = Announcement(
            cycle=notice.cycle,
            round=notice.round,
            amount=amount,
            method=token,
            date=notice.due_at,
            mandatory=bank,
            delivered=True,
        )
        if bank and activated is not None and worth:
            # Given even late (before the activation, or the charge already due): the debit waits for
            # it to be e-mailed, and until the date it names.
            day = max(notice.due_at, now + timedelta(days=days))
            said = said.model_copy(update={"date": day, "delivered": False})
            taken.send.append(Notice(notice.kind, notice.cycle, day, notice.round, said))
        elif days and activated is not None and at > activated and now < notice.due_at and worth:
            taken.send.append(notice)
        _done(mandate, notice, said)
        taken.changed = True
    check = (mandate.next_charge_at, min(later)) if later and mandate.next_charge_at is not None else None
    if check != mandate.notice_check:
        mandate.notice_check, taken.changed = check, True
    return taken


def _done(mandate: Mandate, notice: Notice, said: Announcement) -> None:
    """The notice is done: handed over, or not worth sending (switched off, too late, nothing to
    collect); an upcoming charge's keeps what it named (a bank debit's binds the debit)."""
    if notice.kind == "trial_ending":
        mandate.trial_noticed = True
    else:
        mandate.noticed_cycle, mandate.announcement = notice.cycle, said
