"""The dashboard's figures kept up to date from the event stream (docs/metrics.md).

Each published event names the objects it changed (a mandate, a charge and its mandate, a refund,
a dispute). The keeper reads their current versions (one batch read) and, per object, replaces
its old contribution to the merchant's aggregate by its new one (`domain/figures`), in one write
conditional on the version it last kept: a copy, a late or an out-of-order event finds the object
at a version already kept and changes nothing. The figures are therefore those of the latest
versions, whatever the order and number of the deliveries; a backfill feeds every object of a
merchant through the same path.

`overview` reads the merchant's totals and day buckets in a bounded range: never its objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..domain import figures
from ..domain.charge import Charge
from ..domain.disputes import Dispute
from ..domain.model import Entity, Event, Mandate
from ..domain.refunds import Refund
from ..observability import logger
from .messages import PublishedEvent
from .ports import PageRequest, Repository

MAX_CONFLICT_RETRIES = 3
MAX_ITEMS_PER_KEEP = 100  # one TransactWriteItems
Kept = tuple[int, figures.Counters, int]  # the version kept, its contribution, under which DEFINITION


@dataclass(frozen=True)
class Keep:
    """One object's new contribution, at its version, replacing what was kept at `previous`
    (None: nothing was)."""

    object_id: str
    version: int
    previous: int | None
    contribution: figures.Counters
    definition: int = figures.DEFINITION


class FigureStore(Protocol):
    def kept(self, merchant_id: str, object_ids: Sequence[str]) -> dict[str, Kept]:
        """What was kept for each of these objects (absent: never)."""

    def keep(self, merchant_id: str, keeps: Sequence[Keep], change: figures.Counters) -> bool:
        """Keep every contribution and add `change` to the buckets, all at once (at most
        MAX_ITEMS_PER_KEEP items: the keeps and the buckets `change` names), only if every object
        is still kept at its `previous`. False: one was not (kept meanwhile); nothing was written."""

    def buckets(self, merchant_id: str, ranges: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
        """Every currency's totals bucket, and its buckets in each [first, last] range."""


class ConcurrentKeep(Exception):
    """An object's contribution kept by another writer again and again."""


@dataclass
class KeptBatch:
    changed: int = 0  # objects whose contribution moved
    unchanged: int = 0  # objects already kept at their version (a copy, a late event)
    failed: list[int] = field(default_factory=list)  # positions of the events to deliver again


Ref = tuple[type[Entity], str]


def refs_of(event: PublishedEvent | Event) -> list[Ref]:
    """The objects an event changed whose figures may move."""
    kind = (event.event_type if isinstance(event, PublishedEvent) else event.type).partition(".")[0]
    obj = event.data.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return []
    object_id: str = obj["id"]
    mandate_id = obj.get("mandate_id")
    mandate: list[Ref] = [(Mandate, mandate_id)] if isinstance(mandate_id, str) and mandate_id.startswith("mdt_") else []
    if kind == "mandate":
        return [(Mandate, object_id)]
    if kind == "charge":
        return [(Charge, object_id), *mandate]  # the mandate's next charge, or what it failed to collect
    if kind == "refund":
        return [(Refund, object_id)]
    if kind == "dispute":
        return [(Dispute, object_id)]
    if kind == "item":
        return mandate
    return []  # plans: their terms never change (a mandate's plan change is a mandate event)


