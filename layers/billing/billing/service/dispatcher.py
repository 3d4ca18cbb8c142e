"""Dispatching due work: `Dispatcher.run(now)` reads the due index (only what is due), claims
each mandate with a version-checked transaction (overlapping runs: one wins, the other sees a
conflict and moves on), and sends one message per claimed attempt. A claim that is never
completed (crash before sending, lost message) becomes due again when its lease ends and is
sent again with the same attempt number. The message is built, and so validated, before the
claim is saved.

An ended mandate that still holds unbilled items or carried credit is due too: it is wound up
once, on its version (domain/wind_up): items voided, credit refunded (the refunds are due at
once and sent like the merchant's) or reported forfeited.

The same pass gives the notices before a charge (domain/notices): a mandate whose notice may be
near is due before its charge; its account's settings are read (once per merchant and run). The
run's notices whose time has come go to the notification queue together (one batch call per ten), then
each is marked done on its mandate's version. A refused hand-over or a lost race leaves it due:
it is sent again, and the notifier records each e-mail once by its id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from pydantic import ValidationError

from ..domain import notices
from ..domain.account import Account, NotificationSettings
from ..domain.business_days import business_days_between
from ..domain.charge import Charge
from ..domain.engine import claim
from ..domain.errors import ConcurrentModification
from ..domain.events import EventType
from ..domain.items import Item
from ..domain.model import Mandate
from ..domain.refunds import Refund
from ..domain.wind_up import ITEMS_PER_PASS, wind_up
from ..observability import logger
from .concurrency import build_deferred_models, retry_on_conflict
from .event_recorder import EventRecorder
from .messages import AttemptMessage, NotificationMessage, RefundMessage
from .ports import (
    Changes,
    DueRef,
    GatewayQueue,
    IdGenerator,
    NotificationQueue,
    PageRequest,
    Repository,
)

NoticeSettings = Callable[[str], NotificationSettings]
SellerVatId = Callable[[str], str | None]


@dataclass
class DispatchReport:
    found: int = 0  # due index entries read
    dispatched: int = 0  # attempts sent to the gateway queue
    new_charges: int = 0
    resent: int = 0  # attempts sent again after their lease ran out
    resumed: int = 0
    conflicts: int = 0  # lost a race (another run or an API write); looked at again next run
    errors: int = 0  # failed to claim (e.g. throttled); still due, so the next run tries again
    not_sent: int = 0  # refused by the queue; sent again when the lease ends
    refunds: int = 0  # refunds sent to the engine (first time or again after their lease)
    notices: int = 0  # notices before a charge handed to the notifier
    wound_up: int = 0  # passes over ended mandates: unbilled items voided, credit given back
    forfeited: int = 0  # ended mandates with credit no charge could take back (reported by an event)
    max_lag_seconds: float = 0.0  # how long the oldest dispatched item had been due
    oldest_unsettled_seconds: float = 0.0  # age of the oldest attempt sent again (still without an outcome)
    settlement_lookups: int = 0  # processing bank debits sent to be looked up at the gateway
    oldest_processing_business_days: int = 0  # TARGET business days the oldest of them has been processing


@dataclass
class _Run:
    """What one run read (once, in batches) and shares among its claims."""

    now: datetime
    mandates: dict[str, Mandate]
    charges: dict[str, Charge]  # the mandates' open charges
    items: dict[str, Item]  # the pending items of mandates whose next charge may be created
    settings: NoticeSettings  # each merchant's notification settings, read when first needed
    seller_vat_id: SellerVatId  # each merchant's VAT id now (the seller's, which decides the tax)


@dataclass
class _DispatchOutcome:
    message: AttemptMessage | RefundMessage | None = None
    new_charge: bool = False
    resent: bool = False
    resumed: bool = False
    wound_up: bool = False
    forfeited: bool = False
    notices: list[NotificationMessage] = field(default_factory=list)  # to hand over, then save `noticed`
    noticed: Mandate | None = None
    conflict: bool = False
    error: bool = False
    lag: float = 0.0
    unsettled_age: float = 0.0
    settlement_lookup: bool = False
    processing_days: int = 0


class Dispatcher:
    def __init__(
        self,
        repo: Repository,
        queue: GatewayQueue,
        ids: IdGenerator,
        notification_queue: NotificationQueue,
        lease: timedelta = timedelta(minutes=15),
        max_per_run: int = 5000,
        shards: int = 64,
        workers: int = 16,
    ) -> None:
        self.repo, self.queue, self.notification_queue, self.lease, self.ids = repo, queue, notification_queue, lease, ids
        self.recorder = EventRecorder(ids)
        self.max_per_run, self.shards, self.workers = max_per_run, shards, workers

    def run(self, now: datetime) -> DispatchReport:
        per_shard = max(1, -(-self.max_per_run // self.shards))  # ceil: fair share of every shard
        found = self.repo.due(now, per_shard)
        report = DispatchReport(found=len(found))
        if not found:
            return report
        due = [ref for ref in found if ref.object_id.startswith("mdt_")]
        refunds = [ref for ref in found if ref.object_id.startswith("rfd_")]
        account = self._accounts()
        run = _Run(now, *self._load(due), settings=self._notice_settings(account), seller_vat_id=self._seller_vat_id(account))
        build_deferred_models()  # before the threads: each model built once, here
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(lambda ref: self._claim_safely(ref, run), due))
            if refunds:  # one BatchGetItem for all of them, as for mandates
                loaded = self.repo.load_many({Refund: [(r.merchant_id, r.object_id) for r in refunds]}).of(Refund)
                results += list(pool.map(lambda ref: self._claim_refund(ref, loaded.get(ref.object_id), now), refunds))
            noticed = [r for r in results if r.noticed is not None]
            if noticed:
                report.notices, failed = self._hand_over_notices(noticed, pool)
                for outcome, outcome_failed in zip(noticed, failed, strict=True):
                    outcome.error = outcome.error or outcome_failed == "error"
                    outcome.conflict = outcome.conflict or outcome_failed == "conflict"
        messages = [r.message for r in results if r.message is not None]
        accepted = self.queue.send(messages) if messages else 0
        report.dispatched = accepted
        report.not_sent = len(messages) - accepted
        report.new_charges = sum(r.new_charge for r in results)
        report.resent = sum(r.resent for r in results)
        report.resumed = sum(r.resumed for r in results)
        report.wound_up = sum(r.wound_up for r in results)
        report.forfeited = sum(r.forfeited for r in results)
        report.refunds = sum(isinstance(r.message, RefundMessage) for r in results)
        report.conflicts = sum(r.conflict for r in results)
        report.errors = sum(r.error for r in results)
        report.max_lag_seconds = max((r.lag for r in results if r.message is not None), default=0.0)
        report.oldest_unsettled_seconds = max((r.unsettled_age for r in results), default=0.0)
        report.settlement_lookups = sum(r.settlement_lookup for r in results)
        report.oldest_processing_business_days = max((r.processing_days for r in results), default=0)
        return report

    def _load(self, due: list[DueRef]) -> tuple[dict[str, Mandate], dict[str, Charge], dict[str, Item]]:
        mandates = self.repo.load_many({Mandate: [(d.merchant_id, d.object_id) for d in due]}).of(Mandate) if due else {}
        open_charges = [(m.merchant_id, m.open_charge_id) for m in mandates.values() if m.open_charge_id]
        charges = self.repo.load_many({Charge: open_charges}).of(Charge) if open_charges else {}
        return mandates, charges, self._items(mandates.values())

    def _accounts(self) -> Callable[[str], Account | None]:
        """The merchants' accounts, each read at most once per run (when first needed)."""
        return cache(lambda merchant_id: self.repo.get(Account, merchant_id, merchant_id))

    @staticmethod
    def _notice_settings(accounts: Callable[[str], Account | None]) -> NoticeSettings:
        """The merchants' notification settings (read when a notice is near)."""

        def settings(merchant_id: str) -> NotificationSettings:
            account = accounts(merchant_id)
            if account is None:  # no such merchant: nothing to tell anyone
                return NotificationSettings(upcoming_charge_days=0, trial_ending_days=0)
            return account.notifications

        return settings

    @staticmethod
    def _seller_vat_id(accounts: Callable[[str], Account | None]) -> SellerVatId:
        def vat_id(merchant_id: str) -> str | None:
            account = accounts(merchant_id)
            return account.vat_id if account is not None else None

        return vat_id

    def _items(self, mandates: Iterable[Mandate]) -> dict[str, Item]:
        """The pending items of mandates whose next cycle charge may be created now."""
        refs = [(m.merchant_id, i) for m in mandates if not m.open_charge_id for i in m.pending_items]
        return self.repo.load_many({Item: refs}).of(Item) if refs else {}

    def _claim_safely(self, ref: DueRef, run: _Run) -> _DispatchOutcome:
        """One mandate's failure (throttling, a bug) must not hold back the others' messages."""
        try:
            return self._claim(ref, run)
        except Exception:
            logger.exception("could not claim mandate %s; it stays due", ref.object_id)
            return _DispatchOutcome(error=True)

    def _claim_refund(self, ref: DueRef, refund: Refund | None, now: datetime) -> _DispatchOutcome:
        """A pending refund (as read with the others): take its lease (on its version) and send it
        to the engine. Lost races and errors leave it due for the next run."""
        try:
            resent = refund is not None and refund.claimed_until is not None
            if refund is None or not refund.claim(now, now + self.lease):
                return _DispatchOutcome()
            message = RefundMessage(merchant_id=refund.merchant_id, refund_id=refund.id, dispatched_at=now)
            self.repo.commit(Changes(put=[refund]))
        except ConcurrentModification:
            return _DispatchOutcome(conflict=True)
        except Exception:
            logger.exception("could not claim refund %s; it stays due", ref.object_id)
            return _DispatchOutcome(error=True)
        # A refund sent again is still without an outcome: its age feeds the same alarm as charges'.
        age = (now - refund.created_at).total_seconds() if resent else 0.0
        return _DispatchOutcome(
            message=message, resent=resent, lag=max(0.0, (now - ref.due_at).total_seconds()), unsettled_age=age
        )

    def _claim(self, ref: DueRef, run: _Run) -> _DispatchOutcome:
        def once(number: int) -> _DispatchOutcome:
            if number:  # another run or an API write got there first: decide again on fresh state
                fresh_mandates = self.repo.load_many({Mandate: [(ref.merchant_id, ref.object_id)]}).of(Mandate)
                run.mandates.update(fresh_mandates)
                fresh = fresh_mandates.get(ref.object_id)
                if fresh is None:
                    run.mandates.pop(ref.object_id, None)
                elif fresh.open_charge_id:
                    run.charges.update(self.repo.load_many({Charge: [(fresh.merchant_id, fresh.open_charge_id)]}).of(Charge))
                else:
                    run.items.update(self._items([fresh]))
            return self._claim_once(ref, run)

        try:
            return retry_on_conflict(once)
        except ConcurrentModification:
            return _DispatchOutcome(conflict=True)  # still due: looked at again next run

    # Pages of an ended mandate's succeeded charges read, at most, to give its credit back.
    CREDIT_PAGES = 50

    def _money_charges(self, mandate: Mandate) -> list[Charge]:
        """The mandate's succeeded charges with money left, newest first, read until they cover
        its credit (a page of 100 at a time; charges settled by credit alone take no room)."""
        found: list[Charge] = []
        cursor: str | None = None
        for _ in range(self.CREDIT_PAGES):
            page = self.repo.page(
                Charge, mandate.merchant_id, PageRequest(limit=100, cursor=cursor), mandate_id=mandate.id, status="succeeded"
            )
            found += [c for c in page.data if c.money_left > 0]
            if sum(c.money_left for c in found) >= mandate.credit or not page.has_more:
                break
            cursor = page.next_cursor
        return sorted(found, key=lambda c: c.cycle, reverse=True)

    def _wind_up(self, mandate: Mandate, run: _Run) -> _DispatchOutcome:
        """An ended mandate's leftovers, in one transaction on its version (a lost race is decided
        again on fresh state, like a claim)."""
        charges = self._money_charges(mandate) if mandate.credit > 0 and len(mandate.pending_items) <= ITEMS_PER_PASS else []
        result = wind_up(mandate, run.items, charges, lambda: self.ids.new("rfd"), run.now)
        objects: list[tuple[Mandate | Item | Refund, list[EventType]]] = [(mandate, result.mandate_events)]
        objects += [(item, [EventType.ITEM_VOIDED]) for item in result.items]
        objects += [(refund, [EventType.REFUND_CREATED]) for refund in result.refunds]
        lost = result.forfeited
        forfeited = {"amount": lost.amount, "currency": lost.currency} if lost else {}
        events = self.recorder.events(objects, run.now, {EventType.MANDATE_CREDIT_FORFEITED: forfeited})
        self.repo.commit(Changes(put=[mandate, *result.items, *result.charges, *result.refunds], events=events))
        if lost:
            logger.warning("mandate %s ended with credit no charge could take back: %s reported forfeited", mandate.id, lost)
        return _DispatchOutcome(wound_up=True, forfeited=lost is not None)

    def _notices(self, mandate: Mandate, now: datetime, settings: NoticeSettings) -> _DispatchOutcome:
        """A mandate with nothing to charge now: its notices before the next charge, if near. Those
        to send come back with the mandate, saved once the run has handed them all over."""
        wake = notices.wake(mandate)
        if wake is None or wake > now:
            return _DispatchOutcome()
        taken = notices.take(mandate, settings(mandate.merchant_id), now)
        if not taken.changed:
            return _DispatchOutcome()
        if not taken.send:  # only marked done or looked at later: saved now
            self.repo.commit(Changes(put=[mandate]))
            return _DispatchOutcome()
        messages = [
            NotificationMessage(
                merchant_id=mandate.merchant_id,
                kind=notice.kind,
                mandate_id=mandate.id,
                occasion=notice.occasion,
                due_at=notice.due_at,
                amount=notice.announcement.amount if notice.announcement is not None else None,
            )
            for notice in taken.send
        ]
        return _DispatchOutcome(notices=messages, noticed=mandate)

    def _hand_over_notices(self, noticed: list[_DispatchOutcome], pool: ThreadPoolExecutor) -> tuple[int, list[str]]:
        """Hand the run's notices to the notification queue in one batch, then mark each mandate's done
        (on its version). Returns how many were handed over, and per mandate "", "conflict" or
        "error"; a mandate not marked stays due and its notice is handed over again next run."""
        try:
            self.notification_queue.send([message for outcome in noticed for message in outcome.notices])
        except Exception:
            logger.exception("notices not handed over; they stay due")
            return 0, ["error"] * len(noticed)

        def save(outcome: _DispatchOutcome) -> str:
            assert outcome.noticed is not None
            try:
                self.repo.commit(Changes(put=[outcome.noticed]))
            except ConcurrentModification:
                return "conflict"  # changed meanwhile: decided again next run (the e-mail is recorded once)
            except Exception:
                logger.exception("notices of mandate %s handed over but not marked; looked at again", outcome.noticed.id)
                return "error"
            return ""

        return sum(len(outcome.notices) for outcome in noticed), list(pool.map(save, noticed))

    def _claim_once(self, ref: DueRef, run: _Run) -> _DispatchOutcome:
        now = run.now
        mandate = run.mandates.get(ref.object_id)
        if mandate is None or mandate.merchant_id != ref.merchant_id:
            return _DispatchOutcome()  # gone from under the index entry
        if mandate.winding_up:
            return self._wind_up(mandate, run)
        # The seller's VAT id as it is now decides the tax of what is charged or announced (a
        # merchant registers for VAT, or deregisters, after its mandates were made): saved with them.
        mandate.as_sold_by(run.seller_vat_id(mandate.merchant_id))
        charge = run.charges.get(mandate.open_charge_id) if mandate.open_charge_id else None
        was_paused = mandate.status == "paused"
        try:
            result = claim(mandate, charge, now, now + self.lease, run.items)
        except LookupError:
            logger.error("mandate %s points to a missing charge; skipped", mandate.id)
            return _DispatchOutcome(error=True)
        if not result.changed:
            return self._notices(mandate, now, run.settings)
        message = None
        # Due since: a new charge's own due time (its index entry may have been an earlier look
        # for a notice), else the entry's (a retry's time, a lease's end).
        since = max(ref.due_at, result.charge.due_at) if charge is None and result.charge is not None else ref.due_at
        if result.charge is not None and result.attempt is not None:
            # Built, and so validated, before the claim is saved: a claim that cannot be sent is never written.
            try:
                message = AttemptMessage(
                    merchant_id=mandate.merchant_id,
                    mandate_id=mandate.id,
                    charge_id=result.charge.id,
                    attempt=result.attempt,
                    due_at=since,
                    dispatched_at=now,
                    mandate=mandate.model_copy(update={"version": mandate.version + 1}),
                    charge=result.charge.model_copy(update={"version": result.charge.version + 1}),
                )
            except ValidationError as error:
                logger.error("claim of mandate %s not saved: its message is invalid (%s)", mandate.id, error.errors()[0]["msg"])
                return _DispatchOutcome(error=True)
        objects: list[tuple[Mandate | Charge, list[EventType]]] = [(mandate, result.mandate_events)]
        if result.charge is not None:
            objects.append((result.charge, result.charge_events))
        changes = Changes(
            put=[mandate, *([result.charge] if result.charge is not None else []), *result.items],
            events=self.recorder.events(objects, now),
        )
        self.repo.commit(changes)
        out = _DispatchOutcome(resumed=was_paused and EventType.MANDATE_RESUMED in result.mandate_events)
        if message is not None:
            assert result.charge is not None
            out.message = message
            out.new_charge = charge is None
            out.resent = result.resent
            out.lag = max(0.0, (now - since).total_seconds())
            processing_since = result.charge.processing_since if result.charge.processing_attempt else None
            if processing_since is not None:
                # A bank debit the gateway accepted: looked up (an hour after, then daily); its age
                # is counted in TARGET business days (alarmed at SETTLEMENT_ALARM_BUSINESS_DAYS).
                out.settlement_lookup = True
                out.processing_days = business_days_between(processing_since, now)
            elif result.resent and result.charge.in_flight_since is not None:
                out.unsettled_age = max(0.0, (now - result.charge.in_flight_since).total_seconds())
        return out
