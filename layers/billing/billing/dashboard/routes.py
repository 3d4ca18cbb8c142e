"""The dashboard's routes (/dashboard): sign-in (managed login on AWS; e-mail and password where
the pool allows it, the local runtime), sign-out, the shell's pages and the merchant's users.

Every page needs a session (`signed_in`: the cookie's ID token verified again); every
state-changing request goes through `act`: same origin, the session's CSRF token, then the
role (a viewer's action is 403): the one place the dashboard's actions are guarded. Objects are
read in the signed-in user's merchant only, so another merchant's id is 404. Every response
carries the strict security headers (`headers.py`).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlparse

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.shared.cookies import Cookie
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from ..domain.dashboard_users import DashboardUser, Forbidden, require_owner
from ..domain.errors import InvalidState, NotFound, ValidationFailed
from ..domain.figures import CurrencyOverview
from ..http import public_base_url
from ..observability import logger, metrics
from ..service.dashboard import DashboardSessions, DashboardUsers, PoolSignOutFailed
from ..service.links import Purpose, signature
from ..service.ports import Clock, Idempotency, InvalidToken, Links, NewPasswordRequired, Page, SignInRefused
from ..service.use_cases import UseCases
from ..settings import Settings
from . import render, sessions
from .headers import security_headers
from .render import Frame
from .texts import Lang, pick_language, text

MAX_FORM_BYTES = 10_000
SESSION_SECONDS = 3600  # the pool's ID token validity (template.yaml: IdTokenValidity, minutes)
PRE_SESSION_SECONDS = 900

router = Router()  # type: ignore[no-untyped-call]  # Powertools leaves it unannotated


class DashboardDeps(Protocol):
    """What the dashboard uses of the process's dependencies (`bootstrap.DashboardDeps`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def signing_key(self) -> Callable[[], bytes]: ...

    @property
    def sessions(self) -> DashboardSessions: ...

    @property
    def users(self) -> Callable[[], DashboardUsers]: ...

    @property
    def client_id(self) -> Callable[[], str]: ...

    @property
    def managed_login_url(self) -> str: ...

    @property
    def password_sign_in(self) -> bool: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def figures(self) -> Callable[[], FigureReader]: ...

    @property
    def use_cases(self) -> Callable[[Links], UseCases]: ...

    @property
    def approval_links(self) -> Callable[[str], Links]: ...

    @property
    def idempotency(self) -> Callable[[], Idempotency]:
        """The API's (Powertools on the IdempotencyTable): creation forms sent twice make one object."""


class FigureReader(Protocol):
    """The figures the overview reads (`service.figures.FigureKeeper`): a bounded number of items."""

    def overview(self, merchant_id: str, now: datetime) -> list[CurrencyOverview]: ...


@dataclass(frozen=True)
class Session:
    user: DashboardUser
    token: str
    csrf: str


class SignInNeeded(Exception):
    """No session, or one the pool no longer vouches for."""


class CsrfRefused(Exception):
    """A state-changing request without this session's token (or from another origin)."""


class FormTooLarge(Exception):
    """A form's body over MAX_FORM_BYTES characters: refused whole (413), never cut off."""


def deps() -> DashboardDeps:
    found: DashboardDeps = router.context["deps"]
    return found


def request() -> APIGatewayProxyEvent:
    current: APIGatewayProxyEvent = router.current_event  # type: ignore[assignment]  # a REST API's event
    return current


def base_url() -> str:
    return public_base_url(deps().settings.public_base_url, request().request_context)


def root() -> str:
    """The dashboard's path as the browser sees it (with API Gateway's stage on its own domain)."""
    return f"{urlparse(base_url()).path.rstrip('/')}/dashboard"


def cookie_jar() -> dict[str, str]:
    return sessions.cookies(request().headers.get("Cookie") or request().headers.get("cookie"))


def lang() -> Lang:
    event = request()
    return pick_language(
        event.get_query_string_value("lang"), cookie_jar().get(sessions.LANG_COOKIE), event.headers.get("Accept-Language")
    )


def frame(current: str, session: Session | None, csrf: str = "") -> Frame:
    language = lang()
    other = "lt" if language == "en" else "en"
    path = f"{root()}/{current}" if current else root()
    return Frame(
        language, root(), session.user if session else None, session.csrf if session else csrf, current, f"{path}?lang={other}"
    )


