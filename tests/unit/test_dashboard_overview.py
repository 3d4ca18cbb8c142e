"""The dashboard's overview page through its real routes: a merchant's history made through the
real use cases and engine (tests/world.py), its events kept by the real `FigureKeeper` (on the
in-memory figures store), and the page read with a session of the pool (the security suite's
world). The page shows the overview's figures in English and Lithuanian (Babel), draws its charts
as SVG with accessible labels and no inline script or style, and reads a bounded number of the
figures' items, never the merchant's objects."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from typing import Any

import pytest

from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.dashboard.overview import bar_chart, nice_ceiling
from billing.service.figures import FigureKeeper
from billing.service.messages import PublishedEvent
from tests.figure_fakes import InMemoryFigureStore
from tests.unit.test_dashboard_security import World as DashboardWorld
from tests.unit.test_dashboard_security import token
from tests.world import MERCHANT, World, refund

NBSP = "\xa0"


class NoObjects:
    """A repository the overview must never touch: its figures come from the figures' items."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the overview read the merchant's objects ({name})")


class Business:
    """A merchant's history through the use cases, the figures kept from its events, the dashboard on them."""

    def __init__(self) -> None:
        self.world = World()
        self.store = InMemoryFigureStore()
        self.keeper = FigureKeeper(self.world.repo, self.store)
        self.delivered = 0
        self.dashboard = DashboardWorld()
        reader = FigureKeeper(NoObjects(), self.store)  # type: ignore[arg-type]  # the page's: figures only
        self.dashboard.deps = replace(self.dashboard.deps, clock=self.world.clock, figures=lambda: reader)

    def keep(self) -> None:
        """The figures consumer takes the events committed since it last ran."""
        events = [e for c in self.world.repo.commits for e in c.events]
        batch = self.keeper.keep_events([PublishedEvent.of(e) for e in events[self.delivered :]])
        assert not batch.failed
        self.delivered = len(events)

    def page(self, query: str = "") -> Any:
        return self.dashboard.request("GET", f"/dashboard/overview{query}", token(merchant=MERCHANT))


def figures(body: str, currency: str = "EUR") -> dict[str, str]:
    """The figures the page shows for a currency, label -> value (its count after a '|')."""
    section = body.split(f'data-currency="{currency}"')[1].split("</section>")[0]
    found = {}
    for label, value in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", section, re.S):
        found[unescape(label)] = unescape(re.sub(r'\s*<span class="detail">(.*?)</span>', r"|\1", value))
    return found


@pytest.fixture
def business() -> Business:
    # Given a merchant with a monthly plan (19.99 EUR) and a yearly one (120.00 EUR): three
    # mandates charged, one of them cancelled, one charge refunded in part, one customer whose card
    # is declined (past due)
    b = Business()
    monthly = b.world.plan(amount=1999, currency="EUR", interval="month")
    yearly = b.world.plan(amount=12000, currency="EUR", interval="year")
    kept = b.world.mandate(monthly)
    b.world.mandate(yearly)
    stopped = b.world.mandate(monthly)
    b.world.mandate(monthly, token="pm_sim_expired_card")
    b.world.tick()
    b.world.api.mandates.cancel(MERCHANT, stopped)
    [charge] = b.world.charges(kept)
    refund(b.world, charge.id, amount=500)
    b.world.tick()
    b.keep()
    return b


