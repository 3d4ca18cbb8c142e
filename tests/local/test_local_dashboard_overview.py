"""The dashboard's overview against `make local`: a merchant's owner signs in, the merchant's
mandates and charges are made through the API and the engine runs on the local clock (`tick`),
and the overview shows them, read from the figures the runtime keeps from the events (a bounded
number of items: `GET /_local/stats`). Then the same in a real headless Chromium (Debian's
package), in English and Lithuanian; `SCREENSHOTS=1` refreshes the README's screenshots."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from devtools.template import ROOT
from tests.local.conftest import Http
from tests.local.test_dashboard_local import CHROMIUM, Session, new_merchant, owner_in_browser
from tests.support.values import CONSENT

pytestmark = pytest.mark.slow
# `SCREENSHOTS=1 make test` refreshes the README's screenshots; otherwise they go to a temporary folder.
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "rp-screenshots"


def go(root: Http, moment: datetime) -> None:
    assert root("POST", "/_local/clock", {"now": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})[0] == 200
    assert root("POST", "/_local/tick")[0] == 200


def signed_in(local: str, created: dict[str, Any]) -> Session:
    browser = Session(local)
    status, _, _, _ = browser.go(
        "POST",
        "/dashboard/sign-in",
        {"email": created["owner_email"], "password": created["owner_password"], "csrf": browser.csrf("/dashboard/sign-in")},
    )
    assert status == 303
    return browser


def figures(page: str, currency: str = "EUR") -> dict[str, str]:
    section = page.split(f'data-currency="{currency}"')[1].split("</section>")[0]
    return {
        unescape(label): unescape(re.sub(r'\s*<span class="detail">(.*?)</span>', r"|\1", value))
        for label, value in re.findall(r"<dt>(.*?)</dt>\s*<dd>(.*?)</dd>", section, re.S)
    }


@pytest.fixture(scope="module")
def shop(local: str) -> dict[str, Any]:
    """A sports club over seven weeks: weekly and monthly members, one yearly, one whose card
    fails, one who leaves, a partial refund."""
    root = Http(local)
    created = new_merchant(local, "Sporto klubas")
    call = Http(local, created["api_key"])
    now = datetime.fromisoformat(root("GET", "/_local/clock")[1]["now"].replace("Z", "+00:00"))
    start = (now + timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    go(root, start)
    plans = {
        name: call("POST", "/v1/plans", {"name": name, "amount": amount, "currency": "EUR", "interval": interval})[1]["id"]
        for name, amount, interval in (("Week", 1200, "week"), ("Month", 3900, "month"), ("Year", 36000, "year"))
    }

    def mandate(plan: str, token: str = "pm_sim_ok", reference: str = "member") -> str:
        body = {"plan_id": plans[plan], "customer": {"reference": reference}, "consent": CONSENT,
                "payment_method": {"gateway": "simulated", "token": token}}  # fmt: skip
        status, made = call("POST", "/v1/mandates", body)
        assert status == 201, made
        return str(made["id"])

    leaving = mandate("Month")
    mandate("Year")
    for week in range(7):
        mandate("Week", reference=f"w-{week}")
        if week % 2 == 0:
            mandate("Month", reference=f"m-{week}")
        go(root, start + timedelta(days=7 * week, minutes=1))
        go(root, start + timedelta(days=7 * week + 3))
    mandate("Month", token="pm_sim_expired_card", reference="declined")
    assert call("POST", f"/v1/mandates/{leaving}/cancel")[0] == 200
    [charge, *_] = call("GET", f"/v1/charges?mandate_id={leaving}")[1]["data"]
    assert call("POST", f"/v1/charges/{charge['id']}/refunds", {"amount": 1000})[0] == 201
    go(root, start + timedelta(days=46, hours=2))
    return created


def test_the_overview_shows_what_the_api_and_the_engine_did_reading_a_bounded_number_of_items(
    local: str, shop: dict[str, Any]
) -> None:
    root = Http(local)
    browser = signed_in(local, shop)
    # The runtime's own overview of the figures (what the keeper kept), to compare with the page
    status, kept = root("GET", f"/_local/figures/{shop['merchant_id']}")
    assert status == 200
    [eur] = kept["currencies"]
    assert eur["active"] == 1 + 1 + 7 + 4 - 1 and eur["past_due"]["count"] == 1 and eur["ended"] == 1
    # When the owner opens the overview (counting what the page reads)
    assert root("POST", "/_local/stats/reset")[0] in (200, 204)
    status, headers, _, page = browser.go("GET", "/dashboard/overview")
    _, stats = root("GET", "/_local/stats")
    # Then it shows those figures, written in English
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    shown = figures(page)
    assert shown["Active mandates"] == str(eur["active"])
    assert shown["Monthly recurring revenue"] == f"€{eur['mrr'] / 100:,.2f}"
    assert shown["Collected in the last 30 days"] == f"€{eur['collected'] / 100:,.2f}"
    assert shown["Refunded in the last 30 days"] == "€10.00"
    assert shown["Failed payments that need action"] == "€39.00|Count: 1"
    assert shown["Ended in the last 30 days"] == "1"
    # And the collected chart has a bar with money on each day something was taken
    assert page.count('<rect class="bar"') == 90 + 12
    # And it read a few items: the session's user, the figures' totals and the days with activity
    # (not the merchant's 14 mandates and their charges)
    calls = {k: v for k, v in stats["aws_calls"].items() if k.startswith("dynamodb.")}
    assert set(calls) <= {"dynamodb.Query", "dynamodb.GetItem"} and calls["dynamodb.Query"] >= 3, calls  # totals, days, due
    assert stats["dynamodb_items_read"] <= 1 + 1 + 47 + 7, stats


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium): the browser test is SKIPPED"
)
def test_an_owner_reads_the_overview_in_a_real_browser_in_english_and_lithuanian(local: str, shop: dict[str, Any]) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Given the owner signed in
    with owner_in_browser(local, shop) as (page, violations):
        # Then the overview shows the figures, and the charts drawn with the stylesheet's colours
        assert page.locator("h1").inner_text() == "Overview"
        figure = page.locator(".figure", has_text="Failed payments that need action")
        assert "€39.00" in figure.inner_text() and "attention" in (figure.get_attribute("class") or "")
        chart = page.get_by_role("img", name="Money collected per day, EUR")
        assert chart.count() == 1 and chart.locator("rect.bar").count() == 90
        assert page.evaluate("getComputedStyle(document.querySelector('rect.bar')).fill") == "rgb(47, 109, 181)"
        assert page.get_by_role("img", name="Monthly recurring revenue per month, EUR").count() == 1
        # And the values of a chart are in its table, behind a summary anyone can open
        page.locator("#mrr-EUR summary").click()
        assert page.locator("#mrr-EUR table.values tbody tr").count() == 12
        page.locator("#mrr-EUR summary").click()
        page.screenshot(path=str(SHOTS / "dashboard-overview-en.png"), full_page=True)
        # When the owner switches to Lithuanian
        page.click("header a.lang")
        assert page.locator("h1").inner_text() == "Apžvalga" and page.locator("html").get_attribute("lang") == "lt"
        assert "39,00\xa0€" in page.locator(".figure", has_text="Nepavykę mokėjimai").inner_text()
        assert page.get_by_role("img", name="Surinkti pinigai per dieną, EUR").count() == 1
        page.screenshot(path=str(SHOTS / "dashboard-overview-lt.png"), full_page=True)
        assert not violations, violations