def respond(status: int, body: str, cookies: list[Cookie] | None = None, location: str | None = None) -> Response[str]:
    headers: dict[str, Any] = security_headers()
    all_cookies = list(cookies or [])
    query_lang = request().get_query_string_value("lang")
    if query_lang in ("en", "lt"):  # the language chosen is remembered for the dashboard's pages
        all_cookies.append(sessions.set_cookie(sessions.LANG_COOKIE, query_lang, root(), 365 * 86400))
    if location is not None:
        headers["Location"] = location
    return Response(
        status_code=status, content_type="text/html; charset=utf-8", body=body, headers=headers, cookies=all_cookies or None
    )


def redirect(location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    return respond(303, "", cookies, location)


def message(status: int, heading: str, body: str = "", session: Session | None = None) -> Response[str]:
    return respond(status, render.page("message.html", frame("", session), heading=heading, text=body))


# ----------------------------------------------------------------------------- sessions


def signed_in() -> Session:
    """The request's session, verified by the pool's keys now; else SignInNeeded."""
    token = cookie_jar().get(sessions.SESSION_COOKIE)
    if not token:
        raise SignInNeeded()
    try:
        user = deps().sessions.user(token)
    except InvalidToken as error:
        metrics.add_metric(name="DashboardSessionRefused", unit=MetricUnit.Count, value=1)
        logger.info("dashboard session refused", extra={"reason": str(error)})
        raise SignInNeeded() from error
    return Session(user, token, sessions.csrf_token(deps().signing_key(), token))


def form() -> dict[str, str]:
    event = request()
    body = event.body or ""
    if event.is_base64_encoded:
        body = base64.b64decode(body).decode("utf-8", errors="replace")
    if len(body) > MAX_FORM_BYTES:  # cut off, it would lose its CSRF token or a field: said as it is
        raise FormTooLarge()
    return {k: v[0] for k, v in parse_qs(body).items()}


def same_origin() -> bool:
    """Browsers send Origin on POST; when they do, it must be this site."""
    origin, host = request().headers.get("Origin"), request().headers.get("Host")
    return not origin or urlparse(origin).netloc == (host or "")


def act(owner_only: bool = True) -> tuple[Session, dict[str, str]]:
    """Every state-changing request: a session, same origin, its CSRF token, then the role."""
    session = signed_in()
    fields = form()
    if not same_origin() or not sessions.csrf_valid(deps().signing_key(), session.token, fields.get("csrf", "")):
        raise CsrfRefused()
    if owner_only:
        require_owner(session.user)
    return session, fields


def session_cookie(token: str) -> Cookie:
    return sessions.set_cookie(sessions.SESSION_COOKIE, token, root(), SESSION_SECONDS)


def sign_in_failed(reason: str) -> None:
    metrics.add_metric(name="DashboardSignInFailed", unit=MetricUnit.Count, value=1)
    logger.warning("dashboard sign-in failed", extra={"reason": reason})


def pkce(key: bytes, pre_session: str) -> tuple[str, str, str]:
    """The managed-login round trip's state, PKCE verifier and its S256 challenge, all derived
    from the pre-session cookie (nothing stored)."""
    state = signature(key, Purpose.DASHBOARD_CSRF, b"state|" + pre_session.encode()).hex()[:32]
    verifier = signature(key, Purpose.DASHBOARD_CSRF, b"pkce|" + pre_session.encode()).hex()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return state, verifier, challenge


def callback_url() -> str:
    return f"{base_url()}/dashboard/callback"


# ----------------------------------------------------------------------------- routes


@router.get("/dashboard")
def home() -> Response[str]:
    return redirect(f"{root()}/overview")


@router.get("/dashboard/sign-in")
def sign_in_page(error: str = "", status: int = 200, email: str = "") -> Response[str]:
    key = deps().signing_key()
    pre = sessions.new_pre_session()
    page_cookies = [sessions.set_cookie(sessions.PRE_SESSION_COOKIE, pre, root(), PRE_SESSION_SECONDS)]
    flash = cookie_jar().get(sessions.FLASH_COOKIE)
    if flash is not None:  # said once: cleared whatever it holds
        page_cookies.append(sessions.clear_cookie(sessions.FLASH_COOKIE, root()))
        code = sessions.flash_code(key, flash, int(time.time()))
        if code is not None and not error:
            error = text(lang(), f"sign_in.{code}")
    managed = ""
    if deps().managed_login_url:
        state, _, challenge = pkce(key, pre)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": deps().client_id(),
                "redirect_uri": callback_url(),
                "scope": "openid email",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "lang": lang(),
            }
        )
        managed = f"{deps().managed_login_url.rstrip('/')}/oauth2/authorize?{query}"
    page = render.page(
        "sign_in.html",
        frame("sign-in", None, sessions.pre_session_token(key, pre)),
        managed_login_url=managed,
        password_form=deps().password_sign_in,
        email=email,
        error=error,
    )
    return respond(status, page, page_cookies)