def test_the_page_shows_the_overviews_figures_written_in_english(business: Business) -> None:
    # When the owner opens the overview
    response = business.page()
    # Then it shows each figure of the keeper's overview, as English writes money and numbers
    assert response.status == 200, response.body
    shown = figures(response.body)
    (eur,) = business.keeper.overview(MERCHANT, business.world.clock.now())
    assert (eur.mrr, eur.active, eur.new, eur.ended, eur.past_due_count) == (1999 + 1000 + 1999, 2, 4, 1, 1)
    assert shown == {
        "Monthly recurring revenue": "€49.98",  # 19.99 + 120.00 / 12 + the past-due 19.99
        "Active mandates": "2",
        "New in the last 30 days": "4",
        "Ended in the last 30 days": "1",
        "Churn rate (30 days)": "25%",  # 1 / (0 live 30 days ago + 4 new)
        "Collected in the last 30 days": "€159.98",  # 19.99 x 2 + 120.00
        "Refunded in the last 30 days": "€5.00",
        "Recovered by retries and card updates (30 days)": "€0.00",
        "Failed payments that need action": "€19.99|Count: 1",
        "Upcoming charges (next 7 days)": "€0.00|Count: 0",
        "Open disputes": "€0.00|Count: 0",
    }
    # And the failed payments are marked as needing attention
    assert 'class="figure attention"' in response.body
    # And a viewer of the merchant reads the same figures
    business.dashboard.members.put(MERCHANT, replace(business.dashboard.members.list(MERCHANT)[0], user_id="u-viewer"))
    viewer = business.dashboard.request("GET", "/dashboard/overview", token(merchant=MERCHANT, role="viewer", sub="u-viewer"))
    assert viewer.status == 200 and figures(viewer.body) == shown


def test_a_new_charge_after_the_keeper_runs_moves_the_figures_on_the_page(business: Business) -> None:
    before = figures(business.page().body)
    # Given a new mandate charged today, whose events the keeper has not taken yet
    business.world.mandate(business.world.plan(amount=2500, currency="EUR", interval="month"))
    business.world.tick()
    # Then the page still shows what was kept
    assert figures(business.page().body) == before
    # When the keeper takes its events
    business.keep()
    # Then the page shows the new charge's money, the new mandate and the MRR it adds
    after = figures(business.page().body)
    assert after["Collected in the last 30 days"] == "€184.98"
    assert after["Active mandates"] == "3" and after["New in the last 30 days"] == "5"
    assert after["Monthly recurring revenue"] == "€74.98"
    # And today's bar of the chart of money collected grew by it
    assert "<title>25 Nov 2026: €184.98</title>" in business.page().body


def test_the_page_in_lithuanian_writes_money_percentages_and_dates_the_lithuanian_way(business: Business) -> None:
    response = business.page("?lang=lt")
    assert response.status == 200
    shown = figures(response.body)
    assert shown["Mėnesio pasikartojančios pajamos"] == f"49,98{NBSP}€"
    assert shown["Klientų netekimo rodiklis (30 dienų)"] == f"25{NBSP}%"
    assert shown["Nepavykę mokėjimai, kuriems reikia veiksmų"] == f"19,99{NBSP}€|Kiekis: 1"
    assert '<html lang="lt">' in response.body and "Surinkti pinigai per dieną, EUR" in response.body
    # A day in the values table, as Lithuanian writes it (2026-11-25: the world's first day)
    assert "2026-11-25" in response.body and "Diena" in response.body


