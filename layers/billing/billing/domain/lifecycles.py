"""Every aggregate's statuses and the transitions between them, in one place.

An aggregate's status changes only through its table here (`self.status = X.move(self.status,
"action")`); a move outside a table is refused with the contract's 409 `invalid_state`. A new
status (a bank debit's `processing`, a dispute) is one change here: add it to the `Literal` and
to the table. The sets the rest of the code asks about (final, stoppable, unsettled) are derived
from the tables. tests/unit/test_lifecycles.py checks that every move the code makes is in its
table and that every entry is reachable.
"""

from __future__ import annotations

from typing import Literal

from .state_machine import StateMachine

# ----------------------------------------------------------------------------- plans
PlanStatus = Literal["active", "archived"]
PLAN: StateMachine[PlanStatus] = StateMachine(
    "plan",
    PlanStatus,
    {"archive": {"active": "archived"}},
    initial="active",
    refusals={"archive": "Plan is already archived."},
)

TaxRateStatus = Literal["active", "archived"]
TAX_RATE: StateMachine[TaxRateStatus] = StateMachine(
    "tax_rate",
    TaxRateStatus,
    {"archive": {"active": "archived"}},
    initial="active",
    refusals={"archive": "This tax rate is already archived."},
)

# ----------------------------------------------------------------------------- mandates
MandateStatus = Literal["pending_approval", "active", "paused", "past_due", "cancelled", "revoked", "completed"]
_STOPPABLE: tuple[MandateStatus, ...] = ("pending_approval", "active", "paused", "past_due")
MANDATE: StateMachine[MandateStatus] = StateMachine(
    "mandate",
    MandateStatus,
    {
        "activate": {"pending_approval": "active"},
        "pause": {"active": "paused"},
        "resume": {"paused": "active"},
        # A past_due mandate is active again with a new payment method (its failed charge re-attempted).
        "replace_payment_method": {"active": "active", "paused": "paused", "past_due": "active"},
        "change_plan": {"active": "active"},
        # The open charge failed for good (a mandate paused while its attempt was at the gateway too).
        "collection_failed": {"active": "past_due", "paused": "past_due"},
        "cancel": {status: "cancelled" for status in _STOPPABLE},
        # By the merchant, the customer's page, or the bank (a `mandate_revoked` decline).
        "revoke": {status: "revoked" for status in _STOPPABLE},
        # No cycle left in the term, once the last charge settled (or at activation, resume, plan change).
        "complete": {"active": "completed"},
    },
    initial="pending_approval",
    verbs={"replace_payment_method": "replace the payment method of", "change_plan": "change the plan of"},
)

# ----------------------------------------------------------------------------- charges and their attempts
ChargeStatus = Literal["pending", "processing", "retrying", "succeeded", "failed", "cancelled"]
_RECORDED: tuple[ChargeStatus, ...] = ("succeeded", "retrying", "failed", "cancelled")
CHARGE: StateMachine[ChargeStatus] = StateMachine(
    "charge",
    ChargeStatus,
    {
        # An attempt's answer: paid; a soft decline with a retry scheduled; no attempt left; or
        # cancelled (the mandate ended while the attempt was at the gateway, and no money was taken).
        # A bank debit is first `processing` (accepted, not settled) and answered days later.
        "record": {"pending": ("processing", *_RECORDED), "retrying": ("processing", *_RECORDED), "processing": _RECORDED},
        "settle_without_payment": {"pending": "succeeded"},  # carried credit covers the whole amount
        "cancel": {"pending": "cancelled", "retrying": "cancelled"},  # its mandate ended before an attempt started
        "reopen": {"failed": "pending"},  # re-attempted after a new payment method
        # The gateway reported a paid charge as failed afterwards (a returned bank debit): the
        # decline rules again (a soft code retried, a hard one failed).
        "reverse": {"succeeded": ("retrying", "failed")},
    },
    initial="pending",
)

# One attempt at the gateway (inside its charge): dispatched with a pinned payment method,
# started once its start marker is written (the gateway may have seen its key from then on),
# recorded with the gateway's answer; or abandoned, never started, when its charge was cancelled.
# A bank debit's attempt is `processing` until the gateway settles it (succeeded or declined);
# a succeeded one may be reversed later (declined, with `reversed_at`).
AttemptStatus = Literal["dispatched", "started", "processing", "succeeded", "declined", "error", "abandoned"]
ATTEMPT: StateMachine[AttemptStatus] = StateMachine(
    "attempt",
    AttemptStatus,
    {
        "repin": {"dispatched": "dispatched"},  # a new payment method before it started
        "start": {"dispatched": "started"},
        "record": {"started": ("processing", "succeeded", "declined", "error"), "processing": ("succeeded", "declined")},
        "abandon": {"dispatched": "abandoned"},
        "reverse": {"succeeded": "declined"},
    },
    initial="dispatched",
)