@router.post("/dashboard/sign-in")
def sign_in() -> Response[str]:
    fields = form()
    language = lang()
    if not deps().password_sign_in:
        return message(404, text(language, "error.not_found"), text(language, "error.not_found_text"))
    pre = cookie_jar().get(sessions.PRE_SESSION_COOKIE)
    if not same_origin() or not sessions.pre_session_valid(deps().signing_key(), pre, fields.get("csrf", "")):
        return sign_in_page(text(language, "error.csrf"), 403)
    email = fields.get("email", "")[:254]
    try:
        token, user = deps().sessions.sign_in(email, fields.get("password", "")[:256])
    except NewPasswordRequired as challenge:  # an invitation's temporary password: the user chooses theirs
        return new_password_page(email, challenge.session, fields.get("csrf", ""))
    except (SignInRefused, InvalidToken) as error:
        sign_in_failed(type(error).__name__)
        return sign_in_page(text(language, "sign_in.refused"), 401, email)
    return signed_in_now(token, user)


def signed_in_now(token: str, user: DashboardUser) -> Response[str]:
    logger.info("dashboard sign-in", extra={"merchant_id": user.merchant_id, "user_id": user.user_id, "role": user.role})
    return redirect(f"{root()}/overview", [session_cookie(token), sessions.clear_cookie(sessions.PRE_SESSION_COOKIE, root())])


def new_password_page(email: str, challenge: str, csrf: str, error: str = "", status: int = 200) -> Response[str]:
    page = render.page("new_password.html", frame("sign-in", None, csrf), email=email, challenge=challenge, error=error)
    return respond(status, page)


@router.post("/dashboard/sign-in/new-password")
def choose_password() -> Response[str]:
    """The invited user's own password, then signed in (the local form: managed login does it on AWS)."""
    fields, language = form(), lang()
    if not deps().password_sign_in:
        return message(404, text(language, "error.not_found"), text(language, "error.not_found_text"))
    pre, csrf = cookie_jar().get(sessions.PRE_SESSION_COOKIE), fields.get("csrf", "")
    if not same_origin() or not sessions.pre_session_valid(deps().signing_key(), pre, csrf):
        return sign_in_page(text(language, "error.csrf"), 403)
    email, challenge, password = (
        fields.get("email", "")[:254],
        fields.get("challenge", "")[:4096],
        fields.get("password", "")[:256],
    )
    if password != fields.get("password_again", ""):
        return new_password_page(email, challenge, csrf, text(language, "new_password.mismatch"), 422)
    try:
        token, user = deps().sessions.choose_password(email, challenge, password)
    except (SignInRefused, InvalidToken) as error:
        sign_in_failed(type(error).__name__)
        return sign_in_page(text(language, "new_password.refused"), 401, email)
    return signed_in_now(token, user)


@router.get("/dashboard/callback")
def managed_login_callback() -> Response[str]:
    """Managed login sends the browser back with a code and the state it was given."""
    event, language = request(), lang()
    pre = cookie_jar().get(sessions.PRE_SESSION_COOKIE)
    code, state = event.get_query_string_value("code") or "", event.get_query_string_value("state") or ""
    if not deps().managed_login_url or not pre or not code or len(code) > 2048:
        sign_in_failed("callback without code or pre-session")
        return sign_in_page(text(language, "sign_in.failed"), 400)
    expected_state, verifier, _ = pkce(deps().signing_key(), pre)
    if not sessions.constant_time_equal(state, expected_state):
        sign_in_failed("state mismatch")
        return sign_in_page(text(language, "sign_in.failed"), 400)
    try:
        token, user = deps().sessions.from_managed_login(code, verifier, callback_url())
    except SignInRefused as error:
        sign_in_failed(type(error).__name__)
        return sign_in_page(text(language, "sign_in.failed"), 401)
    except InvalidToken as error:
        # Managed login vouched for someone this dashboard refuses (signed out since managed login's
        # own session began, removed, no merchant): that session ends too, through /logout, else
        # each "Sign in" would answer from it again without a password, and be refused again. The
        # sign-in page it comes back to says why (a flash cookie: /logout carries nothing back).
        sign_in_failed(type(error).__name__)
        return signed_out_of_the_browser(flash="signed_out_or_removed")
    return signed_in_now(token, user)


