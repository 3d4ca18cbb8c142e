"""The dashboard against `make local` over HTTP, and in a real headless Chromium (Debian's
package, never a downloaded browser): `POST /_local/merchants` gives the owner's e-mail and
password, the owner signs in on the local form (the emulated pool), sees the shell, switches to
Lithuanian, signs out."""

from __future__ import annotations

import http.client
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from devtools.template import ROOT
from tests.local.conftest import Http

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "docs" / "screenshots" if os.environ.get("SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "rp-screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@contextmanager
def owner_in_browser(local: str, created: dict[str, Any]) -> Iterator[tuple[Any, list[str]]]:
    """Headless Chromium with the merchant's owner signed in through the sign-in form, on the
    overview: the page, and the Content Security Policy violations its console reports."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(locale="en-GB", viewport={"width": 1280, "height": 900})
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        page.goto(f"{local}/dashboard")
        page.fill("input[name=email]", created["owner_email"])
        page.fill("input[name=password]", created["owner_password"])
        page.click("button[type=submit]")
        page.wait_for_url("**/dashboard/overview")
        try:
            yield page, violations
        finally:
            browser.close()


def new_merchant(local: str, name: str) -> dict[str, Any]:
    status, created = Http(local)("POST", "/_local/merchants", {"name": name})
    assert status == 201, created
    return created


class Session:
    """A client that keeps the dashboard's cookies (a plain HTTP client: no browser needed)."""

    def __init__(self, base: str) -> None:
        self.host = urlparse(base).netloc
        self.jar: dict[str, str] = {}

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], list[str], str]:
        connection = http.client.HTTPConnection(self.host, timeout=60)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.jar.items())}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        cookies = response.headers.get_all("Set-Cookie") or []
        for cookie in cookies:
            name, value = cookie.split(";")[0].split("=", 1)
            if "Max-Age=0" in cookie:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        text = response.read().decode()
        answer = (response.status, dict(response.headers.items()), cookies, text)
        connection.close()
        return answer

    def csrf(self, path: str) -> str:
        return self.go("GET", path)[3].split('name="csrf" value="')[1].split('"')[0]


def test_a_new_merchants_owner_signs_in_with_the_password_given_once_and_sees_the_shell(local: str) -> None:
    # Given a merchant created locally: its owner's e-mail and password come with it
    created = new_merchant(local, "Kavinė")
    assert created["owner_email"] == f"owner@{created['merchant_id']}.local" and len(created["owner_password"]) >= 12
    assert created["dashboard_url"] == f"{local}/dashboard/sign-in"
    browser = Session(local)
    # When the owner signs in on the local form
    status, headers, cookies, _ = browser.go(
        "POST",
        "/dashboard/sign-in",
        {"email": created["owner_email"], "password": created["owner_password"], "csrf": browser.csrf("/dashboard/sign-in")},
    )
    # Then a session cookie is set with its flags, and the shell shows the navigation
    assert status == 303 and headers["Location"] == "/dashboard/overview"
    [session] = [c for c in cookies if c.startswith("dashboard_session=")]
    assert all(flag in session for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/dashboard"))
    status, headers, _, page = browser.go("GET", "/dashboard/overview")
    assert status == 200 and "default-src 'self'" in headers["Content-Security-Policy"]
    for item in (
        "Overview",
        "Mandates",
        "Charges",
        "Refunds",
        "Disputes",
        "Invoices",
        "Webhooks",
        "API keys",
        "Settings",
        "Exports",
    ):
        assert f">{item}</a>" in page
    assert created["owner_email"] in page
    # And the owner is listed on the users page
    assert created["owner_email"] in browser.go("GET", "/dashboard/users")[3]
    # And another merchant's owner does not see them
    other = new_merchant(local, "Kita")
    stranger = Session(local)
    stranger.go(
        "POST",
        "/dashboard/sign-in",
        {"email": other["owner_email"], "password": other["owner_password"], "csrf": stranger.csrf("/dashboard/sign-in")},
    )
    assert created["owner_email"] not in stranger.go("GET", "/dashboard/users")[3]
    # When the owner signs out, the pages send them to sign in again
    status, _, _, _ = browser.go("POST", "/dashboard/sign-out", {"csrf": browser.csrf("/dashboard/overview")})
    assert status == 303 and "dashboard_session" not in browser.jar
    status, headers, _, _ = browser.go("GET", "/dashboard/overview")
    assert status == 303 and headers["Location"] == "/dashboard/sign-in"


def test_a_wrong_password_does_not_sign_in(local: str) -> None:
    created = new_merchant(local, "Shop")
    browser = Session(local)
    status, _, cookies, page = browser.go(
        "POST",
        "/dashboard/sign-in",
        {"email": created["owner_email"], "password": "Not-the-password-1", "csrf": browser.csrf("/dashboard/sign-in")},
    )
    assert status == 401 and not any(c.startswith("dashboard_session=") for c in cookies) and "not right" in page


@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium): the browser test is SKIPPED"
)
def test_an_owner_signs_in_in_a_real_browser_and_reads_the_shell_in_lithuanian(local: str) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    created = new_merchant(local, "Sporto klubas")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(locale="en-GB")
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None)
        # Given the sign-in page
        page.goto(f"{local}/dashboard")
        assert page.url.endswith("/dashboard/sign-in")
        # When the owner types the e-mail and password
        page.fill("input[name=email]", created["owner_email"])
        page.fill("input[name=password]", created["owner_password"])
        page.click("button[type=submit]")
        # Then the shell shows, styled by its own stylesheet (the CSP allows nothing else)
        page.wait_for_url("**/dashboard/overview")
        assert page.locator("nav a[aria-current=page]").inner_text() == "Overview"
        assert page.locator("header .who").inner_text().startswith("Signed in as owner@")
        assert page.evaluate("getComputedStyle(document.querySelector('nav ul')).display") == "flex"
        assert page.context.cookies()[0]["httpOnly"] is True
        page.screenshot(path=str(SHOTS / "dashboard-shell-en.png"), full_page=True)
        # When the owner switches to Lithuanian and opens the users page
        page.click("header a.lang")
        page.click("nav >> text=Naudotojai")
        assert page.locator("h1").inner_text() == "Naudotojai" and page.locator("html").get_attribute("lang") == "lt"
        page.screenshot(path=str(SHOTS / "dashboard-users-lt.png"), full_page=True)
        # And signs out
        page.click("header button[type=submit]")
        page.wait_for_url("**/dashboard/sign-in")
        assert not violations, violations
        browser.close()


