"""The dashboard's figures: what each stored object contributes to its merchant's aggregate, and
the overview read back from a bounded set of aggregate buckets (docs/metrics.md).

The aggregate of a merchant is, per currency, a totals bucket ("T") and one bucket per UTC day
("D2026-12-06"), each a set of integer counters. It is always the sum, over the merchant's
mandates, charges, refunds and disputes, of `contribution(object)` of the latest version of
each object the keeper has seen: a new version replaces its object's old contribution by the
difference (`difference`), and an older or equal version changes nothing. So the aggregate does
not depend on the order events arrive in, nor on how often (it is a function of the latest
versions only), and a backfill that feeds every object converges on the same numbers.

Time-dependent figures ("in the last 30 days", "trialing now", "in the next 7 days", the charts)
are kept as day buckets of time-independent contributions, and `overview` sums the days its
figure spans: nothing here reads a clock, and the number of buckets read is bounded by the
calendar (`bucket_ranges`: DAYS_BACK days back, the days ahead on which some mandate's billing
starts, UPCOMING_DAYS days of charges due), not by the number of mandates or charges.

MRR is exact: a mandate's plan amount normalised to a month is `amount x k / (12 x n)` (k: 12
for a month, 1 for a year, 52 for a week, 365 for a day; n: the plan's interval count), kept as a
numerator in a counter named after its denominator (`mrr/<12n>`), so sums stay integers. It is
rounded once, half up, to the currency's minor unit when shown (`Overview.mrr`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .charge import Charge
from .disputes import Dispute
from .model import FINAL_STATUSES, Mandate, PlanTerms
from .refunds import Refund

# (currency, bucket, counter) -> value. Bucket: "T" (totals), "D<iso day>" (what happened that day;
# in the future only the days on which a mandate's billing starts) or "U<iso day>" (charges due).
Counters = dict[tuple[str, str, str], int]
TOTALS = "T"
MRR = "mrr/"  # "mrr/<denominator>": numerators of monthly amounts over that denominator
MONTH_FACTOR: dict[str, int] = {"month": 12, "year": 1, "week": 52, "day": 365}  # months = k / 12

# The definitions' number: raised when what an object contributes changes; a contribution kept
# under an older one is replaced even at the same version (so a backfill rolls a change out).
DEFINITION = 1
WINDOW_DAYS = 30  # new, ended, churn, collected, refunded, recovered
UPCOMING_DAYS = 7
CHART_DAYS = 90
CHART_MONTHS = 12
DAYS_BACK = 366  # the oldest day the overview reads: 12 month ends back (and the 90-day chart)


def day_bucket(day: date) -> str:
    return f"D{day.isoformat()}"


def upcoming_bucket(day: date) -> str:
    """Charges due that day (kept apart from the day's facts: only the next 7 days are read)."""
    return f"U{day.isoformat()}"


def day_of(bucket: str) -> date:
    return date.fromisoformat(bucket[1:])


def monthly(terms: PlanTerms) -> Fraction:
    """A plan's amount normalised to a month, exactly."""
    return Fraction(terms.amount * MONTH_FACTOR[terms.interval], 12 * terms.interval_count)


def _mrr_counter(terms: PlanTerms) -> tuple[str, int]:
    return f"{MRR}{12 * terms.interval_count}", terms.amount * MONTH_FACTOR[terms.interval]


def counted_interval(mandate: Mandate) -> tuple[date, date | None] | None:
    """The UTC days a mandate counts in MRR: from the day its billing starts (activated, its
    `start_at` reached and its trial over) until the day it ended or, while paused, was paused
    (exclusive); None if it never counts (never activated, or stopped before billing started)."""
    if mandate.activated_at is None:
        return None
    starts = [mandate.activated_at, mandate.start_at, mandate.trial_ends_at]
    start = max(moment for moment in starts if moment is not None).date()
    end: datetime | None = None
    if mandate.status in FINAL_STATUSES:
        end = mandate.ended_at or mandate.updated_at
    elif mandate.status == "paused":
        end = mandate.paused_at or mandate.updated_at
    if end is not None and end.date() <= start:
        return None
    return start, end.date() if end is not None else None


def _add(out: Counters, currency: str, bucket: str, counter: str, value: int) -> None:
    if value:
        key = (currency, bucket, counter)
        out[key] = out.get(key, 0) + value
        if out[key] == 0:
            del out[key]


def of_mandate(mandate: Mandate, open_charge_amount: int | None = None) -> Counters:
    """`open_charge_amount`: the amount of the charge a past_due mandate failed to collect."""
    out: Counters = {}
    cur = mandate.terms.currency
    if mandate.status == "active":
        _add(out, cur, TOTALS, "active", 1)
        if mandate.next_charge_at is not None:
            bucket = upcoming_bucket(mandate.next_charge_at.date())
            _add(out, cur, bucket, "upcoming_count", 1)
            _add(out, cur, bucket, "upcoming_amount", mandate.terms.amount)
    if mandate.status == "past_due":
        _add(out, cur, TOTALS, "past_due_count", 1)
        _add(out, cur, TOTALS, "past_due_amount", open_charge_amount or 0)
    if mandate.activated_at is not None:  # live: activated and not ended (churn's base)
        started = day_bucket(mandate.activated_at.date())
        _add(out, cur, started, "new", 1)
        _add(out, cur, started, "live", 1)
        _add(out, cur, TOTALS, "live", 1)
        if mandate.status in FINAL_STATUSES:
            ended = day_bucket((mandate.ended_at or mandate.updated_at).date())
            _add(out, cur, ended, "ended", 1)
            _add(out, cur, ended, "live", -1)
            _add(out, cur, TOTALS, "live", -1)
    counted = counted_interval(mandate)
    if counted is not None:  # MRR deltas by day; the totals bucket holds their sum
        counter, numerator = _mrr_counter(mandate.terms)
        start, end = counted
        _add(out, cur, day_bucket(start), counter, numerator)
        _add(out, cur, TOTALS, counter, numerator)
        if end is not None:
            _add(out, cur, day_bucket(end), counter, -numerator)
            _add(out, cur, TOTALS, counter, -numerator)
    return out


def paid_at(charge: Charge) -> datetime:
    """When a succeeded charge's money was taken: its succeeded attempt's settlement (a bank
    debit) or answer; its due time if it took no money at a gateway (credit covered it)."""
    for attempt in reversed(charge.attempts):
        if attempt.outcome == "succeeded":
            return attempt.settled_at or attempt.at
    return charge.due_at


def recovered(charge: Charge) -> bool:
    """Succeeded after at least one declined attempt: by a retry or a new payment method."""
    return charge.status == "succeeded" and any(a.outcome == "declined" for a in charge.attempts)


def of_charge(charge: Charge) -> Counters:
    out: Counters = {}
    if charge.status == "succeeded":
        bucket = day_bucket(paid_at(charge).date())
        _add(out, charge.currency, bucket, "collected", charge.amount)
        if recovered(charge):
            _add(out, charge.currency, bucket, "recovered", charge.amount)
    return out


def of_refund(refund: Refund) -> Counters:
    out: Counters = {}
    if refund.status == "succeeded":  # final: its last update is when it succeeded
        _add(out, refund.currency, day_bucket(refund.updated_at.date()), "refunded", refund.amount)
    return out


def of_dispute(dispute: Dispute) -> Counters:
    out: Counters = {}
    if dispute.is_open:
        _add(out, dispute.currency, TOTALS, "disputes_open", 1)
        _add(out, dispute.currency, TOTALS, "disputes_open_amount", dispute.amount)
    return out


def difference(old: Mapping[tuple[str, str, str], int], new: Mapping[tuple[str, str, str], int]) -> Counters:
    """What turns an object's old contribution into its new one."""
    out: Counters = {}
    for key in set(old) | set(new):
        change = new.get(key, 0) - old.get(key, 0)
        if change:
            out[key] = change
    return out


# ------------------------------------------------------------------------------------ reading
Buckets = Mapping[tuple[str, str], Mapping[str, int]]  # (currency, bucket) -> counters


@dataclass(frozen=True)
class CurrencyOverview:
    currency: str
    mrr_exact: Fraction  # minor units
    active: int
    new: int
    ended: int
    live_before: int  # live at the end of the day 30 days ago (churn's base, with `new`)
    churn_rate: Fraction | None  # None: nothing to churn
    collected: int
    refunded: int
    recovered: int
    past_due_count: int
    past_due_amount: int
    upcoming_count: int
    upcoming_amount: int
    disputes_open: int
    disputes_open_amount: int
    collected_by_day: tuple[tuple[date, int], ...]  # oldest first, CHART_DAYS of them, today last
    mrr_by_month: tuple[tuple[str, Fraction], ...]  # ("2026-01", MRR at that month's end; this month: today)

    @property
    def mrr(self) -> int:
        """MRR in minor units, rounded half up (the only rounding)."""
        return round_half_up(self.mrr_exact)

    def as_dict(self) -> dict[str, object]:
        """Plain values: money in minor units (MRR rounded half up, once), the churn rate as a
        decimal string of 4 places (None: no base), days and months as ISO strings."""
        return {
            "currency": self.currency,
            "mrr": self.mrr,
            "active": self.active,
            "new": self.new,
            "ended": self.ended,
            "churn_rate": None if self.churn_rate is None else str(_decimal(self.churn_rate, Decimal("0.0001"))),
            "collected": self.collected,
            "refunded": self.refunded,
            "recovered": self.recovered,
            "past_due": {"count": self.past_due_count, "amount": self.past_due_amount},
            "upcoming": {"count": self.upcoming_count, "amount": self.upcoming_amount},
            "disputes_open": {"count": self.disputes_open, "amount": self.disputes_open_amount},
            "collected_by_day": [{"day": d.isoformat(), "amount": n} for d, n in self.collected_by_day],
            "mrr_by_month": [{"month": m, "mrr": round_half_up(v)} for m, v in self.mrr_by_month],
        }


def _decimal(value: Fraction, places: Decimal) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(places, rounding=ROUND_HALF_UP)


def round_half_up(value: Fraction) -> int:
    return int(_decimal(value, Decimal(1)))


def bucket_ranges(today: date) -> list[tuple[str, str]]:
    """The buckets the overview reads besides the totals, as (first, last) inclusive ranges: the
    days from DAYS_BACK ago on (the future ones exist only where a mandate's billing starts: a
    trial or a start_at ahead), and the charges due in the next UPCOMING_DAYS days."""
    upcoming = (upcoming_bucket(today), upcoming_bucket(today + timedelta(days=UPCOMING_DAYS - 1)))
    return [(day_bucket(today - timedelta(days=DAYS_BACK)), "D~"), upcoming]


def _mrr_of(counters: Mapping[str, int]) -> Fraction:
    return sum((Fraction(v, int(k[len(MRR) :])) for k, v in counters.items() if k.startswith(MRR)), Fraction(0))


def _month_ends(today: date) -> list[date]:
    """The last day of each of the CHART_MONTHS months up to this one (this month's: today)."""
    ends = [today]
    first = today.replace(day=1)
    for _ in range(CHART_MONTHS - 1):
        ends.append(first - timedelta(days=1))
        first = ends[-1].replace(day=1)
    return ends[::-1]


def overview(buckets: Buckets, now: datetime) -> list[CurrencyOverview]:
    """The overview at `now`, per currency, from the totals and the buckets in `bucket_ranges`."""
    today = now.date()
    by_currency: dict[str, dict[str, Mapping[str, int]]] = {}
    for (currency, bucket), counters in buckets.items():
        by_currency.setdefault(currency, {})[bucket] = counters
    return [_of_currency(currency, found, today) for currency, found in sorted(by_currency.items())]


def _of_currency(currency: str, found: Mapping[str, Mapping[str, int]], today: date) -> CurrencyOverview:
    totals = found.get(TOTALS, {})
    days = {day_of(b): c for b, c in found.items() if b.startswith("D")}
    due = {day_of(b): c for b, c in found.items() if b.startswith("U")}

    def total(counter: str, first: date, last: date, buckets: Mapping[date, Mapping[str, int]] = days) -> int:
        return sum(c.get(counter, 0) for d, c in buckets.items() if first <= d <= last)

    def after(day: date) -> Iterable[Mapping[str, int]]:
        return (c for d, c in days.items() if d > day)

    def mrr_at(day: date) -> Fraction:  # the sum of the deltas up to that day: all less those after it
        return _mrr_of(totals) - sum((_mrr_of(c) for c in after(day)), Fraction(0))

    window = today - timedelta(days=WINDOW_DAYS - 1), today
    before = today - timedelta(days=WINDOW_DAYS)
    new, ended = total("new", *window), total("ended", *window)
    live_before = totals.get("live", 0) - sum(c.get("live", 0) for c in after(before))
    base = live_before + new
    first_chart_day = today - timedelta(days=CHART_DAYS - 1)
    return CurrencyOverview(
        currency=currency,
        mrr_exact=mrr_at(today),
        active=totals.get("active", 0),
        new=new,
        ended=ended,
        live_before=live_before,
        churn_rate=Fraction(ended, base) if base else None,
        collected=total("collected", *window),
        refunded=total("refunded", *window),
        recovered=total("recovered", *window),
        past_due_count=totals.get("past_due_count", 0),
        past_due_amount=totals.get("past_due_amount", 0),
        upcoming_count=total("upcoming_count", today, today + timedelta(days=UPCOMING_DAYS - 1), due),
        upcoming_amount=total("upcoming_amount", today, today + timedelta(days=UPCOMING_DAYS - 1), due),
        disputes_open=totals.get("disputes_open", 0),
        disputes_open_amount=totals.get("disputes_open_amount", 0),
        collected_by_day=tuple(
            (d, days.get(d, {}).get("collected", 0)) for d in (first_chart_day + timedelta(days=i) for i in range(CHART_DAYS))
        ),
        mrr_by_month=tuple((end.strftime("%Y-%m"), mrr_at(end)) for end in _month_ends(today)),
    )
