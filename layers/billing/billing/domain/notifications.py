"""E-mails to the customer: which kinds exist, when each is due, and the at-most-once rule.

A notification's id derives from (merchant, kind, mandate, occasion), the occasion being the
cycle, the charge attempt or nothing (once per mandate), so the same e-mail can be recorded only
once whatever is retried or run twice. It is recorded *before* the e-mail is handed to SES, as
`failed` (`interrupted`), and marked `sent` after: a crash in between leaves a notification that
says it may not have gone out, and nothing sends it again (at most once). Pure.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from .model import Entity

NotificationKind = Literal["upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended"]
NotificationStatus = Literal["sent", "failed"]
KINDS: tuple[str, ...] = ("upcoming_charge", "trial_ending", "receipt", "payment_failed", "mandate_activated", "mandate_ended")
INTERRUPTED = "interrupted"  # recorded, and the sending did not finish: it may or may not have gone out
DEFERRED = "deferred"  # the mail service did not take it (throttled): surely not sent, tried again

# Which account setting switches each kind on (`notifications.<setting>`).
SETTING: dict[str, str] = {
    "upcoming_charge": "upcoming_charge_days",
    "trial_ending": "trial_ending_days",
    "receipt": "receipts",
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
    failure: str | None = INTERRUPTED
    sent_at: datetime | None = None
    message_id: str | None = None  # SES's, to match bounces and complaints

    @property
    def may_try_again(self) -> bool:
        """Only an e-mail the mail service surely did not take is ever handed over again."""
        return self.status == "failed" and self.failure == DEFERRED

    def retrying(self, now: datetime) -> None:
        """Claimed again (on its version) for one more hand-over: interrupted until it is known."""
        self.failure, self.updated_at = INTERRUPTED, now

    def sent(self, now: datetime, message_id: str) -> None:
        self.status, self.failure, self.sent_at, self.message_id, self.updated_at = "sent", None, now, message_id, now

    def not_sent(self, now: datetime, reason: str) -> None:
        self.status, self.failure, self.updated_at = "failed", reason[:200], now
