"""The daily reconciliation: for one merchant and one UTC day, what the books recorded as money
moved against what each gateway reports, stored as one report per (merchant, day) with
`reconciliation.completed`; and the day's run over every merchant (a fan-out, one message each).

The books' side is read from the day's events that move money (`charge.succeeded`,
`charge.reversed`, `refund.succeeded`, `refund.failed`, `dispute.closed`), one key range of the
events' list for all those types (16 Queries, one per shard, whatever the day's size), then their
objects in one batch read: the objects say when the money moved
(`domain/reconciliation.movements_of_*`). A movement a gateway reports in the day that the day's
events do not name is looked up by the object the gateway names (its charge, refund or dispute):
moved on another day (that day's report), known and not moved (`status_differs`), or unknown
(`missing_here`).

The report's lifecycle (one per merchant and day, id derived from both; every run of the day
compares its result with the stored one):
| stored before            | this run's result                   | written           | event |
|--------------------------|-------------------------------------|-------------------|-------|
| none                     | nothing moved, nothing differs      | empty `matched`   | no    |
| none                     | movements and/or differences        | the report        | yes   |
| any                      | the same (redelivery, a manual rerun) | nothing         | no    |
| empty                    | movements/differences (late report) | replaced          | yes   |
| `mismatched`             | `matched` (a late settlement, a fix) | replaced         | yes   |
| `matched` / `mismatched` | another result with movements       | replaced          | yes   |
| with movements           | empty (what moved is gone)          | replaced          | yes   |
`created_at` stays the first run's, `updated_at` the last change's; a report is never deleted.
Concurrent runs: the version check lets one write, the other reads again and finds the same result.
Missed days (`run_days`, at most 31): the books and the gateways read once for all of them, each
day's report decided as above, the changes written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from ..domain.charge import Charge
from ..domain.disputes import Dispute, dispute_id
from ..domain.errors import NotFound
from ..domain.events import EventType
from ..domain.model import Event
from ..domain.reconciliation import (
    DISPUTES_LOOKBACK,
    MAX_DAYS_PER_RUN,
    MAX_LISTED_DIFFERENCES,
    MOVEMENT_EVENTS,
    PAYMENTS_LOOKBACK,
    READ_MARGIN,
    GatewayEntry,
    Key,
    Movement,
    Reconciliation,
    Unmoved,
    day_bounds,
    movements_of_charge,
    movements_of_dispute,
    movements_of_refund,
    reconcile,
    reconciliation_id,
)
from ..domain.refunds import Refund
from ..shapes import render_reconciliation
from .concurrency import retry_on_conflict
from .messages import ReconcileRequest
from .ports import Changes, Clock, IdGenerator, Loaded, Page, PageRequest, Repository

EVENTS_PAGE = 100
# The object each money-moving event names (what the books read for the day).
MODEL_OF: dict[str, type] = {
    EventType.CHARGE_SUCCEEDED: Charge,
    EventType.CHARGE_REVERSED: Charge,
    EventType.REFUND_SUCCEEDED: Refund,
    EventType.REFUND_FAILED: Refund,
    EventType.DISPUTE_CLOSED: Dispute,
}


class GatewayLedger(Protocol):
    """What one gateway reports as money moved for one merchant (adapters: simulated, Stripe)."""

    def entries(
        self, merchant_id: str, payments_since: datetime, disputes_since: datetime, until: datetime
    ) -> list[GatewayEntry]:
        """Charges, refunds and reversals the gateway dates in [payments_since, until), disputes in
        [disputes_since, until), each with its status at the gateway's now."""


class MerchantDirectory(Protocol):
    def merchant_ids(self) -> Iterator[str]:
        """Every merchant's id, page by page (never all at once)."""


class ReconcileQueue(Protocol):
    def send(self, requests: Sequence[ReconcileRequest]) -> int:
        """Queue these (batched); returns how many were accepted."""


