"""The figures' store in memory: the FigureStore port as a dict, with the same conditional keep."""

from __future__ import annotations

from collections.abc import Sequence

from billing.domain.figures import TOTALS, Counters
from billing.service.figures import Keep


class InMemoryFigureStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[int, Counters, int]] = {}
        self.counters: dict[tuple[str, str, str], dict[str, int]] = {}  # (merchant, currency, bucket) -> counters
        self.reads: list[int] = []  # items each `buckets` call read
        self.writes: list[int] = []  # items each `keep` wrote
        self.before_keep: object = None  # a hook: another writer keeping first (a conflict)

    def kept(self, merchant_id: str, object_ids: Sequence[str]) -> dict[str, tuple[int, Counters, int]]:
        return {i: self.objects[(merchant_id, i)] for i in object_ids if (merchant_id, i) in self.objects}

    def keep(self, merchant_id: str, keeps: Sequence[Keep], change: Counters) -> bool:
        if callable(self.before_keep):
            hook, self.before_keep = self.before_keep, None
            hook()
        for keep in keeps:
            current = self.objects.get((merchant_id, keep.object_id))
            if (current[0] if current else None) != keep.previous:
                return False
        for keep in keeps:
            self.objects[(merchant_id, keep.object_id)] = (keep.version, dict(keep.contribution), keep.definition)
        for (currency, bucket, counter), value in change.items():
            found = self.counters.setdefault((merchant_id, currency, bucket), {})
            found[counter] = found.get(counter, 0) + value
        self.writes.append(len(keeps) + len({(c, b) for c, b, _ in change}))
        return True

    def buckets(self, merchant_id: str, ranges: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, int]]:
        out = {
            (currency, bucket): dict(counters)
            for (m, currency, bucket), counters in self.counters.items()
            if m == merchant_id and (bucket == TOTALS or any(first <= bucket <= last for first, last in ranges))
        }
        self.reads.append(len(out))
        return out
