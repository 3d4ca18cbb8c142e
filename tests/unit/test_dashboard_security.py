"""The dashboard's security, through its real routes and the real token verifier (joserfc against
a key set the test publishes), with fakes for the user pool and the merchant's directory:
forged, expired, another pool's or client's tokens are refused; cookies carry their flags; every
form needs the session's CSRF token; every page has the strict CSP; a viewer's action is 403;
another merchant's user is 404."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from billing.bootstrap import DashboardDeps, build_use_cases
from billing.dashboard import routes, site
from billing.dashboard.headers import CONTENT_SECURITY_POLICY
from billing.domain.dashboard_users import Member, MembersChanged, PoolUser, Role
from billing.domain.errors import InvalidState
from billing.service.dashboard import DashboardSessions, DashboardUsers
from billing.service.figures import FigureKeeper
from billing.service.links import ApprovalLinks
from billing.service.ports import SignInRefused, WebhookPorts
from billing.settings import Settings
from devtools.gateway import ApiGateway, HttpResponse
from devtools.lambda_runtime import FakeContext
from tests.fakes import (
    FakeDestinations,
    FakeExportFiles,
    FakeExportQueue,
    FakeIdempotency,
    FakeSecretBox,
    FakeSender,
    FakeSlots,
    FakeWebhookQueue,
    InMemoryRepository,
)
from tests.figure_fakes import InMemoryFigureStore
from tests.world import World as Billing

REGION, POOL, CLIENT = "eu-west-1", "eu-west-1_pool", "client-1"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
FORGER = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})  # same kid, not the pool's


def token(merchant: str = "mch_a", role: str = "owner", sub: str = "u-owner", key: RSAKey = KEY, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": CLIENT,
        "token_use": "id",
        "sub": sub,
        "email": f"{sub}@example.com",
        "custom:merchant_id": merchant,
        "custom:role": role,
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, payload, key)


class Clock:
    def now(self) -> datetime:
        return datetime(2026, 12, 1, tzinfo=timezone.utc)


@dataclass
class FakePool:
    users: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # sub -> (email, merchant, role)
    passwords: dict[str, tuple[str, str]] = field(default_factory=dict)  # email -> (password, sub)
    signed_out: list[str] = field(default_factory=list)  # global sign-outs (the users' addresses), in order

    def create_user(self, email: str, merchant_id: str, role: str, password: str | None = None) -> str:
        if any(e == email for e, _, _ in self.users.values()):
            raise InvalidState("A user with this e-mail address already exists.")
        sub = f"u-{len(self.users) + 1}"
        self.users[sub] = (email, merchant_id, role)
        if password:
            self.passwords[email] = (password, sub)
        return sub

    def delete_user(self, user_id: str) -> None:
        self.users.pop(user_id, None)

    def user(self, username: str) -> PoolUser | None:  # by e-mail or sub; this pool keeps no creation time
        for sub, (email, merchant, _) in self.users.items():
            if username in (sub, email):
                return PoolUser(sub, email, merchant)
        return None

    def set_role(self, user_id: str, role: str) -> None:  # a user the pool lost: nothing to do (as Cognito's adapter)
        if user_id in self.users:
            email, merchant, _ = self.users[user_id]
            self.users[user_id] = (email, merchant, role)

    def sign_out(self, user_id: str) -> None:  # by the sub; recorded by the address the pool holds for it
        if user_id in self.users:
            self.signed_out.append(self.users[user_id][0])

    def sign_in(self, email: str, password: str) -> str:  # PasswordSignIn: the pool mints the token
        known = self.passwords.get(email)
        if known is None or known[0] != password:
            raise SignInRefused("NotAuthorizedException")
        _, merchant, role = self.users[known[1]]
        return token(merchant, role, known[1], email=email)


@dataclass
class FakeMembers:
    rows: dict[tuple[str, str], Member] = field(default_factory=dict)

    def list(self, merchant_id: str) -> list[Member]:
        return [m for (merchant, _), m in self.rows.items() if merchant == merchant_id]

    def get(self, merchant_id: str, user_id: str) -> Member | None:
        return self.rows.get((merchant_id, user_id))

    def put(self, merchant_id: str, member: Member) -> None:
        self.rows[(merchant_id, member.user_id)] = member

    def delete(self, merchant_id: str, user_id: str) -> None:
        self.rows.pop((merchant_id, user_id), None)

    def add(self, merchant_id: str, member: Member, owners: tuple[str, ...]) -> None:
        """As DynamoDB's transaction: no row of that id and each of `owners` an owner, then the put."""
        if (merchant_id, member.user_id) in self.rows or any(
            getattr(self.rows.get((merchant_id, o)), "role", None) != "owner" for o in owners
        ):
            raise MembersChanged("The merchant's users changed meanwhile: no one was invited. Reload and try again.")
        self.put(merchant_id, member)

    def change(self, merchant_id: str, user_id: str, role: Role | None, owners: tuple[str, ...]) -> None:
        """As DynamoDB's transaction: every condition checked, then the one write (or none)."""
        if (merchant_id, user_id) not in self.rows or any(
            getattr(self.rows.get((merchant_id, o)), "role", None) != "owner" for o in owners
        ):
            raise MembersChanged("The merchant's users changed meanwhile: nothing was changed. Reload and try again.")
        if role is None:
            del self.rows[(merchant_id, user_id)]
        else:
            self.rows[(merchant_id, user_id)] = replace(self.rows[(merchant_id, user_id)], role=role)

    def signed_out(self, merchant_id: str, user_id: str, at: datetime) -> None:
        if (merchant_id, user_id) in self.rows:
            self.rows[(merchant_id, user_id)] = replace(self.rows[(merchant_id, user_id)], signed_out_at=at)


