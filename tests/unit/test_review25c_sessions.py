"""Review 25c: sign-out after managed login (decision 219).

- The pool's global sign-out failing (a throttle) after `signed_out_at` was written is the 500 page:
  the cookie is not cleared and the browser never goes through managed login's `/logout`, so
  managed login's session cookie stays (the next person at that browser signs in without a
  password, the one thing the `/logout` redirect was added for).
- A sign-out whose session is no longer accepted (signed out on another device, expired, removed)
  is the 401 page, again without `/logout`: the managed login cookie of that browser stays.
- Signed out on one device, the user cannot sign in again on another device where managed login
  still has its session: managed login answers without a password, with the original `auth_time`
  (before the sign-out), the callback refuses it ("sign-in failed"), and the sign-in page's link goes
  back to the same managed login session (each reuse renews it): a loop until the user stops
  trying for an hour. Neither `/logout` nor `prompt=login` breaks it.
- (polish) That refused callback, once through `/logout`, came back to a sign-in page saying
  nothing: a signed flash cookie (a fixed code) now makes it say why, once.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlparse

import pytest

from billing.dashboard import sessions
from billing.domain.dashboard_users import DashboardUser
from billing.service.dashboard import DashboardSessions
from tests.unit.test_dashboard_security import FakeExchange, World, authorize, token

MANAGED_LOGIN = "https://rp-1-eu-west-1.auth.eu-west-1.amazoncognito.com"


@pytest.fixture
def managed() -> tuple[World, FakeExchange]:
    world, exchange = World(), FakeExchange()
    world.deps = replace(
        world.deps,
        sessions=DashboardSessions(world.verifier, world.members, None, exchange),
        managed_login_url=MANAGED_LOGIN,
        password_sign_in=False,
    )
    return world, exchange


class Throttled(Exception):
    """The pool's TooManyRequestsException."""


def went_through_logout(response: object) -> bool:
    location = urlparse(getattr(response, "headers", {}).get("Location", ""))
    return f"{location.scheme}://{location.netloc}" == MANAGED_LOGIN and location.path == "/logout"


def cleared(response: object) -> bool:
    return any(c.startswith("dashboard_session=;") and "Max-Age=0" in c for c in getattr(response, "cookies", []))


