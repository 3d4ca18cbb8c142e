"""Review 25: sessions and tokens, as an attacker and as a careless merchant would try them: a
demoted owner's still-valid token, a signed-out session's token replayed, `alg: none`, a token
naming another merchant than the one its user belongs to, an unknown key id, every Set-Cookie's
flags, CSRF tokens of the wrong kind, origins that are not this site, and the security headers
on every kind of response (errors, static files, a bug)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import replace

import pytest

from billing.dashboard import routes
from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.domain.dashboard_users import Member
from tests.unit.test_dashboard_security import CLIENT, ISSUER, Clock, World, token


@pytest.fixture
def world() -> World:
    return World()


def invited(world: World) -> bool:
    return any(e == "new@a.example" for e, _, _ in world.pool.users.values())


# ----------------------------------------------------------------------------- roles that change


def test_a_demoted_owners_still_valid_token_cannot_act(world: World) -> None:
    # Given an owner signed in with an hour-long token that says "owner"
    session = token(sub=world.owner_a.user_id)
    assert world.request("GET", "/dashboard/overview", session).status == 200
    # When they are made a viewer in the merchant's directory (and the pool: the admin API)
    world.members.put("mch_a", replace(world.owner_a, role="viewer"))
    world.pool.users[world.owner_a.user_id] = ("owner@a.example", "mch_a", "viewer")
    # Then an action with their old token is refused as a viewer's, and nothing is invited
    form = {"email": "new@a.example", "role": "owner", "csrf": world.csrf(session)}
    response = world.request("POST", "/dashboard/users", session, form)
    assert response.status == 403 and not invited(world)


def test_a_token_naming_another_merchant_than_its_users_is_refused(world: World) -> None:
    # Given merchant A's owner, and a token of the pool that says they belong to merchant B
    # (as a pool misconfiguration or a writable attribute would give)
    session = token(merchant="mch_b", sub=world.owner_a.user_id)
    # Then it opens nothing: the user is not in B's directory
    response = world.request("GET", "/dashboard/overview", session)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/sign-in"


# ----------------------------------------------------------------------------- sign-out


def test_a_signed_out_sessions_token_no_longer_opens_the_dashboard(world: World) -> None:
    # Given an owner signed in with e-mail and password, whose session someone copied
    session = world.session_of(world.sign_in("owner@a.example", world.password_a))
    # When the owner signs out
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": world.csrf(session)})
    assert out.status == 303
    # Then the copied token opens nothing any more
    response = world.request("GET", "/dashboard/overview", session)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/sign-in"


# ----------------------------------------------------------------------------- tokens


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: _unsigned({"alg": "none", "kid": "k1"}, _claims()), id="alg none"),
        pytest.param(lambda: _unsigned({"alg": "RS256", "kid": "k1"}, _claims()), id="no signature"),
        pytest.param(lambda: token().rsplit(".", 1)[0] + ".", id="signature stripped"),
        pytest.param(lambda: token(sub=""), id="empty sub"),
        pytest.param(lambda: token(email=None), id="no e-mail"),
        pytest.param(lambda: token(aud=["another"]), id="aud a list without the client"),
        pytest.param(lambda: token(iss=ISSUER + "/"), id="issuer with a trailing slash"),
        pytest.param(lambda: token(exp=None), id="no expiry"),
        pytest.param(lambda: token(nbf=int(time.time()) + 3600), id="not yet valid"),
    ],
)
def test_more_bad_tokens_are_refused(world: World, bad: object) -> None:
    response = world.request("GET", "/dashboard/overview", bad())  # type: ignore[operator]
    assert response.status == 303 and response.headers["Location"] == "/dashboard/sign-in"


def _claims() -> dict[str, object]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "token_use": "id", "sub": "u-owner", "email": "u-owner@example.com",
            "custom:merchant_id": "mch_a", "custom:role": "owner", "iat": now, "exp": now + 3600}  # fmt: skip


def test_unknown_key_ids_do_not_make_every_request_a_fetch(world: World) -> None:
    from joserfc.jwk import RSAKey

    stranger = RSAKey.generate_key(2048, parameters={"kid": "k-unknown", "alg": "RS256"})
    assert world.request("GET", "/dashboard/overview", token()).status == 200
    for _ in range(5):
        assert world.request("GET", "/dashboard/overview", token(key=stranger)).status == 303
    assert world.verifier.fetches == 1


# ----------------------------------------------------------------------------- cookies


def test_every_set_cookie_has_httponly_secure_samesite_and_the_dashboards_path(world: World) -> None:
    session = token()
    answers = [
        world.request("GET", "/dashboard/sign-in?lang=lt"),
        world.sign_in("owner@a.example", world.password_a),
        world.sign_in("owner@a.example", "wrong"),
        world.request("GET", "/dashboard/overview?lang=en", session),
        world.request("GET", "/dashboard/overview", "junk"),
        world.request("POST", "/dashboard/sign-out", session, {"csrf": world.csrf(session)}),
    ]
    cookies = [c for a in answers for c in a.cookies]
    assert len(cookies) >= 6
    for cookie in cookies:
        flags = {part.strip().split("=")[0] for part in cookie.split(";")[1:]}
        assert {"HttpOnly", "Secure", "SameSite", "Path"} <= flags, cookie
        assert "Path=/dashboard" in cookie and "SameSite=Lax" in cookie and "Domain" not in cookie


def test_a_session_cookie_planted_before_sign_in_is_replaced(world: World) -> None:
    # Given a browser carrying a session cookie someone planted (session fixation)
    planted = token(sub=world.viewer_a.user_id, role="viewer")
    page = world.request("GET", "/dashboard/sign-in", Cookie=f"dashboard_session={planted}")
    pre = next(c for c in page.cookies if c.startswith("dashboard_pre=")).split(";")[0].split("=", 1)[1]
    csrf = page.body.split('name="csrf" value="')[1].split('"')[0]
    # When the owner signs in there
    form = {"email": "owner@a.example", "password": world.password_a, "csrf": csrf}
    response = world.request("POST", "/dashboard/sign-in", form=form, Cookie=f"dashboard_pre={pre}; dashboard_session={planted}")
    # Then the session is the owner's own new token, not the planted one
    assert world.session_of(response) not in ("", planted)


# ----------------------------------------------------------------------------- CSRF and origins


def test_the_sign_in_forms_token_is_not_an_actions_token(world: World) -> None:
    session = token()
    page = world.request("GET", "/dashboard/sign-in")
    pre_token = page.body.split('name="csrf" value="')[1].split('"')[0]
    pre = next(c for c in page.cookies if c.startswith("dashboard_pre=")).split(";")[0].split("=", 1)[1]
    response = world.request(
        "POST",
        "/dashboard/users",
        session,
        {"email": "new@a.example", "role": "owner", "csrf": pre_token},
        Cookie=f"dashboard_pre={pre}",
    )
    assert response.status == 403 and not invited(world)


def test_another_users_csrf_token_is_refused(world: World) -> None:
    session, other = token(sub=world.owner_a.user_id), token(sub="u-owner")
    form = {"email": "new@a.example", "role": "owner", "csrf": world.csrf(other)}
    assert world.request("POST", "/dashboard/users", session, form).status == 403 and not invited(world)


@pytest.mark.parametrize("origin", ["null", "https://localhost.evil.example", "http://evil.example", "https://localhost:444"])
def test_an_action_from_an_origin_not_this_site_is_refused(world: World, origin: str) -> None:
    session = token()
    form = {"email": "new@a.example", "role": "owner", "csrf": world.csrf(session)}
    assert world.request("POST", "/dashboard/users", session, form, Origin=origin).status == 403 and not invited(world)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "multipart/form-data; boundary=x"])
def test_a_post_of_another_content_type_without_the_token_changes_nothing(world: World, content_type: str) -> None:
    session = token()
    headers = {"Host": "localhost", "Cookie": f"dashboard_session={session}", "Content-Type": content_type}
    body = json.dumps({"email": "new@a.example", "role": "owner"})
    response = world.gateway.request("POST", "/dashboard/users", headers, body)
    assert response.status == 403 and not invited(world)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/dashboard/sign-out", 404),
        ("/dashboard/users/u-1/remove", 200),  # u-1 exists: its removal's confirmation page, which removes nothing
        ("/dashboard/api-keys/k/revoke", 404),
        ("/dashboard/mandates/m/cancel", 404),
    ],
)
def test_a_get_of_an_action_changes_nothing_and_carries_the_headers(world: World, path: str, status: int) -> None:
    session = token()
    before = (len(world.billing.repo.commits), dict(world.pool.users), world.members.list("mch_a"))
    response = world.request("GET", path, session, **{"X-HTTP-Method-Override": "POST"})
    assert response.status == status
    assert (len(world.billing.repo.commits), dict(world.pool.users), world.members.list("mch_a")) == before
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


# ----------------------------------------------------------------------------- headers on everything


def test_the_security_headers_are_on_static_files_errors_and_a_bug(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    session = token()
    answers = {
        "css": world.request("GET", "/dashboard/static/dashboard.css"),
        "js": world.request("GET", "/dashboard/static/mandates.js"),
        "404 signed out": world.request("GET", "/dashboard/nothing"),
        "401 post signed out": world.request("POST", "/dashboard/users", None, {"email": "x"}),
    }

    def boom(*_: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(routes.render, "overview_page", boom)
    answers["500"] = world.request("GET", "/dashboard/overview", session)
    assert answers["500"].status == 500
    for name, answer in answers.items():
        assert answer.headers.get("Content-Security-Policy") == CONTENT_SECURITY_POLICY, name
        assert answer.headers.get("X-Frame-Options") == "DENY" and answer.headers.get("X-Content-Type-Options") == "nosniff"
        assert "a bug" not in answer.body and session not in answer.body, name


def test_no_page_shows_the_session_token(world: World) -> None:
    session = token()
    for path in ("/dashboard/overview", "/dashboard/users", "/dashboard/settings", "/dashboard/api-keys", "/dashboard/webhooks"):
        body = world.request("GET", path, session).body
        assert session not in body and session.split(".")[2] not in body, path


def test_a_member_added_to_the_directory_of_the_token_merchant_only(world: World) -> None:
    # A user of merchant B whose token (rightly) says B cannot see A by adding A's claim; the
    # directory of A has no such user: refused, as a foreign token
    world.members.put("mch_b", Member("u-b2", "b2@b.example", "owner", Clock().now()))
    assert world.request("GET", "/dashboard/overview", token(merchant="mch_a", sub="u-b2")).status == 303
