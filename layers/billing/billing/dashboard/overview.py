"""The overview page's view: the figures of each currency (`domain/figures.CurrencyOverview`, read
by `FigureKeeper.overview`) written in the page's language with Babel (money with the currency's
digits, counts, the churn rate as a percentage, days and months), and its two charts drawn here
as SVG geometry (no script, no inline style: the stylesheet's classes and SVG presentation
attributes), each with a title, a description, axis labels and its values in a table.

Pure: no clock (the figures are at the time the route read them), no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import partial

from ..domain.figures import CurrencyOverview, round_half_up
from ..domain.money import CURRENCY_EXPONENT
from .texts import Lang, text

LOCALES: dict[Lang, str] = {"en": "en_GB", "lt": "lt_LT"}

# The charts' drawing box (viewBox units; the stylesheet scales it to the page's width).
WIDTH, HEIGHT = 720, 250
LEFT, RIGHT, TOP, BOTTOM = 84, 30, 14, 46  # room for the value axis's and the last day's labels
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
DAY_LABEL_EVERY = 15  # a day's label under every 15th bar (and the last: today)


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    detail: str = ""  # a count beside an amount ("Mandates: 2")
    attention: bool = False  # needs the merchant's action (past due, open disputes)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # what the bar stands for, written out ("5 Mar 2026")
    value: str  # its value, written out ("€19.99")


@dataclass(frozen=True)
class Tick:
    position: float  # y for the value axis, x for the other
    label: str


@dataclass(frozen=True)
class Chart:
    id: str  # unique in the page: the title's and description's ids derive from it
    title: str
    description: str
    x_label: str
    y_label: str
    bars: tuple[Bar, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]
    first_column: str  # the values table's first column heading
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = HEIGHT - BOTTOM
    right: int = WIDTH - RIGHT


@dataclass(frozen=True)
class CurrencyView:
    currency: str
    figures: tuple[Figure, ...]
    charts: tuple[Chart, ...]


def money(amount: int, currency: str, lang: Lang) -> str:
    """Minor units as the language writes money, with exactly the currency's digits."""
    from babel.numbers import format_currency

    exponent = CURRENCY_EXPONENT.get(currency, 2)
    return format_currency(Decimal(amount).scaleb(-exponent), currency, locale=LOCALES[lang], currency_digits=True)


def whole_money(major: int, currency: str, lang: Lang) -> str:
    """A round amount in major units without decimals (an axis's label: "€1,200", "1 200 €")."""
    from babel.core import Locale
    from babel.numbers import format_currency

    pattern = Locale.parse(LOCALES[lang]).currency_formats["standard"].pattern.split(";")[0]
    pattern = pattern.replace("#,##0.00", "#,##0")
    return format_currency(major, currency, format=pattern, locale=LOCALES[lang], currency_digits=False)


def count(value: int, lang: Lang) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value, locale=LOCALES[lang])


def percentage(rate: Decimal | None, lang: Lang) -> str:
    """A rate (0.3333) as the language writes a percentage ("33.33%", "33,33 %"); None: a dash."""
    from babel.numbers import format_percent

    if rate is None:
        return "—"
    return format_percent(rate.normalize(), locale=LOCALES[lang], decimal_quantization=False)


def day(value: date, lang: Lang, length: str = "medium") -> str:
    from babel.dates import format_date

    return format_date(value, format=length, locale=LOCALES[lang])


def short_day(value: date, lang: Lang) -> str:
    from babel.dates import format_skeleton

    return format_skeleton("MMMd", value, locale=LOCALES[lang])


def month(iso: str, lang: Lang, short: bool = False) -> str:
    from babel.dates import format_date, format_skeleton

    first = date.fromisoformat(f"{iso}-01")
    if short:
        return format_date(first, format="LLL", locale=LOCALES[lang])
    return format_skeleton("yMMMM", first, locale=LOCALES[lang])


def churn(o: CurrencyOverview) -> Decimal | None:
    if o.churn_rate is None:
        return None
    exact = Decimal(o.churn_rate.numerator) / Decimal(o.churn_rate.denominator)
    return exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # as the figures' own `as_dict` shows it


def nice_ceiling(major: int) -> int:
    """The smallest 1, 2, 4, 5 or 8 x 10^k at least `major` (at least 1): the value axis's top."""
    scale = 1
    while True:
        for step in (1, 2, 4, 5, 8):
            if step * scale >= major:
                return step * scale
        scale *= 10