def test_an_invited_viewer_reads_the_invitation_chooses_a_password_and_can_only_look(local: str) -> None:
    # Given an owner signed in
    created = new_merchant(local, "Knygynas")
    owner = Session(local)
    owner.go("POST", "/dashboard/sign-in",
             {"email": created["owner_email"], "password": created["owner_password"], "csrf": owner.csrf("/dashboard/sign-in")})  # fmt: skip
    # When the owner invites a viewer
    email = f"viewer@{created['merchant_id'].removeprefix('mch_')}.example"
    status, headers, _, _ = owner.go(
        "POST", "/dashboard/users", {"email": email, "role": "viewer", "csrf": owner.csrf("/dashboard/users")}
    )
    assert status == 303 and headers["Location"] == "/dashboard/users?done=invited"
    # Then the pool's invitation e-mail (emulated) carries a temporary password
    [invitation] = [e for e in Http(local)("GET", "/_local/emails")[1]["emails"] if e["to"] == email]
    assert invitation["kind"] == "dashboard_invitation"
    temporary = invitation["text"].split("temporary password ")[1].split(";")[0]
    # When the viewer signs in with it, they choose their own password first
    viewer = Session(local)
    status, _, cookies, page = viewer.go(
        "POST", "/dashboard/sign-in", {"email": email, "password": temporary, "csrf": viewer.csrf("/dashboard/sign-in")}
    )
    assert status == 200 and "Choose your password" in page and not any(c.startswith("dashboard_session=") for c in cookies)
    fields = {name: page.split(f'name="{name}" value="')[1].split('"')[0] for name in ("csrf", "email", "challenge")}
    mismatch = viewer.go(
        "POST", "/dashboard/sign-in/new-password", fields | {"password": "Viewer-pass-123!", "password_again": "other"}
    )
    assert mismatch[0] == 422
    status, _, _, _ = viewer.go(
        "POST", "/dashboard/sign-in/new-password", fields | {"password": "Viewer-pass-123!", "password_again": "Viewer-pass-123!"}
    )
    assert status == 303 and "dashboard_session" in viewer.jar
    # Then the viewer sees the users but cannot act
    page = viewer.go("GET", "/dashboard/users")[3]
    assert "(viewer)" in page and created["owner_email"] in page and "/remove" not in page
    status, _, _, page = viewer.go(
        "POST", "/dashboard/users", {"email": "x@y.example", "role": "owner", "csrf": viewer.csrf("/dashboard/users")}
    )
    assert status == 403 and "Only an owner" in page
    # And the password the viewer chose signs them in from now on
    again = Session(local)
    assert (
        again.go(
            "POST",
            "/dashboard/sign-in",
            {"email": email, "password": "Viewer-pass-123!", "csrf": again.csrf("/dashboard/sign-in")},
        )[0]
        == 303
    )