class World:
    def __init__(self) -> None:
        from billing.adapters.cognito import CognitoTokenVerifier

        self.pool, self.members, self.idempotency = FakePool(), FakeMembers(), FakeIdempotency()
        self.export_queue, self.export_files = FakeExportQueue(), FakeExportFiles()
        self.webhook_queue, self.secret_box = FakeWebhookQueue(), FakeSecretBox()
        webhook_ports = WebhookPorts(
            box=self.secret_box,
            destinations=FakeDestinations({"rebound.example"}),
            queue=self.webhook_queue,
            slots=FakeSlots(),
            sender=FakeSender(),
            random_bytes=os.urandom,
            wall_clock=time.time,
        )
        self.billing = Billing()
        self.jwks = KeySet([KEY]).as_dict(private=False)
        self.verifier = CognitoTokenVerifier(REGION, POOL, lambda: CLIENT, fetch=self._fetch)
        self.users = DashboardUsers(self.pool, self.members, Clock())
        settings = Settings(
            table_name="t",
            public_base_url="https://localhost",
            dashboard_user_pool_id=POOL,
            dashboard_client_id=CLIENT,
            dashboard_password_sign_in=True,
        )
        self.deps = DashboardDeps(
            settings=settings,
            clock=Clock(),
            signing_key=lambda: b"k" * 32,
            sessions=DashboardSessions(self.verifier, self.members, self.pool),
            users=lambda: self.users,
            client_id=lambda: CLIENT,
            managed_login_url="",
            password_sign_in=True,
            figures=lambda: FigureKeeper(InMemoryRepository(), InMemoryFigureStore()),  # no figures yet
            # The merchant's objects: the API's use cases on the in-memory billing world (merchant mch_a)
            use_cases=lambda links: build_use_cases(
                settings,
                self.billing.repo,
                self.billing.clock,
                self.billing.ids,
                links,
                webhook_ports=lambda: webhook_ports,
                export_ports=lambda: (self.export_queue, self.export_files),
            ),
            approval_links=lambda base_url: ApprovalLinks(b"k" * 32, base_url),
            idempotency=lambda: self.idempotency,
        )
        app = site.resolver()  # the function's own routes and error pages

        def handle(event: dict[str, Any]) -> Any:
            app.append_context(deps=self.deps)  # type: ignore[no-untyped-call]
            return app.resolve(event, FakeContext("DashboardFunction"))

        self.gateway = ApiGateway(authorizer=lambda e: {}, routes=[("/dashboard", handle, False)], clock=time.time)
        # Two merchants, each with an owner; merchant A also has a viewer.
        self.owner_a, self.password_a = self.users.create_owner("mch_a", "owner@a.example")
        self.viewer_a, self.password_viewer = self.users.create_owner("mch_a", "viewer@a.example", role="viewer")
        self.owner_b, self.password_b = self.users.create_owner("mch_b", "owner@b.example")
        # The default token's user (sub u-owner), an owner of merchant A
        self.members.put("mch_a", Member("u-owner", "u-owner@example.com", "owner", Clock().now()))

    def _fetch(self, url: str) -> dict[str, Any]:
        assert url == f"{ISSUER}/.well-known/jwks.json"
        return self.jwks

    def request(
        self, method: str, path: str, session: str | None = None, form: dict[str, str] | None = None, **headers: str
    ) -> HttpResponse:
        all_headers = {"Host": "localhost", **headers}
        if session is not None:
            all_headers["Cookie"] = f"dashboard_session={session}; " + all_headers.get("Cookie", "")
        body = None
        if form is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(form)
        return self.gateway.request(method, path, all_headers, body)

    def sign_in(self, email: str, password: str) -> HttpResponse:
        page = self.request("GET", "/dashboard/sign-in")
        pre = next(c for c in page.cookies if c.startswith("dashboard_pre=")).split(";")[0].split("=", 1)[1]
        csrf = page.body.split('name="csrf" value="')[1].split('"')[0]
        return self.request(
            "POST", "/dashboard/sign-in", form={"email": email, "password": password, "csrf": csrf}, Cookie=f"dashboard_pre={pre}"
        )

    def session_of(self, response: HttpResponse) -> str:
        cookie = next(c for c in response.cookies if c.startswith("dashboard_session="))
        return cookie.split(";")[0].split("=", 1)[1]

    def csrf(self, session: str) -> str:
        page = self.request("GET", "/dashboard/users", session)
        assert page.status == 200, page.body
        return page.body.split('name="csrf" value="')[1].split('"')[0]