@router.post("/dashboard/sign-out")
def sign_out() -> Response[str]:
    """Every token the user holds ends (not only this browser's cookie): a copy of it opens nothing.
    Signed in on managed login, the browser also goes through its logout endpoint (the global
    sign-out leaves managed login's own session cookie, which would sign in again without a
    password), which comes back to the sign-in page (the app client's `LogoutURLs`).

    The browser's own sessions end whatever else happens: a session no longer accepted (signed
    out elsewhere, expired, removed) still clears the cookie and goes through /logout (its form
    checked by same origin and, when the cookie is there, the CSRF token derived from it, which
    needs no valid session); the pool's global sign-out failing after the sign-out was recorded is
    logged and counted (`DashboardSignOutFailed`), and the browser is signed out all the same."""
    fields = form()
    token = cookie_jar().get(sessions.SESSION_COOKIE) or ""
    if not same_origin() or (token and not sessions.csrf_valid(deps().signing_key(), token, fields.get("csrf", ""))):
        raise CsrfRefused()
    try:
        user: DashboardUser | None = signed_in().user
    except SignInNeeded:
        user = None  # nothing of the pool's to end from here: this browser's sessions still are
    if user is not None:
        try:
            deps().users().sign_out(user)
        except PoolSignOutFailed:
            metrics.add_metric(name="DashboardSignOutFailed", unit=MetricUnit.Count, value=1)
            logger.exception("dashboard sign-out: the pool's global sign-out failed", extra={"user_id": user.user_id})
    return signed_out_of_the_browser()


def signed_out_of_the_browser(flash: str | None = None) -> Response[str]:
    """The session cookie cleared; after managed login, through its /logout to the sign-in page
    (the URL built from configuration only). `flash`: one of `sessions.FLASHES`, for the sign-in
    page to say once."""
    cookies_out = [
        sessions.clear_cookie(sessions.SESSION_COOKIE, root()),
        sessions.clear_cookie(sessions.PRE_SESSION_COOKIE, root()),
    ]
    if flash is not None:
        value = sessions.flash_value(deps().signing_key(), flash, int(time.time()))
        cookies_out.append(sessions.set_cookie(sessions.FLASH_COOKIE, value, root(), sessions.FLASH_SECONDS))
    if deps().managed_login_url:
        query = urlencode({"client_id": deps().client_id(), "logout_uri": f"{base_url()}/dashboard/sign-in"})
        return redirect(f"{deps().managed_login_url.rstrip('/')}/logout?{query}", cookies_out)
    return redirect(f"{root()}/sign-in", cookies_out)


@router.get("/dashboard/static/dashboard.css")
def stylesheet() -> Response[str]:
    headers: dict[str, Any] = security_headers(cache=True)
    return Response(status_code=200, content_type="text/css; charset=utf-8", body=render.stylesheet(), headers=headers)


@router.get("/dashboard/overview")
def overview() -> Response[str]:
    """The business at a glance, per currency: the figures kept from the event stream, read in a
    bounded number of items (never the merchant's mandates or charges)."""
    session = signed_in()
    now = deps().clock.now()
    figures = deps().figures().overview(session.user.merchant_id, now)
    return respond(200, render.overview_page(frame("overview", session), figures, now))


@router.get("/dashboard/users")
def users() -> Response[str]:
    session = signed_in()
    done = request().get_query_string_value("done")
    notice = text(lang(), f"users.{done}_notice") if done in ("invited", "removed", "role_changed") else ""
    return respond(200, render.users_page(frame("users", session), deps().users().list(session.user), notice=notice))


@router.post("/dashboard/users")
def invite() -> Response[str]:
    session, fields = act()
    try:
        deps().users().invite(session.user, fields.get("email", "")[:254], fields.get("role", ""))
    except (ValidationFailed, InvalidState) as error:
        language = lang()
        problem = text(language, "error.invalid", field=error.param) if isinstance(error, ValidationFailed) else error.message
        members = deps().users().list(session.user)
        return respond(error.status, render.users_page(frame("users", session), members, error=problem))
    return redirect(f"{root()}/users?done=invited")


@router.post("/dashboard/users/<user_id>/remove")
def remove(user_id: str) -> Response[str]:
    session, _ = act()
    try:
        deps().users().remove(session.user, user_id)
    except InvalidState as error:
        return respond(409, render.users_page(frame("users", session), deps().users().list(session.user), error=error.message))
    return redirect(f"{root()}/users?done=removed")