# ----------------------------------------------------------------------------- disputes
# Opened by the gateway on a succeeded charge; a card dispute is answered in the gateway's tools
# (needs_response -> under_review) and closed won or lost; a bank-debit refund claim is lost at
# once. Gateway reports arrive in any order, so a move only goes forward (a closed dispute stays).
DisputeStatus = Literal["needs_response", "under_review", "won", "lost"]
DISPUTE: StateMachine[DisputeStatus] = StateMachine(
    "dispute",
    DisputeStatus,
    {
        "review": {"needs_response": "under_review"},
        "close": {"needs_response": ("won", "lost"), "under_review": ("won", "lost")},
    },
    initial="needs_response",
)

# ----------------------------------------------------------------------------- refunds and items
RefundStatus = Literal["pending", "succeeded", "failed"]
REFUND: StateMachine[RefundStatus] = StateMachine(
    "refund",
    RefundStatus,
    {
        "record": {"pending": ("succeeded", "failed")},
        # The gateway reported a succeeded refund as failed afterwards (Stripe `charge.refund.updated`).
        "fail_later": {"succeeded": "failed"},
    },
    initial="pending",
)

ItemStatus = Literal["pending", "billed", "deleted", "void"]
ITEM: StateMachine[ItemStatus] = StateMachine(
    "item",
    ItemStatus,
    {
        "bill": {"pending": "billed"},  # by the cycle charge that takes it
        "void": {"pending": "void"},  # its mandate ended before a charge could bill it
        "delete": {"pending": "deleted"},
    },
    initial="pending",
    refusals={
        "bill": "Item {id} is {state}; it cannot be billed again.",
        "delete": "Only a pending item can be deleted; this one is {state}.",
    },
)

# ----------------------------------------------------------------------------- webhooks
EndpointStatus = Literal["enabled", "disabled"]
ENDPOINT: StateMachine[EndpointStatus] = StateMachine(
    "webhook endpoint",
    EndpointStatus,
    {
        "set": {"enabled": ("enabled", "disabled"), "disabled": ("enabled", "disabled")},  # by the merchant
        "disable": {"enabled": "disabled"},  # after 5 days of failed attempts
    },
    initial="enabled",
)

DeliveryStatus = Literal["pending", "succeeded", "failed"]
_ATTEMPTED: tuple[DeliveryStatus, ...] = ("succeeded", "pending", "failed")
DELIVERY: StateMachine[DeliveryStatus] = StateMachine(
    "webhook delivery",
    DeliveryStatus,
    {
        # An attempt's outcome: succeeded, the next attempt scheduled, or failed after the last. It
        # happened whatever was stored meanwhile: recorded on a fresh read after a racing write (a
        # manual retry, a give-up, another wake-up's attempt); a delivery another wake-up already
        # succeeded stays succeeded (a racing failed attempt is kept, never re-opens it).
        "record": {"pending": _ATTEMPTED, "failed": _ATTEMPTED, "succeeded": "succeeded"},
        "give_up": {"pending": "failed"},  # its endpoint was deleted or disabled
        "retry": {"pending": "pending", "failed": "pending"},  # by hand
    },
    initial="pending",
    refusals={"retry": "This delivery has already succeeded."},
)

# ----------------------------------------------------------------------------- e-mails and API keys
# Recorded `failed` (interrupted) before it is handed to the mail service, `sent` after.
NotificationStatus = Literal["sent", "failed"]
NOTIFICATION: StateMachine[NotificationStatus] = StateMachine(
    "notification",
    NotificationStatus,
    {
        "send": {"failed": "sent"},
        "not_sent": {"failed": "failed"},  # refused, deferred, withheld (suppressed) or unknown
        "bounce": {"sent": "failed", "failed": "failed"},  # a permanent bounce may follow a transient one
    },
    initial="failed",
)

# ----------------------------------------------------------------------------- exports
# Built asynchronously: `pending` until the exporter wrote the file (`ready`), or gave up (`failed`).
ExportStatus = Literal["pending", "ready", "failed"]
EXPORT: StateMachine[ExportStatus] = StateMachine(
    "export",
    ExportStatus,
    {"finish": {"pending": "ready"}, "fail": {"pending": "failed"}},
    initial="pending",
)

ApiKeyStatus = Literal["active", "revoked"]
API_KEY: StateMachine[ApiKeyStatus] = StateMachine(
    "API key",
    ApiKeyStatus,
    {"revoke": {"active": "revoked"}},
    initial="active",
    refusals={"revoke": "This API key is already revoked."},
)
