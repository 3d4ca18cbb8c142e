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
"""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import parse_qsl, urlparse

import pytest

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