@router.post("/dashboard/users/<user_id>/role")
def change_role(user_id: str) -> Response[str]:
    """An owner makes a user an owner or a viewer (the last owner stays one: 409)."""
    session, fields = act()
    try:
        deps().users().change_role(session.user, user_id, fields.get("role", "")[:20])  # another merchant's: 404
    except (ValidationFailed, InvalidState) as error:
        problem = text(lang(), "error.invalid", field=error.param) if isinstance(error, ValidationFailed) else error.message
        members = deps().users().list(session.user)
        return respond(error.status, render.users_page(frame("users", session), members, error=problem))
    logger.info(
        "dashboard action",
        extra={
            "merchant_id": session.user.merchant_id,
            "user_id": session.user.user_id,
            "action": "role_changed",
            "member": user_id,
        },
    )
    return redirect(f"{root()}/users?done=role_changed")


# ----------------------------------------------------------------------------- what no route answers


def on_sign_in_needed(_: Exception) -> Response[str]:
    if request().http_method in ("GET", "HEAD"):
        return redirect(f"{root()}/sign-in", [sessions.clear_cookie(sessions.SESSION_COOKIE, root())])
    return message(401, text(lang(), "sign_in.expired"))


def on_csrf(_: Exception) -> Response[str]:
    metrics.add_metric(name="DashboardCsrfRefused", unit=MetricUnit.Count, value=1)
    return message(403, text(lang(), "error.csrf"))


def on_too_large(_: Exception) -> Response[str]:
    language = lang()
    return message(413, text(language, "error.too_large"), text(language, "error.too_large_text"), _session_or_none())


def on_forbidden(_: Exception) -> Response[str]:
    return message(403, text(lang(), "error.forbidden"), session=_session_or_none())


def on_not_found(_: Any) -> Response[str]:
    language = lang()
    return message(404, text(language, "error.not_found"), text(language, "error.not_found_text"), _session_or_none())


def on_bug(error: Exception) -> Response[str]:
    logger.exception("dashboard error")
    return message(500, text("en", "error.bug"))


def _session_or_none() -> Session | None:
    try:
        return signed_in()
    except SignInNeeded:
        return None


def install(app: APIGatewayRestResolver) -> None:
    app.not_found(on_not_found)
    app.exception_handler(SignInNeeded)(on_sign_in_needed)
    app.exception_handler(CsrfRefused)(on_csrf)
    app.exception_handler(FormTooLarge)(on_too_large)
    app.exception_handler(Forbidden)(on_forbidden)
    app.exception_handler(NotFound)(on_not_found)
    app.exception_handler(Exception)(on_bug)


# ----------------------------------------------------------------------------- the pages' actions
MAX_QUERY = 254  # a reference or an e-mail address


class FormRefused(Exception):
    """What a form got wrong, said in the page's language."""


def query(name: str, limit: int = MAX_QUERY) -> str:
    """A query-string value, trimmed and bounded ("" when absent)."""
    return (request().get_query_string_value(name) or "").strip()[:limit]


def done(session: Session, path: str, what: str, **about: str) -> Response[str]:
    """An owner's action done: said in the log (who, which merchant, what, on what), then the page
    at `path` (under the dashboard) with `?done=<what>`, where `notice` says it."""
    user = session.user
    logger.info("dashboard action", extra={"merchant_id": user.merchant_id, "user_id": user.user_id, "action": what, **about})
    return redirect(f"{root()}/{path}?done={what}")


def notice(prefix: str, known: tuple[str, ...]) -> str:
    """The line saying which of `known` actions was just done (`?done=`), in the page's language."""
    what = query("done", 20)
    return text(lang(), f"{prefix}.{what}_notice") if what in known else ""


def pager(
    here: str, result_page: Page[Any] | None, cursor: str, *, param: str = "cursor", anchor: str = "", **filters: str | None
) -> dict[str, str]:
    """A paged table's two links, as `next_href` and `first_href` (pass them to the template with
    `**`): the older rows while the use case's page has more, and the newest rows once this page
    came from a cursor; both keep the filters that have a value. `result_page` None: nothing was
    read (a cursor refused), so no older link. `param`: the query parameter carrying the cursor (a
    page with two tables gives each its own); `anchor` (e.g. "#timeline"): ends both links."""
    keep = {name: value for name, value in filters.items() if value}
    older = result_page.next_cursor if result_page is not None and result_page.has_more else None
    newest = f"{here}?{urlencode(keep)}" if keep else here
    return {
        "next_href": f"{here}?{urlencode({**keep, param: older})}{anchor}" if older else "",
        "first_href": f"{newest}{anchor}" if cursor else "",
    }
