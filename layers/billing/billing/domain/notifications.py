"""E-mails to the customer: which kinds exist, when each is due, and the at-most-once rule.

A notification's id derives from (merchant, kind, mandate, occasion), the occasion being the
cycle, the charge attempt or nothing (once per mandate), so the same e-mail can be recorded only
once whatever is retried or run twice. It is recorded *before* the e-mail is handed to SES, as
`failed` (`interrupted`), and marked `sent` after: a crash in between leaves a notification that
says it may not have gone out, and nothing sends it again (at most once).

What happens after SES took it comes back as feedback: a permanent bounce or a complaint marks
the notification and suppresses the address for the merchant (`Suppression`, keyed by a hash of
the address: nothing more is stored about it); later e-mails to it are recorded, not sent. Pure.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from .lifecycles import NOTIFICATION
from .lifecycles import NotificationStatus as NotificationStatus
from .model import Entity

NotificationKind = Literal[
    "upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended", "credit_note"
]
Feedback = Literal["bounce", "complaint"]
KINDS: tuple[str, ...] = (
    "upcoming_charge",
    "trial_ending",
    "receipt",
    "payment_failed",
    "mandate_activated",
    "mandate_ended",
    "credit_note",
)
INTERRUPTED = "interrupted"  # recorded, and the sending did not finish: it may or may not have gone out
DEFERRED = "deferred"  # the mail service did not take it (throttled): surely not sent, tried again

# Which account setting switches each kind on (`notifications.<setting>`).
SETTING: dict[str, str] = {
    "upcoming_charge": "upcoming_charge_days",
    "trial_ending": "trial_ending_days",
    "receipt": "receipts",
    "credit_note": "receipts",  # a refund's credit note goes where the receipts go
    "payment_failed": "payment_failed",
    "mandate_activated": "mandate_updates",
    "mandate_ended": "mandate_updates",
}


def notification_id(merchant_id: str, kind: str, mandate_id: str, occasion: str) -> str:
    digest = hashlib.sha256(f"{merchant_id}|{kind}|{mandate_id}|{occasion}".encode()).hexdigest()
    return f"ntf_{digest[:32]}"


class Notification(Entity):
    mandate_id: str
    charge_id: str | None = None
    kind: NotificationKind
    to: str
    locale: Literal["en", "lt"]
    status: NotificationStatus = "failed"
    # Stored without nulls: a default here would come back in place of None, so the notifier
    # sets `interrupted` itself when it records an e-mail before handing it over.
    failure: str | None = None
    sent_at: datetime | None = None
    message_id: str | None = None  # SES's, to match bounces and complaints
    feedback: Feedback | None = None  # what came back after SES took it

    @property
    def suppressed(self) -> bool:
        """Not handed over: an earlier e-mail to this address bounced or was complained about."""
        return self.failure is not None and self.failure.startswith(SUPPRESSED)

    @property
    def given(self) -> bool:
        """Handed to the mail service, or given up for good (refused, a suppressed address, a
        hand-over whose outcome is unknown): anything but deferred or still being handed over."""
        return self.status == "sent" or self.failure not in (None, DEFERRED, INTERRUPTED)

    @property
    def may_try_again(self) -> bool:
        """Only an e-mail the mail service surely did not take is ever handed over again."""
        return self.status == "failed" and self.failure == DEFERRED

    def retrying(self, now: datetime) -> None:
        """Claimed again (on its version) for one more hand-over: interrupted until it is known."""
        self.failure, self.updated_at = INTERRUPTED, now

    def sent(self, now: datetime, message_id: str) -> None:
        self.status = NOTIFICATION.move(self.status, "send")
        self.failure, self.sent_at, self.message_id, self.updated_at = None, now, message_id, now

    def not_sent(self, now: datetime, reason: str) -> None:
        self.status, self.failure, self.updated_at = NOTIFICATION.move(self.status, "not_sent"), reason[:200], now

    def bounced(self, now: datetime, permanent: bool, detail: str) -> bool:
        """The recipient's mail system returned it: not delivered. False: already known (a
        permanent bounce after a transient one is news)."""
        if self.feedback == "bounce" and not (permanent and self.failure and self.failure.startswith("bounced (transient)")):
            return False
        kind = "bounced" if permanent else "bounced (transient)"
        self.status = NOTIFICATION.move(self.status, "bounce")
        self.feedback, self.failure, self.updated_at = "bounce", f"{kind}: {detail}"[:200], now
        return True

    def complained(self, now: datetime) -> bool:
        """Delivered, and its recipient reported it as unwanted. False: already known."""
        if self.feedback == "complaint":
            return False
        self.feedback, self.updated_at = "complaint", now
        return True


SUPPRESSED = "suppressed"


def suppression_id(merchant_id: str, address: str) -> str:
    """One per (merchant, address), whatever the address's case: a hash, so the id says nothing of it."""
    digest = hashlib.sha256(f"{merchant_id}|{address.strip().lower()}".encode()).hexdigest()
    return f"sup_{digest[:32]}"


class Suppression(Entity):
    """An address the merchant's e-mails no longer go to: a permanent bounce or a complaint."""

    reason: Feedback
    notification_id: str  # the e-mail it came back from

    @classmethod
    def of(cls, notification: Notification, reason: Feedback, now: datetime) -> Suppression:
        return cls(
            id=suppression_id(notification.merchant_id, notification.to),
            merchant_id=notification.merchant_id,
            created_at=now,
            updated_at=now,
            reason=reason,
            notification_id=notification.id,
        )

    def withholds(self, notification: Notification, now: datetime) -> None:
        """Record an e-mail to this address as not sent, and why."""
        because = "an earlier e-mail bounced" if self.reason == "bounce" else "the customer reported an earlier e-mail"
        notification.not_sent(now, f"{SUPPRESSED}: {because}")