OWNER = token()  # an owner of mch_a (the billing world's merchant)


def viewer(world: World) -> str:
    """A signed-in viewer of mch_a."""
    return token(role="viewer", sub=world.viewer_a.user_id)


def owner_b(world: World) -> str:
    """A signed-in owner of mch_b (another merchant)."""
    return token(merchant="mch_b", sub=world.owner_b.user_id)


@pytest.fixture
def world() -> World:
    return World()


# ----------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(key=FORGER), id="forged (another key, same kid)"),
        pytest.param(lambda: token(exp=int(time.time()) - 120), id="expired"),
        pytest.param(lambda: token(iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other"), id="another pool"),
        pytest.param(lambda: token(aud="another-client"), id="another client"),
        pytest.param(lambda: token(token_use="access"), id="an access token"),
        pytest.param(lambda: token(merchant="not-a-merchant"), id="no merchant"),
        pytest.param(lambda: token(role="admin"), id="an unknown role"),
        pytest.param(lambda: token()[:-4] + "AAAA", id="signature altered"),
        pytest.param(
            lambda: jwt.encode(
                {"alg": "HS256"},
                {"iss": ISSUER, "aud": CLIENT, "token_use": "id", "sub": "x", "exp": int(time.time()) + 60},
                OctKey.import_key(b"k" * 32),
            ),
            id="HS256",
        ),
        pytest.param(lambda: "not.a.token", id="junk"),
    ],
)
def test_a_forged_expired_or_foreign_token_is_refused(world: World, bad: Any) -> None:
    # Given a cookie holding a token the pool did not issue for this dashboard (or no longer valid)
    # When a page is asked for with it
    response = world.request("GET", "/dashboard/overview", bad())
    # Then the browser is sent to sign in, and its cookie is cleared
    assert response.status == 303 and response.headers["Location"] == "/dashboard/sign-in"
    assert any(c.startswith("dashboard_session=;") and "Max-Age=0" in c for c in response.cookies)


def test_a_valid_token_opens_the_shell_and_the_keys_are_fetched_once(world: World) -> None:
    for _ in range(5):
        response = world.request("GET", "/dashboard/overview", token())
        assert response.status == 200 and 'aria-current="page">Overview' in response.body
    assert world.verifier.fetches == 1


# ----------------------------------------------------------------------------- sign-in and cookies