@dataclass(frozen=True)
class Run:
    reconciliation: Reconciliation
    written: bool  # False: the stored report already said the same (nothing written, no event)
    announced: bool = False  # `reconciliation.completed` recorded (never for a day with nothing at all)


class ReconciliationLog:
    """The stored reports as the API reads them."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository

    def get(self, merchant_id: str, day: date) -> Reconciliation:
        """The report of a day (404 before the day was reconciled)."""
        report = self.repository.get(Reconciliation, merchant_id, reconciliation_id(merchant_id, day))
        if report is None:
            raise NotFound(
                f"No reconciliation for {day.isoformat()}: each UTC day is reconciled after 01:00 UTC the next day.", "date"
            )
        return report

    def page(self, merchant_id: str, page: PageRequest, status: str | None = None) -> Page[Reconciliation]:
        return self.repository.page(Reconciliation, merchant_id, page, status=status)


class Reconciliations:
    """One merchant's day: reconciled, stored, announced."""

    def __init__(self, repository: Repository, ledgers: Sequence[GatewayLedger], clock: Clock, ids: IdGenerator) -> None:
        self.repository, self.ledgers, self.clock, self.ids = repository, ledgers, clock, ids

    def run(self, merchant_id: str, day: date) -> Run:
        return self.run_days(merchant_id, day, day)[0]

    def run_days(self, merchant_id: str, first: date, last: date) -> list[Run]:
        """Days `first` to `last` (at most `MAX_DAYS_PER_RUN`), in order: the books and each
        gateway read once over all of them, each day's report compared with the stored one, the
        new results written together."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if not 0 < len(days) <= MAX_DAYS_PER_RUN:
            raise ValueError(f"reconcile 1 to {MAX_DAYS_PER_RUN} days at a time, not {first}..{last}")
        start, end = day_bounds(first)[0], day_bounds(last)[1]
        recorded = self._books(merchant_id, start, end)
        reported = [
            entry
            for ledger in self.ledgers
            for entry in ledger.entries(merchant_id, start - PAYMENTS_LOOKBACK, start - DISPUTES_LOOKBACK, end + READ_MARGIN)
        ]
        known = {m.key for m in recorded}
        orphans = [e for e in reported if e.moved and e.key not in known and start <= e.at < end]
        elsewhere, unmoved = self._resolve(merchant_id, orphans)
        results = [(day, reconcile(day, recorded + elsewhere, reported, unmoved)) for day in days]

        def write(_: int) -> list[Run]:
            now = self.clock.now()
            ids = [reconciliation_id(merchant_id, day) for day in days]
            stored = self.repository.load_many({Reconciliation: [(merchant_id, i) for i in ids]}).of(Reconciliation)
            runs: list[Run] = []
            changes = Changes()
            for report_id, (day, result) in zip(ids, results, strict=True):
                before = stored.get(report_id)
                fresh = Reconciliation(
                    id=report_id,
                    merchant_id=merchant_id,
                    created_at=before.created_at if before is not None else now,
                    updated_at=now,
                    version=before.version if before is not None else 0,
                    date=day,
                    status=result.status,
                    totals=result.totals,
                    differences=result.differences[:MAX_LISTED_DIFFERENCES],
                    difference_count=len(result.differences),
                )
                if before is not None and before.same_result(fresh):
                    runs.append(Run(before, False))
                    continue
                changes.put.append(fresh)
                # A day with nothing at all is stored (the API answers it) but not announced,
                # unless it replaces a report that had something.
                if fresh.eventful or (before is not None and before.eventful):
                    changes.events.append(
                        Event(
                            id=self.ids.new("evt"),
                            merchant_id=merchant_id,
                            type=EventType.RECONCILIATION_COMPLETED,
                            created_at=now,
                            data={"object": render_reconciliation(fresh)},
                        )
                    )
                    runs.append(Run(fresh, True, True))
                else:
                    runs.append(Run(fresh, True, False))
            if changes.put:
                self.repository.commit(changes)
            return runs

        return retry_on_conflict(write)

    def _books(self, merchant_id: str, start: datetime, end: datetime) -> list[Movement]:
        """The movements of the objects whose money-moving events fall in [start, end): the day's
        events read once, every money-moving type at once (`Repository.events_between`: one key
        range per shard), then their objects in one batch read."""
        wanted: dict[type, list[tuple[str, str]]] = {Charge: [], Refund: [], Dispute: []}
        for page in self.repository.events_between(merchant_id, start, end, [str(t) for t in MOVEMENT_EVENTS], EVENTS_PAGE):
            for event in page:
                obj = event.data.get("object") or {}
                model = MODEL_OF.get(event.type)
                if model is not None and isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    wanted[model].append((merchant_id, obj["id"]))
        return _movements(self.repository.load_many(wanted))

    def _resolve(self, merchant_id: str, orphans: list[GatewayEntry]) -> tuple[list[Movement], dict[Key, Unmoved]]:
        """The books' side of movements a gateway reports that the day's events do not name: the
        objects the gateway names, each with its movements (of any day)."""
        wanted: dict[type, list[tuple[str, str]]] = {Charge: [], Refund: [], Dispute: []}
        for entry in orphans:
            if entry.kind in ("refund", "refund_failure") and entry.refund_id:
                wanted[Refund].append((merchant_id, entry.refund_id))
            elif entry.kind == "dispute":
                wanted[Dispute].append((merchant_id, dispute_id(merchant_id, entry.gateway, entry.gateway_reference)))
            elif entry.charge_id:
                wanted[Charge].append((merchant_id, entry.charge_id))
        loaded = self.repository.load_many(wanted)
        movements = _movements(loaded)
        keys = {m.key for m in movements}
        unmoved: dict[Key, Unmoved] = {}
        for entry in orphans:
            if entry.key in keys:
                continue
            if entry.kind in ("refund", "refund_failure"):
                refund = loaded.of(Refund).get(entry.refund_id or "")
                if refund is not None:
                    unmoved[entry.key] = Unmoved(refund.charge_id, refund.id)
            elif entry.kind == "dispute":
                dispute = loaded.of(Dispute).get(dispute_id(merchant_id, entry.gateway, entry.gateway_reference))
                if dispute is not None:
                    unmoved[entry.key] = Unmoved(dispute.charge_id)
            elif entry.charge_id in loaded.of(Charge):
                unmoved[entry.key] = Unmoved(entry.charge_id)
        return movements, unmoved


def _movements(loaded: Loaded) -> list[Movement]:
    out: list[Movement] = []
    for charge in loaded.of(Charge).values():
        out += movements_of_charge(charge)
    for refund in loaded.of(Refund).values():
        out += movements_of_refund(refund)
    for dispute in loaded.of(Dispute).values():
        out += movements_of_dispute(dispute)
    return out


@dataclass(frozen=True)
class FanOut:
    merchants: int
    queued: int


class ReconciliationPlanner:
    """The day's run: one message per merchant (a worker reconciles each, in parallel, retried
    from the queue); the merchants are read page by page, so the run never holds them all."""

    def __init__(self, merchants: MerchantDirectory, queue: ReconcileQueue, batch: int = 100) -> None:
        self.merchants, self.queue, self.batch = merchants, queue, batch

    def plan(self, day: date, through: date | None = None) -> FanOut:
        """Every merchant's `day` (or days `day` to `through`: a catch-up, one message each)."""
        merchants = queued = 0
        batch: list[ReconcileRequest] = []
        last = through if through is not None and through > day else None
        for merchant_id in self.merchants.merchant_ids():
            merchants += 1
            batch.append(ReconcileRequest(merchant_id=merchant_id, date=day, through=last))
            if len(batch) >= self.batch:
                queued += self.queue.send(batch)
                batch = []
        if batch:
            queued += self.queue.send(batch)
        return FanOut(merchants, queued)
