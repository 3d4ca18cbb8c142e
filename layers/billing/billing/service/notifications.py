"""E-mails to customers: `Notifier.notify(message)` sends one kind of e-mail about one mandate
at most once per occasion (domain/notifications), in the customer's language, naming the
merchant, with the merchant's support address as reply-to, and records it (`/v1/notifications`).

What SES tells afterwards (`Notifier.feedback`): a bounce marks the notification as not
delivered, a complaint as reported; a permanent bounce and a complaint suppress the address for
the merchant, and every later e-mail to it is recorded as withheld instead of sent.

Which e-mails events cause (`messages_for_event`): a mandate activated or ended, an attempt that
failed (one per attempt). Receipts are asked for by the receipts function once the number is
given; notices before a charge by the dispatcher (domain/notices), and only sent while the
mandate is active and that charge is still its next one (never for a mandate that ended before
the charge was due). Nothing is sent without `customer.email` or when the account switched the
kind off; an e-mail to an address that bounced or complained is recorded, not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..domain import notices
from ..domain.account import Account
from ..domain.charge import Attempt, Charge
from ..domain.errors import ConcurrentModification
from ..domain.invoices import Invoice, invoice_id
from ..domain.model import Mandate, PaymentMethod
from ..domain.notifications import DEFERRED, INTERRUPTED, SETTING, Notification, Suppression, notification_id, suppression_id
from ..observability import logger
from .concurrency import retry_on_conflict
from .links import ApprovalLinks
from .messages import MailFeedback, NotificationMessage, PublishedEvent
from .ports import (
    Attachment,
    Changes,
    Clock,
    DocumentPdf,
    Email,
    EmailFacts,
    EmailRenderer,
    MailDeferred,
    Mailer,
    MailRefused,
    Repository,
)

ENDED = {"mandate.cancelled": "cancelled", "mandate.revoked": "revoked", "mandate.completed": "completed"}
# A returned bank debit (`charge.reversed`) comes with `charge.retry_scheduled` or `charge.failed`
# about the same attempt: one e-mail (the same occasion), which says the payment was returned.
FAILED_ATTEMPT = ("charge.retry_scheduled", "charge.failed", "charge.reversed")
PAGE_LINK_DAYS = 30
# The e-mails that carry a document (the charge's invoice, the refund's credit note).
DOCUMENT_KINDS = ("receipt", "credit_note")
# The largest PDF attached: base64 makes it 4/3 larger, and SES takes 10 MB per message with the
# text and HTML (adapters/ses). A larger one is left out and the e-mail goes with the link only.
MAX_ATTACHMENT_BYTES = 7 * 1024 * 1024


def messages_for_event(event: PublishedEvent | dict[str, Any]) -> list[NotificationMessage]:
    """The e-mails an event (as the topic publishes it, with its merchant) asks for."""
    if isinstance(event, dict):
        event = PublishedEvent.model_validate({"object": "event", **event})
    kind, obj, merchant_id = event.event_type, event.data.get("object") or {}, event.merchant_id
    if merchant_id is None:
        return []
    if kind == "mandate.activated":
        return [NotificationMessage(merchant_id=merchant_id, kind="mandate_activated", mandate_id=obj["id"])]
    if kind in ENDED:
        return [NotificationMessage(merchant_id=merchant_id, kind="mandate_ended", mandate_id=obj["id"], occasion=ENDED[kind])]
    if kind in FAILED_ATTEMPT:
        attempt = len(obj.get("attempts") or [])
        occasion = f"{obj['id']}:{attempt}"
        return [
            NotificationMessage(
                merchant_id=merchant_id,
                kind="payment_failed",
                mandate_id=obj["mandate_id"],
                charge_id=obj["id"],
                occasion=occasion,
                decline_code=obj.get("failure_code"),
                next_attempt_at=obj.get("next_attempt_at"),
            )
        ]
    return []


NOTICES = ("upcoming_charge", "trial_ending")


class AnnouncementNotRecordedYet(Exception):
    """A bank debit's announcement arrived before the dispatcher recorded it on the mandate (it
    hands notices over first): the request comes back later (SQS), when it is."""


def _still_due(mandate: Mandate, message: NotificationMessage, now: datetime) -> bool:
    """A notice announces the mandate's next charge: not if it stopped, paused or moved since, nor
    once that charge is due (a notice held up in the queue would arrive with the charge). A bank
    debit's announcement only while it is the mandate's current one, for the cycle it will debit next
    (another amount, account or date since: a new one follows; a cycle a pause skipped: none), and
    before the date it names (later: it is announced again)."""
    due, next_due = message.due_at, mandate.next_charge_at
    if mandate.status != "active" or due is None or next_due is None or now >= due:
        return False
    if message.kind == "trial_ending":
        return mandate.trial_ends_at == due == next_due
    order = notices.announcement_order(message.occasion)
    if order is None:
        return next_due == due
    said = mandate.announcement
    if said is None or (mandate.noticed_cycle, said.round if said.cycle == mandate.noticed_cycle else -1) < order:
        raise AnnouncementNotRecordedYet(f"{message.mandate_id}: announcement {message.occasion}")
    # Still what the mandate will debit: its next cycle (not one a pause skipped since), not another
    # amount or account since, nor a card now.
    return (
        said.occasion == message.occasion
        and said.cycle == mandate.next_cycle
        and mandate.pre_notified
        and not mandate.announcement_stale
    )


@dataclass
class ReadAhead:
    """What a batch of e-mail requests needs, read in a few batch reads (BatchGetItem, and each
    merchant's account once) instead of five reads per e-mail. Every write is still conditional
    on the versions read, so a request that follows another one in the same batch is safe."""

    mandates: dict[str, Mandate] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    notifications: dict[str, Notification] = field(default_factory=dict)
    suppressions: dict[str, Suppression] = field(default_factory=dict)
    accounts: dict[str, Account | None] = field(default_factory=dict)
    covered: set[str] = field(default_factory=set)  # the notification ids it was read for
    invoices: dict[str, Invoice] = field(default_factory=dict)  # the documents receipts and credit notes carry

    def document(self, message: NotificationMessage) -> Invoice | None:
        """The document an e-mail carries: a receipt's charge's invoice, a credit note (its occasion)."""
        wanted = _document_id(message)
        found = self.invoices.get(wanted) if wanted else None
        return found if found is not None and found.merchant_id == message.merchant_id else None

    def mandate(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        found = self.mandates.get(mandate_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    def charge(self, merchant_id: str, charge_id: str) -> Charge | None:
        found = self.charges.get(charge_id)
        return found if found is not None and found.merchant_id == merchant_id else None


@dataclass
class Planned:
    """One e-mail decided: its notification (recorded first), what to send (None: withheld)."""

    notification: Notification
    email: Email | None
    reply_to: str | None
    lang: str


class SendingDeferred(Exception):
    """The mail service did not take an e-mail now: the request comes back (the e-mail is recorded
    as surely not sent, so it is handed over again then)."""


def _document_id(message: NotificationMessage) -> str | None:
    if message.kind == "receipt" and message.charge_id:
        return invoice_id(message.charge_id)
    if message.kind == "credit_note" and message.occasion.startswith("inv_"):
        return message.occasion
    return None


class Notifier:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        mailer: Mailer,
        links: ApprovalLinks,
        emails: EmailRenderer,
        documents: DocumentPdf | None = None,
    ) -> None:
        """`emails`: how an e-mail reads (`billing.emails.render.JinjaEmails`); `documents`: an
        invoice's PDF (attached where the account wants it; None: never attached)."""
        self.repo, self.clock, self.mailer, self.links, self.emails = repo, clock, mailer, links, emails
        self.documents = documents
        # E-mails that went without the PDF the account wants (it could not be made, or was too
        # large): counted as `EmailAttachmentsMissing` by the batch.
        self.attachments_missing = 0

    def read_ahead(self, messages: Sequence[NotificationMessage]) -> ReadAhead:
        """Everything `notify` reads for these requests: mandates, charges and notifications (their
        ids derive from the requests) in one batch read, the suppressions of the mandates' addresses
        in one more, each account once."""
        repo = self.repo
        ids = [(m.merchant_id, notification_id(m.merchant_id, m.kind, m.mandate_id, m.occasion)) for m in messages]
        loaded = repo.load_many(
            {
                Mandate: [(m.merchant_id, m.mandate_id) for m in messages],
                Charge: [(m.merchant_id, m.charge_id) for m in messages if m.charge_id],
                Notification: ids,
                Invoice: [(m.merchant_id, i) for m in messages if (i := _document_id(m))],
            }
        )
        ahead = ReadAhead(mandates=loaded.of(Mandate), charges=loaded.of(Charge), invoices=loaded.of(Invoice))
        ahead.notifications = loaded.of(Notification)
        ahead.covered = {i for _, i in ids}
        addresses = {
            (m.merchant_id, suppression_id(m.merchant_id, mandate.customer.email))
            for m in messages
            if (mandate := ahead.mandate(m.merchant_id, m.mandate_id)) is not None and mandate.customer.email
        }
        ahead.suppressions = repo.load_many({Suppression: sorted(addresses)}).of(Suppression)
        ahead.accounts = {
            merchant_id: repo.get(Account, merchant_id, merchant_id) for merchant_id in {m.merchant_id for m in messages}
        }
        return ahead

    def notify(self, message: NotificationMessage, ahead: ReadAhead | None = None) -> Notification | None:
        """The notification recorded (sent or failed), or None when there is nothing to send.
        `ahead`: what was read for the whole batch (else it is read for this one request)."""
        if (
            ahead is None
            or notification_id(message.merchant_id, message.kind, message.mandate_id, message.occasion) not in ahead.covered
        ):
            ahead = self.read_ahead([message])
        planned = self._plan(message, ahead)
        if planned is None:
            self._confirm(message, ahead.notifications.get(self._id(message)))  # given before (a redelivery)
            return None
        try:  # recorded first, as not (yet) sent: whatever happens next, it is never sent twice
            self.repo.commit(Changes(put=[planned.notification]))
        except ConcurrentModification:
            return None  # another run recorded or claimed it meanwhile
        if planned.email is None:  # withheld (a suppressed address): recorded, not sent
            self._confirm(message, planned.notification)
            return planned.notification
        deferred = self._hand_over(planned)
        self.repo.commit(Changes(put=[planned.notification]))
        if deferred is not None:
            raise deferred
        self._confirm(message, planned.notification)
        return planned.notification

    @staticmethod
    def _id(message: NotificationMessage) -> str:
        return notification_id(message.merchant_id, message.kind, message.mandate_id, message.occasion)

    def _confirm(self, message: NotificationMessage, notification: Notification | None) -> None:
        """A bank debit's announcement given (e-mailed, or given up for good: refused, a suppressed
        address, a hand-over whose outcome is unknown, never made twice): marked delivered on the
        mandate, whose debit may then go on the date it named."""
        if notices.announcement_order(message.occasion) is None or notification is None or not notification.given:
            return

        def once(_: int) -> None:
            mandate = self.repo.get(Mandate, message.merchant_id, message.mandate_id)
            if mandate is not None and mandate.announcement_delivered(message.occasion):
                self.repo.commit(Changes(put=[mandate]))

        retry_on_conflict(once)

    def notify_all(self, messages: Sequence[NotificationMessage]) -> list[Notification | None | Exception]:
        """A batch of e-mails, each as `notify` would (in order; an exception for one whose request
        must come back), with a batch's writes: what the batch needs in a few batch reads, every
        e-mail recorded as going out in one transaction before any is handed over, and the
        outcomes recorded in one more. When the first transaction fails (one of them was recorded
        meanwhile: a redelivery, another run), nothing was written and each e-mail goes alone."""
        results: list[Notification | None | Exception] = [None] * len(messages)
        if not messages:
            return results
        ahead = self.read_ahead(messages)
        planned: list[tuple[int, Planned]] = []
        seen: set[str] = set()
        for i, message in enumerate(messages):
            try:
                plan = self._plan(message, ahead)
            except Exception as error:  # noqa: BLE001 (this request only)
                results[i] = error
                continue
            if plan is not None and plan.notification.id not in seen:  # a repeat in the batch: sent once
                seen.add(plan.notification.id)
                planned.append((i, plan))
        if not planned:
            return results
        try:
            self.repo.commit(Changes(put=[p.notification for _, p in planned]))
        except ConcurrentModification:
            return [self._alone(m, ahead) for m in messages]
        for i, plan in planned:
            results[i] = plan.notification
            if plan.email is not None:
                deferred = self._hand_over(plan)
                if deferred is not None:
                    results[i] = deferred
        outcomes = [(i, p) for i, p in planned if p.email is not None]
        try:
            self.repo.commit(Changes(put=[p.notification for _, p in outcomes]))
        except Exception:  # noqa: BLE001 (recorded one by one: a bounce may have been marked meanwhile)
            for i, plan in outcomes:
                try:
                    self.repo.commit(Changes(put=[plan.notification]))
                except Exception as error:  # noqa: BLE001 (its request comes back: never sent again)
                    results[i] = error
        for i, (message, result) in enumerate(zip(messages, results, strict=True)):
            if isinstance(result, Exception):
                continue
            try:
                self._confirm(message, result if result is not None else ahead.notifications.get(self._id(message)))
            except Exception as error:  # noqa: BLE001 (its request comes back: confirmed then)
                logger.exception("announcement %s of mandate %s not marked e-mailed", message.occasion, message.mandate_id)
                results[i] = error
        return results

    def _alone(self, message: NotificationMessage, ahead: ReadAhead) -> Notification | None | Exception:
        try:
            return self.notify(message, ahead)
        except Exception as error:  # noqa: BLE001 (this request only)
            return error

    def _plan(self, message: NotificationMessage, ahead: ReadAhead) -> Planned | None:
        """What to record (and send) for one request, decided on what was read; None: nothing."""
        merchant_id = message.merchant_id
        mandate = ahead.mandate(merchant_id, message.mandate_id)
        account = ahead.accounts.get(merchant_id)
        if mandate is None or account is None or not mandate.customer.email:
            return None
        if message.kind in NOTICES and not _still_due(mandate, message, self.clock.now()):
            return None
        if not getattr(account.notifications, SETTING[message.kind]) and not notices.mandatory(mandate, message.kind):
            return None  # switched off by the account (a bank debit's pre-notification cannot be)
        charge = ahead.charge(merchant_id, message.charge_id) if message.charge_id else None
        if message.charge_id and (charge is None or charge.mandate_id != mandate.id):
            return None  # never an e-mail about one customer's charge to another
        now = self.clock.now()
        lang = mandate.customer.locale or account.default_locale
        notification = Notification(
            id=notification_id(merchant_id, message.kind, mandate.id, message.occasion),
            merchant_id=merchant_id,
            created_at=now,
            updated_at=now,
            mandate_id=mandate.id,
            charge_id=message.charge_id,
            kind=message.kind,
            to=mandate.customer.email,
            locale=lang,
            failure=INTERRUPTED,  # until it is known to be handed over
        )
        existing = ahead.notifications.get(notification.id)
        if existing is not None:
            if not existing.may_try_again:
                return None  # recorded before (a redelivery, a second run): never sent twice
            # A copy: the read-ahead stays as read, so a fallback (`_alone`) decides again on it.
            notification = existing.model_copy(deep=True)
            notification.retrying(now)
        # Rendered before anything is recorded: a bug in rendering never leaves an e-mail marked as going out.
        document = ahead.document(message) if message.kind in DOCUMENT_KINDS else None
        facts = self._facts(message, mandate, charge, account, lang, now, document)
        attachment = self._attachment(message, account, document)
        email = self.emails.render(replace(facts, attached=attachment is not None))
        if attachment is not None:
            email = replace(email, attachments=(attachment,))
        suppression = ahead.suppressions.get(suppression_id(merchant_id, notification.to))
        if suppression is not None:  # an earlier e-mail bounced or was reported: recorded, not sent
            suppression.withholds(notification, now)
            return Planned(notification, None, account.support_email, lang)
        return Planned(notification, email, account.support_email, lang)

    def _attachment(self, message: NotificationMessage, account: Account, document: Invoice | None) -> Attachment | None:
        """The document's PDF when the account wants it with the e-mail (`invoice_pdf`); None when
        it does not, or when the PDF cannot be made or is too large: the e-mail then goes with the
        link alone (logged, counted), never not at all."""
        if message.kind not in DOCUMENT_KINDS or not account.notifications.invoice_pdf or self.documents is None:
            return None
        from .customer_portal import receipt_view  # the notifier's only use of it: not loaded for other e-mails

        log = {"kind": message.kind, "mandate_id": message.mandate_id, "occasion": message.occasion}
        try:
            if document is None:
                raise LookupError("the document is not issued")
            view = receipt_view(self.repo, message.merchant_id, document.charge_id, document)
            if view is None:
                raise LookupError("the document's charge is not there")
            pdf = self.documents(view, document.locale)
        except Exception:  # noqa: BLE001 (the e-mail goes with its link)
            logger.exception("e-mail goes without its PDF: the PDF could not be made", extra=log)
            self.attachments_missing += 1
            return None
        if len(pdf) > MAX_ATTACHMENT_BYTES:
            logger.error("e-mail goes without its PDF: too large", extra={**log, "size": len(pdf)})
            self.attachments_missing += 1
            return None
        return Attachment(f"{document.number}.pdf", "application/pdf", pdf)

    def _hand_over(self, plan: Planned) -> SendingDeferred | None:
        """The e-mail to the mail service, its outcome on the notification (to be recorded); the
        error to answer with when the mail service deferred it (it is handed over again then)."""
        notification, email = plan.notification, plan.email
        assert email is not None
        tags = {
            "merchant_id": notification.merchant_id,
            "mandate_id": notification.mandate_id,
            "notification_id": notification.id,
            "kind": notification.kind,
            "locale": plan.lang,
        }
        try:
            message_id = self.mailer.send(
                notification.to, plan.reply_to, email.subject, email.text, email.html, tags, email.attachments
            )
        except MailRefused as refused:
            notification.not_sent(self.clock.now(), str(refused) or "refused")
        except MailDeferred as deferred:
            notification.not_sent(self.clock.now(), DEFERRED)
            error = SendingDeferred(f"{notification.id}: {deferred}")
            error.__cause__ = deferred
            return error
        except Exception as error:  # a timeout or a 5xx: SES may have taken it, so it is never sent again
            logger.exception("e-mail %s not handed over", notification.id)
            notification.not_sent(self.clock.now(), f"mail service error: {type(error).__name__}")
        else:
            notification.sent(self.clock.now(), message_id)
        return None

    def feedback(self, event: MailFeedback) -> Notification | None:
        """Mark the notification SES reports on (and suppress its address when that is for good);
        None when there is nothing (more) to mark. A redelivered report changes nothing."""
        merchant_id, notification_id_ = event.tag("merchant_id"), event.tag("notification_id")
        if not merchant_id or not notification_id_:
            return None

        def mark(_: int) -> Notification | None:
            notification = self.repo.get(Notification, merchant_id, notification_id_)
            if notification is None:
                return None
            # Only SES publishes to the topic, with the tags the notifier set. An e-mail whose
            # hand-over was interrupted (or is still being recorded) has no message id yet: the
            # report is what tells it went out.
            if notification.message_id not in (None, event.mail.messageId):
                return None  # not this e-mail
            now = self.clock.now()
            if event.eventType == "Bounce":
                changed = notification.bounced(now, event.permanent, event.detail)
            else:
                changed = notification.complained(now)
            if not changed:
                return None
            changes = Changes(put=[notification])
            if event.permanent and self.repo.get(Suppression, merchant_id, suppression_id(merchant_id, notification.to)) is None:
                changes.put.append(Suppression.of(notification, notification.feedback or "bounce", now))
            self.repo.commit(changes)
            return notification

        return retry_on_conflict(mark)

    def _facts(
        self,
        message: NotificationMessage,
        mandate: Mandate,
        charge: Charge | None,
        account: Account,
        lang: str,
        now: datetime,
        document: Invoice | None = None,
    ) -> EmailFacts:
        from datetime import timedelta

        terms = mandate.terms
        page = self.links.page_url(mandate, now + timedelta(days=PAGE_LINK_DAYS))
        method = mandate.payment_method
        facts: dict[str, Any] = {
            "kind": message.kind,
            "lang": lang,
            "merchant": account.name,
            "page_url": page,
            "support_email": account.support_email,
            "currency": terms.currency,
            "amount": charge.amount if charge else terms.amount,
            "interval": terms.interval,
            "interval_count": terms.interval_count,
            "method": _method_text(method),
            "mandate_reference": mandate.mandate_reference or "",
        }
        first = notices.first_debit_at(mandate, account.notifications, now)
        if message.kind == "mandate_activated" and first is not None:
            facts["date"] = first  # a bank debit's first debit waits for its pre-notification
        if message.kind == "mandate_ended":
            facts["ended_as"] = message.occasion
        if message.kind in NOTICES and message.due_at is not None:
            facts["date"] = message.due_at
            if message.amount is not None:  # a bank debit's: the amount it names, as the mandate keeps it
                facts["amount"] = message.amount
            elif message.kind == "upcoming_charge":  # what that charge will be: items added, credit taken off
                facts["amount"] = mandate.upcoming_amounts([(mandate.next_cycle, message.due_at)])[0]
        if charge is not None:
            facts["date"] = charge.updated_at
            # A failed attempt is told as it was then (the message carries it), not as the charge is now.
            facts["decline_code"] = message.decline_code or charge.failure_code
            retry = message.next_attempt_at if message.kind == "payment_failed" else None
            facts["retry_date"] = retry
            returned = _returned_attempt(charge, message) if message.kind == "payment_failed" else None
            if returned is not None:  # a payment taken, then sent back by the bank: said so, with its day
                facts["reversed"], facts["date"] = True, returned.at
            facts["number"] = charge.receipt_number or ""
            facts["receipt_url"] = self.links.receipt_url(charge) or ""
        if document is not None and message.kind == "receipt":  # the charge's invoice: named and linked
            facts |= {"number": document.number, "document": document.title(lang)}
            facts["receipt_url"] = self.links.invoice_url(document) or facts.get("receipt_url", "")
        if document is not None and message.kind == "credit_note":  # what the credit note gave back, its link
            facts |= {"number": document.number, "corrects": document.corrects_number or "", "amount": -document.total}
            facts |= {"date": document.issued_at, "receipt_url": self.links.invoice_url(document) or ""}
            facts["document"] = document.title(lang)
        return EmailFacts(**facts)


def _method_text(method: PaymentMethod | None) -> str:
    """How an e-mail names the payment method: a bank account by its IBAN's last four, a card by
    its gateway and the card number's last four (as the gateway described them)."""
    if method is None:
        return ""
    if method.bank_debit:
        return f"IBAN …{method.shown_last4}"
    return f"{method.gateway.capitalize()} …{method.shown_last4}"


def _returned_attempt(charge: Charge, message: NotificationMessage) -> Attempt | None:
    """The attempt a payment_failed e-mail is about (its occasion `<charge>:<n>`), if the gateway
    reported its money returned (a reversed bank debit)."""
    n = message.occasion.rsplit(":", 1)[-1]
    if not n.isdigit() or not 0 < int(n) <= len(charge.attempts):
        return None
    attempt = charge.attempts[int(n) - 1]
    return attempt if attempt.reversed_at is not None else None


@dataclass
class NotificationBatch:
    """A notification queue batch's outcome: the positions of the records that come back (with their
    errors, to log), and how many e-mails went which way (metric name -> count)."""

    failed: list[tuple[int, Exception]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


class InvalidNotificationMessage(Exception):
    """A record that is none of the notification queue's messages."""


class NotificationRequests:
    """The notifier function's use case: a batch of the notification queue's messages (None: a record
    that is none of them), e-mails sent at most once with the batch's reads and writes, SES's
    reports marked."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    def handle(self, batch: Sequence[NotificationMessage | PublishedEvent | MailFeedback | None]) -> NotificationBatch:
        out = NotificationBatch()
        missing = self.notifier.attachments_missing
        wanted: list[tuple[int, NotificationMessage]] = []
        for position, message in enumerate(batch):
            if message is None:
                out.failed.append((position, InvalidNotificationMessage("not a notification queue message")))
            elif isinstance(message, MailFeedback):
                self._feedback(position, message, out)
            elif isinstance(message, PublishedEvent):
                try:
                    asked = messages_for_event(message)
                except Exception as error:  # noqa: BLE001 (an event whose object names no e-mail: this record only)
                    out.failed.append((position, InvalidNotificationMessage(f"event {message.id}: {type(error).__name__}")))
                    continue
                wanted += [(position, m) for m in asked]
            else:
                wanted.append((position, message))
        try:
            results = self.notifier.notify_all([m for _, m in wanted])
        except Exception:  # noqa: BLE001 (the batch's reads failed: each e-mail reads what it needs)
            logger.exception("read-ahead of the batch failed; each e-mail reads on its own")
            results = [self._alone(m) for _, m in wanted]
        failed: dict[int, Exception] = {}
        for (position, _), result in zip(wanted, results):
            if isinstance(result, Exception):
                failed.setdefault(position, result)
            elif result is not None:
                out.count(
                    "EmailsSuppressed"  # withheld on purpose: not a failure to alarm on
                    if result.suppressed
                    else ("EmailsSent" if result.status == "sent" else "EmailsFailed")
                )
        out.failed += sorted(failed.items())
        out.failed.sort(key=lambda f: f[0])
        if self.notifier.attachments_missing > missing:  # sent with the link only: alarmed on
            out.counts["EmailAttachmentsMissing"] = self.notifier.attachments_missing - missing
        return out

    def _alone(self, message: NotificationMessage) -> Notification | None | Exception:
        try:
            return self.notifier.notify(message)
        except Exception as error:  # noqa: BLE001 (this request only)
            return error

    def _feedback(self, position: int, report: MailFeedback, out: NotificationBatch) -> None:
        try:
            if self.notifier.feedback(report) is not None:
                out.count("EmailsBounced" if report.eventType == "Bounce" else "EmailsComplained")
        except Exception as error:  # noqa: BLE001 (this record comes back)
            out.failed.append((position, error))
