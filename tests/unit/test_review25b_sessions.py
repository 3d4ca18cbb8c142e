"""Review 25b: sign-out on AWS, where users sign in on managed login.

The dashboard's sign-out stamps `signed_out_at` on the member's row and calls the pool's global
sign-out, then sends the browser to the dashboard's own sign-in page. It never sends it to managed
login's `/logout` endpoint, although the template registers `LogoutURLs` for exactly that
(`.../dashboard/sign-in`). AWS: "[AdminUserGlobalSignOut] doesn't clear the managed login session
cookie. To clear the session for a user who signed in with managed login ..., direct their browser
session to the logout endpoint"; a user "can still use a hosted UI cookie to retrieve new tokens
for the duration of the cookie validity period of 1 hour" (each reuse renews it). So after
"Sign out" on a shared computer the next person clicks "Sign in" and managed login answers without
a password; and since that session's tokens carry the original `auth_time`, which `signed_out()`
refuses, the user who signed out and wants back in is refused ("sign-in failed") until the managed
login session lapses: either the sign-out did not end the browser's session, or it locks the
user out. Fixed in this branch (`routes.sign_out`: managed login's /logout when it is configured)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlparse

import pytest

from billing.service.dashboard import DashboardSessions
from tests.unit.test_dashboard_security import CLIENT, FakeExchange, World, token

MANAGED_LOGIN = "https://rp-1-eu-west-1.auth.eu-west-1.amazoncognito.com"


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def managed(world: World) -> tuple[World, FakeExchange]:
    """The dashboard as on AWS: managed login, no password form (as test_dashboard_security's)."""
    exchange = FakeExchange()
    world.deps = replace(
        world.deps,
        sessions=DashboardSessions(world.verifier, world.members, None, exchange),
        managed_login_url=MANAGED_LOGIN,
        password_sign_in=False,
    )
    return world, exchange


def test_signing_out_after_managed_login_ends_the_managed_login_session_too(managed: tuple[World, FakeExchange]) -> None:
    world, _ = managed
    # Given an owner signed in through managed login
    session = token()
    # When they sign out
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": world.csrf(session)})
    # Then the browser goes to managed login's logout endpoint, which comes back to the sign-in page
    assert out.status in (302, 303)
    location = urlparse(out.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == MANAGED_LOGIN
    assert location.path == "/logout"
    query = dict(parse_qsl(location.query))
    assert query["client_id"] == CLIENT and query["logout_uri"] == "https://localhost/dashboard/sign-in"
    # And the session cookie is cleared on the way
    assert any(c.startswith("dashboard_session=;") and "Max-Age=0" in c for c in out.cookies)


def test_without_managed_login_sign_out_lands_on_the_sign_in_page(world: World) -> None:
    # (holds) the local runtime: no managed login, the dashboard's own sign-in page
    session = world.session_of(world.sign_in("owner@a.example", world.password_a))
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": world.csrf(session)})
    assert out.status == 303 and out.headers["Location"] == "/dashboard/sign-in"


def test_one_users_sign_out_leaves_another_users_session_alone(world: World) -> None:
    # (holds) signed_out_at is on the signing-out user's row only
    owner = world.session_of(world.sign_in("owner@a.example", world.password_a))
    viewer = world.session_of(world.sign_in("viewer@a.example", world.password_viewer))
    assert world.request("POST", "/dashboard/sign-out", owner, {"csrf": world.csrf(owner)}).status == 303
    assert world.request("GET", "/dashboard/overview", viewer).status == 200
    assert world.request("GET", "/dashboard/overview", owner).status == 303