def bar_chart(
    chart_id: str,
    values: list[tuple[str, str, int]],  # (label written out, axis label or "", minor units)
    currency: str,
    lang: Lang,
    title: str,
    description: str,
    x_label: str,
    first_column: str,
) -> Chart:
    t = partial(text, lang)
    exponent = CURRENCY_EXPONENT.get(currency, 2)
    top_major = nice_ceiling(-(-max((v for _, _, v in values), default=0) // 10**exponent))  # ceil
    top = top_major * 10**exponent  # minor units at the top of the value axis
    slot = PLOT_W / len(values)
    gap = max(slot * 0.2, 0.5)
    bars, x_ticks = [], []
    for i, (label, axis_label, value) in enumerate(values):
        height = PLOT_H * value / top if top else 0
        x = LEFT + i * slot
        bars.append(Bar(round(x + gap / 2, 2), round(TOP + PLOT_H - height, 2), round(slot - gap, 2), round(height, 2),
                        label, money(value, currency, lang)))  # fmt: skip
        if axis_label:
            x_ticks.append(Tick(round(x + slot / 2, 2), axis_label))
    # grid lines at whole, round amounts: 0-20-40..100, 0-100-200..500, 0-200..800
    steps = next(s for s in ((5, 4, 2, 1) if str(top_major)[0] in "15" else (4, 5, 2, 1)) if top_major % s == 0)
    y_ticks = tuple(
        Tick(round(TOP + PLOT_H - PLOT_H * n / steps, 2), whole_money(top_major * n // steps, currency, lang))
        for n in range(steps + 1)
    )
    return Chart(chart_id, title, description, x_label, t("overview.chart.amount", currency=currency),
                 tuple(bars), y_ticks, tuple(x_ticks), first_column)  # fmt: skip


def currency_view(o: CurrencyOverview, lang: Lang) -> CurrencyView:
    t = partial(text, lang)
    cur = o.currency

    def m(amount: int) -> str:
        return money(amount, cur, lang)

    def n(value: int) -> str:
        return t("overview.count", count=count(value, lang))

    figures = (
        Figure(t("overview.mrr"), m(o.mrr)),
        Figure(t("overview.active"), count(o.active, lang)),
        Figure(t("overview.new"), count(o.new, lang)),
        Figure(t("overview.ended"), count(o.ended, lang)),
        Figure(t("overview.churn"), percentage(churn(o), lang)),
        Figure(t("overview.collected"), m(o.collected)),
        Figure(t("overview.refunded"), m(o.refunded)),
        Figure(t("overview.recovered"), m(o.recovered)),
        Figure(t("overview.past_due"), m(o.past_due_amount), n(o.past_due_count), attention=o.past_due_count > 0),
        Figure(t("overview.upcoming"), m(o.upcoming_amount), n(o.upcoming_count)),
        Figure(t("overview.disputes"), m(o.disputes_open_amount), n(o.disputes_open), attention=o.disputes_open > 0),
    )
    days = list(o.collected_by_day)
    collected = bar_chart(
        f"collected-{cur}",
        [
            (day(d, lang), short_day(d, lang) if (i % DAY_LABEL_EVERY == 0 or i == len(days) - 1) else "", amount)
            for i, (d, amount) in enumerate(days)
        ],
        cur,
        lang,
        t("overview.chart.collected", currency=cur),
        t(
            "overview.chart.collected_desc",
            days=len(days),
            first=day(days[0][0], lang) if days else "",
            last=day(days[-1][0], lang) if days else "",
            total=m(sum(a for _, a in days)),
        ),
        t("overview.chart.day"),
        t("overview.chart.day"),
    )
    months = [(month(k, lang), month(k, lang, short=True), round_half_up(v)) for k, v in o.mrr_by_month]
    mrr = bar_chart(
        f"mrr-{cur}",
        months,
        cur,
        lang,
        t("overview.chart.mrr", currency=cur),
        t(
            "overview.chart.mrr_desc",
            months=len(months),
            first=months[0][0] if months else "",
            last=months[-1][0] if months else "",
            now=m(o.mrr),
        ),
        t("overview.chart.month"),
        t("overview.chart.month"),
    )
    return CurrencyView(cur, figures, (collected, mrr))


def views(overviews: list[CurrencyOverview], lang: Lang) -> list[CurrencyView]:
    return [currency_view(o, lang) for o in overviews]