class FigureKeeper:
    def __init__(self, repo: Repository, store: FigureStore) -> None:
        self.repo, self.store = repo, store

    # ------------------------------------------------------------------ keeping
    def keep_events(self, events: Sequence[PublishedEvent | Event]) -> KeptBatch:
        """The objects of a batch of events, per merchant; a merchant's failure sends its events back."""
        out = KeptBatch()
        by_merchant: dict[str, list[int]] = {}
        refs: dict[str, dict[Ref, None]] = {}
        for position, event in enumerate(events):
            if event.merchant_id is None:
                out.failed.append(position)
                continue
            by_merchant.setdefault(event.merchant_id, []).append(position)
            refs.setdefault(event.merchant_id, {}).update(dict.fromkeys(refs_of(event)))
        for merchant_id, positions in by_merchant.items():
            try:
                changed, unchanged = self.keep_objects(merchant_id, self._load(merchant_id, list(refs[merchant_id])))
            except Exception:  # noqa: BLE001 (its events come back; keeping is idempotent)
                logger.exception("figures not kept; the events come back", extra={"merchant_id": merchant_id})
                out.failed += positions
                continue
            out.changed += changed
            out.unchanged += unchanged
        out.failed.sort()
        return out

    def _load(self, merchant_id: str, refs: list[Ref]) -> list[Entity]:
        wanted: dict[type, list[tuple[str, str]]] = {}
        for model, object_id in refs:
            wanted.setdefault(model, []).append((merchant_id, object_id))
        if not wanted:
            return []
        loaded = self.repo.load_many(wanted)
        return [obj for model, object_id in refs if (obj := loaded.of(model).get(object_id)) is not None]

    def keep_objects(self, merchant_id: str, objects: Iterable[Entity]) -> tuple[int, int]:
        """Each object's contribution at its version; (changed, unchanged). The objects' changes
        are summed and written together (one write per MAX_ITEMS_PER_KEEP items): a batch of
        charges of one day moves that day's bucket and the totals once."""
        objects = [o for o in objects if o.merchant_id == merchant_id]
        open_charges = self._open_charge_amounts(merchant_id, [o for o in objects if isinstance(o, Mandate)])
        pending = {o.id: (o.version, contribution(o, open_charges)) for o in objects}
        changed = unchanged = 0
        for _ in range(MAX_CONFLICT_RETRIES):
            kept = self.store.kept(merchant_id, sorted(pending))
            keeps: list[tuple[Keep, figures.Counters]] = []
            for object_id, (version, new) in pending.items():
                before = kept.get(object_id)
                if before is not None and before[0] >= version and before[2] == figures.DEFINITION:
                    unchanged += 1
                    continue
                old = before[1] if before is not None else {}
                keep = Keep(object_id, version, before[0] if before is not None else None, new)
                keeps.append((keep, figures.difference(old, new)))
            conflicted: dict[str, tuple[int, figures.Counters]] = {}
            for group in _groups(keeps):
                change: figures.Counters = {}
                for _, difference in group:
                    for key, value in difference.items():
                        change[key] = change.get(key, 0) + value
                if self.store.keep(merchant_id, [k for k, _ in group], {k: v for k, v in change.items() if v}):
                    changed += len(group)
                else:
                    conflicted |= {k.object_id: pending[k.object_id] for k, _ in group}
            if not conflicted:
                return changed, unchanged
            pending = conflicted
        raise ConcurrentKeep(f"figures of {sorted(pending)} kept concurrently {MAX_CONFLICT_RETRIES} times")

    def _open_charge_amounts(self, merchant_id: str, mandates: list[Mandate]) -> dict[str, int]:
        wanted = [(merchant_id, m.open_charge_id) for m in mandates if m.status == "past_due" and m.open_charge_id]
        if not wanted:
            return {}
        return {charge_id: c.amount for charge_id, c in self.repo.load_many({Charge: wanted}).of(Charge).items()}

    # ------------------------------------------------------------------ backfill
    def backfill(self, merchant_id: str, page_size: int = 100) -> tuple[int, int]:
        """Every mandate, charge, refund and dispute of the merchant through the same path as the
        events (idempotent: what is kept at its version is left); (changed, unchanged)."""
        changed = unchanged = 0
        for model in (Mandate, Charge, Refund, Dispute):
            cursor: str | None = None
            while True:
                page = self.repo.page(model, merchant_id, PageRequest(limit=page_size, cursor=cursor))
                moved, same = self.keep_objects(merchant_id, page.data)
                changed, unchanged = changed + moved, unchanged + same
                if not page.has_more or page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return changed, unchanged

    # ------------------------------------------------------------------ reading
    def overview(self, merchant_id: str, now: datetime) -> list[figures.CurrencyOverview]:
        return figures.overview(self.store.buckets(merchant_id, figures.bucket_ranges(now.date())), now)


def _groups(keeps: list[tuple[Keep, figures.Counters]]) -> list[list[tuple[Keep, figures.Counters]]]:
    """The keeps in groups of at most MAX_ITEMS_PER_KEEP items (their own and the buckets they move)."""
    groups: list[list[tuple[Keep, figures.Counters]]] = []
    group: list[tuple[Keep, figures.Counters]] = []
    buckets: set[tuple[str, str]] = set()
    for keep, difference in keeps:
        mine = {(c, b) for c, b, _ in difference} | {(c, figures.TOTALS) for c, _, _ in difference}
        if group and len(group) + 1 + len(buckets | mine) > MAX_ITEMS_PER_KEEP:
            groups.append(group)
            group, buckets = [], set()
        group.append((keep, difference))
        buckets |= mine
    return [*groups, group] if group else groups


def contribution(obj: Entity, open_charges: Mapping[str, int]) -> figures.Counters:
    if isinstance(obj, Mandate):
        return figures.of_mandate(obj, open_charges.get(obj.open_charge_id or ""))
    if isinstance(obj, Charge):
        return figures.of_charge(obj)
    if isinstance(obj, Refund):
        return figures.of_refund(obj)
    if isinstance(obj, Dispute):
        return figures.of_dispute(obj)
    return {}