def test_a_sign_out_whose_pool_call_fails_still_ends_the_browsers_sessions(
    managed: tuple[World, FakeExchange], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, _ = managed
    # Given an owner signed in through managed login, and the pool throttling its global sign-out
    session = token()
    csrf = world.csrf(session)

    def throttled(email: str) -> None:
        raise Throttled("TooManyRequestsException")

    monkeypatch.setattr(world.pool, "sign_out", throttled)
    # When they sign out
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": csrf})
    # Then their tokens are refused already (signed_out_at written), and the browser still goes
    # through managed login's /logout with the cookie cleared
    assert world.request("GET", "/dashboard/overview", session).status == 303
    assert out.status in (302, 303) and went_through_logout(out) and cleared(out)


def test_signing_out_with_a_session_no_longer_accepted_still_ends_managed_logins_session(
    managed: tuple[World, FakeExchange],
) -> None:
    world, _ = managed
    # Given a browser whose session was ended elsewhere (the user signed out on another device)
    session = token()
    csrf = world.csrf(session)
    world.users.sign_out(DashboardUser("u-owner", "u-owner@example.com", "mch_a", "owner"))
    # When its "Sign out" is pressed (the page was open)
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": csrf})
    # Then the browser still goes through managed login's /logout, its cookie cleared
    assert went_through_logout(out) and cleared(out)


def test_signed_out_on_one_device_the_user_can_sign_in_again_on_another(managed: tuple[World, FakeExchange]) -> None:
    world, exchange = managed
    # Given an owner signed in on two browsers through managed login, an hour's session cookie on each
    signed_in_at = int(time.time()) - 600
    # When they sign out on the first
    world.users.sign_out(DashboardUser("u-owner", "u-owner@example.com", "mch_a", "owner"))
    # And on the second, whose dashboard session is now refused, press "Sign in": managed login answers
    # from its own session, without a password, with a new token carrying the original auth_time
    pre, query = authorize(world)
    exchange.codes["code-1"] = (query["code_challenge"], token(auth_time=signed_in_at, iat=int(time.time()) + 2))
    back = world.request("GET", f"/dashboard/callback?code=code-1&state={query['state']}", Cookie=f"dashboard_pre={pre}")
    assert not any(c.startswith("dashboard_session=") and "Max-Age=0" not in c for c in back.cookies)
    # Then the way back asks for their password: the refusal goes through /logout, or the sign-in
    # page's link asks managed login for a new authentication (`prompt=login`)
    _, again = authorize(world)
    assert went_through_logout(back) or again.get("prompt") == "login", back.status


def test_the_logout_url_is_built_from_configuration_only(managed: tuple[World, FakeExchange]) -> None:
    # (holds) a Host or Origin header the browser sends does not choose where /logout sends it back
    world, _ = managed
    session = token()
    csrf = world.csrf(session)
    out = world.request("POST", "/dashboard/sign-out?logout_uri=https://evil.example", session, {"csrf": csrf}, Host="localhost")
    query = dict(parse_qsl(urlparse(out.headers["Location"]).query))
    assert went_through_logout(out) and query["logout_uri"] == "https://localhost/dashboard/sign-in"
    assert set(query) == {"client_id", "logout_uri"}


# ----------------------------------------------------------------------------- the refused callback says why


SIGNED_OUT_OR_REMOVED = "Sign-in failed: you were signed out or removed; sign in again."


def refused_callback(world: World, exchange: FakeExchange) -> object:
    """A managed-login callback carrying a token from before the user's sign-out (refused)."""
    world.users.sign_out(DashboardUser("u-owner", "u-owner@example.com", "mch_a", "owner"))
    pre, query = authorize(world)
    exchange.codes["code-1"] = (query["code_challenge"], token(auth_time=int(time.time()) - 600))
    return world.request("GET", f"/dashboard/callback?code=code-1&state={query['state']}", Cookie=f"dashboard_pre={pre}")


def flash_cookie(response: object) -> str:
    [cookie] = [c for c in getattr(response, "cookies", []) if c.startswith("dashboard_flash=")]
    return str(cookie)


def test_a_refused_callback_leaves_a_flash_the_sign_in_page_says_once(managed: tuple[World, FakeExchange]) -> None:
    world, exchange = managed
    # Given a managed-login callback the dashboard refuses (the user signed out since)
    back = refused_callback(world, exchange)
    # Then, on its way through /logout, the browser gets a short-lived flash cookie with the session's flags
    assert went_through_logout(back) and cleared(back)
    cookie = flash_cookie(back)
    value = cookie.split(";")[0].split("=", 1)[1]
    flags = {part.strip() for part in cookie.split(";")[1:]}
    assert flags == {"Path=/dashboard", "Max-Age=300", "HttpOnly", "Secure", "SameSite=Lax"}
    assert value.startswith("signed_out_or_removed.")  # a fixed code, never the text
    # When /logout sends the browser back to the sign-in page with it
    page = world.request("GET", "/dashboard/sign-in", Cookie=f"dashboard_flash={value}")
    # Then the page says why, and clears the flash
    assert page.status == 200 and SIGNED_OUT_OR_REMOVED in page.body
    assert any(c.startswith("dashboard_flash=;") and "Max-Age=0" in c for c in page.cookies)
    # And the strict CSP is as on every page
    assert (
        page.headers["Content-Security-Policy"] == world.request("GET", "/dashboard/sign-in").headers["Content-Security-Policy"]
    )
    # And the next sign-in page (the cookie gone) says nothing
    assert "Sign-in failed" not in world.request("GET", "/dashboard/sign-in").body


def test_the_flash_is_said_in_lithuanian(managed: tuple[World, FakeExchange]) -> None:
    world, exchange = managed
    value = flash_cookie(refused_callback(world, exchange)).split(";")[0].split("=", 1)[1]
    page = world.request("GET", "/dashboard/sign-in", Cookie=f"dashboard_flash={value}; dashboard_lang=lt")
    assert "Prisijungti nepavyko: atsijungėte arba buvote pašalinti; prisijunkite iš naujo." in page.body


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(lambda v: "Your+account+is+locked.+Call+0800.1.abc", id="free text"),
        pytest.param(lambda v: v[:-4] + ("0000" if not v.endswith("0000") else "1111"), id="signature altered"),
        pytest.param(lambda v: v.replace(v.split(".")[1], str(int(v.split(".")[1]) + 1)), id="time altered"),
        pytest.param(lambda v: "expired", id="junk"),
        pytest.param(
            lambda v: sessions.flash_value(b"k" * 32, "signed_out_or_removed", int(time.time()) - sessions.FLASH_SECONDS - 5),
            id="older than its 5 minutes",
        ),
        pytest.param(
            lambda v: sessions.flash_value(b"x" * 32, "signed_out_or_removed", int(time.time())), id="another deployment's key"
        ),
    ],
)
def test_a_forged_or_stale_flash_says_nothing_and_is_cleared(managed: tuple[World, FakeExchange], forged: Any) -> None:
    world, exchange = managed
    value = forged(flash_cookie(refused_callback(world, exchange)).split(";")[0].split("=", 1)[1])
    page = world.request("GET", "/dashboard/sign-in", Cookie=f"dashboard_flash={value}")
    assert page.status == 200 and "Sign-in failed" not in page.body and "locked" not in page.body
    assert any(c.startswith("dashboard_flash=;") and "Max-Age=0" in c for c in page.cookies)


def test_a_flash_names_a_known_code_only() -> None:
    with pytest.raises(ValueError):
        sessions.flash_value(b"k" * 32, "Anything at all", int(time.time()))