def test_sign_in_sets_a_session_cookie_with_the_right_flags_and_sign_out_clears_it(world: World) -> None:
    # When the owner signs in with the e-mail and password
    response = world.sign_in("owner@a.example", world.password_a)
    # Then the session cookie is HttpOnly, Secure, SameSite=Lax, for /dashboard only, an hour long
    assert response.status == 303 and response.headers["Location"] == "/dashboard/overview"
    [cookie] = [c for c in response.cookies if c.startswith("dashboard_session=")]
    flags = [part.strip() for part in cookie.split(";")[1:]]
    assert set(flags) == {"Path=/dashboard", "Max-Age=3600", "HttpOnly", "Secure", "SameSite=Lax"}
    session = world.session_of(response)
    assert "owner@a.example" in world.request("GET", "/dashboard/overview", session).body
    # And signing out clears it (with the session's CSRF token)
    out = world.request("POST", "/dashboard/sign-out", session, {"csrf": world.csrf(session)})
    assert out.status == 303 and any(c.startswith("dashboard_session=;") and "Max-Age=0" in c for c in out.cookies)
    # And the pool signs the user out everywhere (their refresh tokens), and a sign-in after it opens the pages
    assert world.pool.signed_out == ["owner@a.example"]
    later = token(sub=world.owner_a.user_id, email="owner@a.example", auth_time=int(time.time()) + 2)
    assert world.request("GET", "/dashboard/overview", later).status == 200
    # While another user of the merchant stays signed in
    assert world.request("GET", "/dashboard/overview", token()).status == 200


def test_a_wrong_password_is_refused_without_a_session(world: World) -> None:
    response = world.sign_in("owner@a.example", "wrong")
    assert response.status == 401 and "not right" in response.body
    assert not any(c.startswith("dashboard_session=") for c in response.cookies)


def test_the_sign_in_form_needs_its_own_csrf_token(world: World) -> None:
    # A form posted from elsewhere has no pre-session cookie and token pair (login CSRF)
    form = {"email": "owner@a.example", "password": world.password_a, "csrf": "0" * 48}
    response = world.request("POST", "/dashboard/sign-in", form=form, Cookie="dashboard_pre=abc")
    assert response.status == 403 and not any(c.startswith("dashboard_session=") for c in response.cookies)


# ----------------------------------------------------------------------------- CSRF, CSP, roles, merchants


@pytest.mark.parametrize("csrf", [None, "", "0" * 48, "other-session"])
def test_an_action_without_the_sessions_csrf_token_is_refused(world: World, csrf: str | None) -> None:
    session = token()
    if csrf == "other-session":  # the token of another session of the same user
        csrf = world.csrf(token(jti="another"))
    form = {"email": "new@a.example", "role": "viewer"} | ({"csrf": csrf} if csrf is not None else {})
    response = world.request("POST", "/dashboard/users", session, form)
    assert response.status == 403 and "form expired" in response.body
    assert not any(e == "new@a.example" for e, _, _ in world.pool.users.values())


def test_a_form_over_the_limit_is_a_413_page_not_an_expired_form(world: World) -> None:
    # Given an owner's form with its CSRF token last, 10,001 characters in all (cut off, the token was lost)
    session = token()
    csrf = world.csrf(session)
    head = "email=new%40a.example&role=viewer&pad="
    tail = f"&csrf={csrf}"
    body = head + "x" * (routes.MAX_FORM_BYTES + 1 - len(head) - len(tail)) + tail
    assert len(body) == routes.MAX_FORM_BYTES + 1
    headers = {"Host": "localhost", "Cookie": f"dashboard_session={session}", "Content-Type": "application/x-www-form-urlencoded"}
    # When it is posted
    response = world.gateway.request("POST", "/dashboard/users", headers, body)
    # Then the page says it is too large (not that it expired), and nothing is invited
    assert response.status == 413 and "too large" in response.body and "form expired" not in response.body
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert not any(e == "new@a.example" for e, _, _ in world.pool.users.values())
    # And the same form at the limit is read whole
    at_limit = body.replace("x", "", 1)
    assert world.gateway.request("POST", "/dashboard/users", headers, at_limit).status == 303


def test_an_action_from_another_origin_is_refused_even_with_the_token(world: World) -> None:
    session = token()
    form = {"email": "new@a.example", "role": "viewer", "csrf": world.csrf(session)}
    response = world.request("POST", "/dashboard/users", session, form, Origin="https://evil.example")
    assert response.status == 403 and "new@a.example" not in str(world.pool.users)