def test_the_charts_are_svg_drawn_from_the_figures_with_accessible_labels(business: Business) -> None:
    body = business.page().body
    (eur,) = business.keeper.overview(MERCHANT, business.world.clock.now())
    # Two charts: their title and description name them to assistive technology
    for chart in ("collected-EUR", "mrr-EUR"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in body
        assert f'<title id="{chart}-title">' in body and f'<desc id="{chart}-desc">' in body
    # One bar per day (90) and per month (12), each with its value; the values are also in a table
    collected = body.split('id="collected-EUR"')[1].split("</figure>")[0]
    assert collected.count('<rect class="bar"') == 90 == len(eur.collected_by_day)
    assert collected.count('<tr><th scope="row">') == 90
    assert "<title>25 Nov 2026: €159.98</title>" in collected  # today's bar (the world's clock)
    mrr = body.split('id="mrr-EUR"')[1].split("</figure>")[0]
    assert mrr.count('<rect class="bar"') == 12 and "<title>November 2026: €49.98</title>" in mrr
    # The value axis is labelled in whole amounts up to a round top above the highest bar
    assert ">Amount (EUR)</text>" in collected and ">€0</text>" in collected and ">€200</text>" in collected
    assert ">Day</text>" in collected and ">Month</text>" in mrr
    # Today's bar is the tallest: it reaches 159.98 / 200 of the plot's height
    heights = [float(h) for h in re.findall(r'<rect class="bar" [^>]*height="([\d.]+)"', collected)]
    assert max(heights) == heights[-1] and heights[-1] == pytest.approx(190 * 15998 / 20000, abs=0.01)


def test_the_page_has_the_strict_csp_and_nothing_inline_and_no_secret_or_card_data(business: Business) -> None:
    response = business.page()
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    body = response.body
    assert "<script" not in body and "style=" not in body and "<style" not in body and " on" + "load=" not in body
    # No payment token, card number, customer reference or signing secret in the page
    for secret in ("pm_sim", "4242", "cust-42", "k" * 32, "api_key", "sk_"):
        assert secret not in body, secret


def test_a_merchant_without_figures_sees_that_there_are_none_yet() -> None:
    business = Business()
    response = business.page()
    assert response.status == 200 and "No figures yet" in response.body and "<svg" not in response.body


def test_another_merchants_figures_are_not_shown(business: Business) -> None:
    # Given a user of merchant B (with figures of merchant A kept)
    business.dashboard.members.put("mch_b", replace(business.dashboard.members.list("mch_a")[0], user_id="u-b"))
    # When they open the overview, they see none of A's
    response = business.dashboard.request("GET", "/dashboard/overview", token(merchant="mch_b", sub="u-b"))
    assert response.status == 200 and "No figures yet" in response.body and "€" not in response.body


@pytest.mark.parametrize("mandates", [3, 40])
def test_the_overview_reads_a_bounded_number_of_items_whatever_the_business(mandates: int) -> None:
    # Given a merchant with few or many mandates, charged every week for two months
    business = Business()
    plan = business.world.plan(amount=1000, currency="EUR", interval="week")
    for _ in range(mandates):
        business.world.mandate(plan)
    business.world.run_until(business.world.clock.now() + timedelta(days=60), step=timedelta(days=1))
    business.keep()
    # When the page is read
    business.store.reads.clear()
    assert business.page().status == 200
    # Then one read of the figures' items, bounded by the calendar (totals, 367 days, 7 days due),
    # and none of the merchant's objects (NoObjects would have failed)
    assert len(business.store.reads) == 1 and business.store.reads[0] <= 1 + 367 + 7
    assert business.store.reads[0] <= 1 + 61 + 7  # in fact: the days something happened


@pytest.mark.parametrize(("major", "top"), [(0, 1), (1, 1), (3, 4), (7, 8), (9, 10), (160, 200), (401, 500), (5001, 8000)])
def test_the_value_axis_ends_at_a_round_amount_above_the_highest_bar(major: int, top: int) -> None:
    assert nice_ceiling(major) == top


@pytest.mark.parametrize(
    ("highest", "currency", "lang", "labels"),
    [
        (45_000, "EUR", "en", ["€0", "€100", "€200", "€300", "€400", "€500"]),
        (15_998, "EUR", "en", ["€0", "€50", "€100", "€150", "€200"]),
        (700, "JPY", "lt", ["0\xa0JPY", "200\xa0JPY", "400\xa0JPY", "600\xa0JPY", "800\xa0JPY"]),
        (0, "EUR", "lt", ["0\xa0€", "1\xa0€"]),
    ],
)
def test_the_value_axis_is_labelled_in_whole_round_amounts(highest: int, currency: str, lang: Any, labels: list[str]) -> None:
    chart = bar_chart("c", [("a", "a", 0), ("b", "b", highest)], currency, lang, "T", "D", "X", "X")
    assert [tick.label for tick in chart.y_ticks] == labels
    # from the bottom of the plot up, evenly
    positions = [tick.position for tick in chart.y_ticks]
    assert positions == sorted(positions, reverse=True) and (positions[0], positions[-1]) == (14 + 190, 14)