def test_every_page_has_the_strict_content_security_policy(world: World) -> None:
    session = token()
    answers = [
        world.request("GET", "/dashboard/sign-in"),
        world.request("GET", "/dashboard/overview", session),
        world.request("GET", "/dashboard/users", session),
        world.request("GET", "/dashboard/users?lang=lt", session),
        world.request("GET", "/dashboard/no-such-page", session),
        world.request("GET", "/dashboard/overview"),  # redirect to sign in
        world.request("POST", "/dashboard/users", session, {"email": "x@a.example"}),  # 403
        world.sign_in("owner@a.example", "wrong"),
    ]
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "default-src 'self'" in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
        assert "<script" not in answer.body and "style=" not in answer.body  # nothing inline to allow


def test_an_owner_invites_and_removes_users_of_their_merchant(world: World) -> None:
    session = token(sub=world.owner_a.user_id)
    invited = world.request(
        "POST", "/dashboard/users", session, {"email": "New@A.example ", "role": "viewer", "csrf": world.csrf(session)}
    )
    assert invited.status == 303 and invited.headers["Location"] == "/dashboard/users?done=invited"
    [new] = [m for m in world.members.list("mch_a") if m.email == "new@a.example"]
    assert world.pool.users[new.user_id] == ("new@a.example", "mch_a", "viewer")
    removed = world.request("POST", f"/dashboard/users/{new.user_id}/remove", session, {"csrf": world.csrf(session)})
    assert removed.status == 303 and new.user_id not in world.pool.users and world.members.get("mch_a", new.user_id) is None


@pytest.mark.parametrize("action", ["invite", "remove"])
def test_a_viewers_action_is_403_and_changes_nothing(world: World, action: str) -> None:
    session = token(role="viewer", sub=world.viewer_a.user_id)
    before = dict(world.pool.users)
    if action == "invite":
        response = world.request(
            "POST", "/dashboard/users", session, {"email": "x@a.example", "role": "owner", "csrf": world.csrf(session)}
        )
    else:
        response = world.request(
            "POST", f"/dashboard/users/{world.owner_a.user_id}/remove", session, {"csrf": world.csrf(session)}
        )
    assert response.status == 403 and "Only an owner" in response.body
    assert world.pool.users == before
    # And the viewer's page offers no action
    page = world.request("GET", "/dashboard/users", session).body
    assert "/remove" not in page and 'action="/dashboard/users"' not in page


def test_another_merchants_user_is_404_and_is_not_removed(world: World) -> None:
    session = token(sub=world.owner_a.user_id)
    response = world.request("POST", f"/dashboard/users/{world.owner_b.user_id}/remove", session, {"csrf": world.csrf(session)})
    assert response.status == 404
    assert world.owner_b.user_id in world.pool.users and world.members.get("mch_b", world.owner_b.user_id) is not None
    # And the users page lists only the merchant's own
    assert "owner@b.example" not in world.request("GET", "/dashboard/users", session).body


def test_a_removed_users_session_ends_at_once(world: World) -> None:
    # Given a viewer signed in, whose token stays valid for an hour
    session = token(role="viewer", sub=world.viewer_a.user_id)
    assert world.request("GET", "/dashboard/overview", session).status == 200
    # When an owner removes them
    owner = token(sub=world.owner_a.user_id)
    world.request("POST", f"/dashboard/users/{world.viewer_a.user_id}/remove", owner, {"csrf": world.csrf(owner)})
    # Then their next request is sent to sign in
    response = world.request("GET", "/dashboard/overview", session)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/sign-in"


def test_an_owner_cannot_remove_themselves(world: World) -> None:
    session = token(sub=world.owner_a.user_id)
    response = world.request("POST", f"/dashboard/users/{world.owner_a.user_id}/remove", session, {"csrf": world.csrf(session)})
    assert response.status == 409 and world.owner_a.user_id in world.pool.users


def test_an_invitation_with_a_bad_address_or_role_is_a_422_page(world: World) -> None:
    session = token(sub=world.owner_a.user_id)
    for form in ({"email": "not-an-address", "role": "viewer"}, {"email": "ok@a.example", "role": "admin"}):
        response = world.request("POST", "/dashboard/users", session, form | {"csrf": world.csrf(session)})
        assert response.status == 422 and "Please check the form" in response.body


def test_the_shell_speaks_lithuanian_and_remembers_it(world: World) -> None:
    session = token()
    switched = world.request("GET", "/dashboard/overview?lang=lt", session)
    assert 'lang="lt"' in switched.body and "Apžvalga" in switched.body and "Atsijungti" in switched.body
    [remembered] = [c for c in switched.cookies if c.startswith("dashboard_lang=lt")]
    assert "HttpOnly" in remembered and "Path=/dashboard" in remembered
    again = world.request("GET", "/dashboard/users", session, Cookie="dashboard_lang=lt")
    assert "Naudotojai" in again.body


def test_values_from_data_are_escaped(world: World) -> None:
    world.members.put("mch_a", replace(world.owner_a, user_id="u-x", email="<script>alert(1)</script>@a.example"))
    body = world.request("GET", "/dashboard/users", token()).body
    assert "<script>alert(1)" not in body and "&lt;script&gt;" in body


# ----------------------------------------------------------------------------- managed login (AWS)


class FakeExchange:
    """The pool's token endpoint: a code is good once, for the verifier whose S256 challenge it was given."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, id token)
        self.asked: list[tuple[str, str, str]] = []

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        import base64
        import hashlib

        self.asked.append((code, verifier, redirect_uri))
        challenge, id_token = self.codes.pop(code, ("", ""))
        if base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode() != challenge:
            raise SignInRefused("invalid_grant")
        return id_token


@pytest.fixture
def managed(world: World) -> tuple[World, FakeExchange]:
    exchange = FakeExchange()
    world.deps = replace(
        world.deps,
        sessions=DashboardSessions(world.verifier, world.members, None, exchange),
        managed_login_url="https://rp-1-eu-west-1.auth.eu-west-1.amazoncognito.com",
        password_sign_in=False,
    )
    return world, exchange


def authorize(world: World) -> tuple[str, dict[str, str]]:
    """The sign-in page's link to managed login: (the pre-session cookie, the query it carries)."""
    from urllib.parse import parse_qsl, urlparse

    page = world.request("GET", "/dashboard/sign-in")
    pre = next(c for c in page.cookies if c.startswith("dashboard_pre=")).split(";")[0].split("=", 1)[1]
    link = page.body.split('class="button" href="')[1].split('"')[0].replace("&amp;", "&")
    assert link.startswith("https://rp-1-eu-west-1.auth.eu-west-1.amazoncognito.com/oauth2/authorize?")
    assert "<form" not in page.body  # no password typed on AWS but on managed login
    return pre, dict(parse_qsl(urlparse(link).query))


def test_managed_login_signs_in_with_the_code_state_and_pkce(managed: tuple[World, FakeExchange]) -> None:
    world, exchange = managed
    # Given the browser sent to managed login with a state and an S256 challenge
    pre, query = authorize(world)
    assert query["response_type"] == "code" and query["client_id"] == CLIENT and query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == "https://localhost/dashboard/callback" and query["scope"] == "openid email"
    exchange.codes["code-1"] = (query["code_challenge"], token())
    # When the pool sends it back with the code and the state
    back = world.request("GET", f"/dashboard/callback?code=code-1&state={query['state']}", Cookie=f"dashboard_pre={pre}")
    # Then the code was exchanged with the verifier and the session is set
    assert back.status == 303 and back.headers["Location"] == "/dashboard/overview"
    assert any(c.startswith("dashboard_session=") for c in back.cookies)
    # And the password form is not offered
    assert world.request("POST", "/dashboard/sign-in", form={"email": "a", "password": "b", "csrf": "c"}).status == 404


@pytest.mark.parametrize("case", ["wrong state", "no pre-session", "another browser's pre-session", "code refused"])
def test_managed_login_refuses_a_callback_not_started_by_this_browser(managed: tuple[World, FakeExchange], case: str) -> None:
    world, exchange = managed
    pre, query = authorize(world)
    exchange.codes["code-1"] = (query["code_challenge"], token())
    state, cookie = query["state"], f"dashboard_pre={pre}"
    if case == "wrong state":
        state = "0" * 32
    elif case == "no pre-session":
        cookie = ""
    elif case == "another browser's pre-session":
        cookie = f"dashboard_pre={authorize(world)[0]}"
    elif case == "code refused":
        exchange.codes["code-1"] = ("another challenge", token())
    back = world.request("GET", f"/dashboard/callback?code=code-1&state={state}", Cookie=cookie)
    assert back.status in (400, 401) and not any(c.startswith("dashboard_session=") for c in back.cookies)
