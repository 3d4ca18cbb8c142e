"""The dashboard's cookies and CSRF tokens.

- The session cookie holds the pool's ID token; every request verifies it again (signature,
  issuer, audience, token_use, expiry: `service/dashboard.DashboardSessions`). HttpOnly, Secure,
  SameSite=Lax (a link to the dashboard from an e-mail keeps the session; no cross-site POST
  carries it), Path=/dashboard, and it lasts as long as the token.
- Every state-changing form carries a synchronizer token: an HMAC (the deployment's signing key,
  its own purpose) of the session's token digest, so it is valid for this session only.
- Before a session (the sign-in form), a signed double-submit token: a random value in a
  cookie and its HMAC in the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from ..service.links import Purpose, signature

SESSION_COOKIE = "dashboard_session"
PRE_SESSION_COOKIE = "dashboard_pre"
LANG_COOKIE = "dashboard_lang"


def cookies(header: str | None) -> dict[str, str]:
    """A request's cookies (malformed ones ignored)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header or "")
    except Exception:  # a browser's junk cookie must not take the page down
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def set_cookie(name: str, value: str, path: str, max_age: int) -> Cookie:
    """Every cookie of the dashboard: HttpOnly, Secure, SameSite=Lax, the dashboard's path only."""
    return Cookie(name, value, path=path, secure=True, http_only=True, max_age=max(0, max_age), same_site=SameSite.LAX_MODE)


def clear_cookie(name: str, path: str) -> Cookie:
    return set_cookie(name, "", path, 0)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(key: bytes, token: str) -> str:
    """The session's token for its forms."""
    return signature(key, Purpose.DASHBOARD_CSRF, b"session|" + session_id(token).encode()).hex()[:48]


def csrf_valid(key: bytes, token: str, submitted: str) -> bool:
    return hmac.compare_digest(submitted.encode("utf-8", "replace"), csrf_token(key, token).encode())


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def pre_session_token(key: bytes, value: str) -> str:
    """The sign-in form's token: signed double-submit of the pre-session cookie's value."""
    return signature(key, Purpose.DASHBOARD_CSRF, b"pre|" + value.encode()).hex()[:48]


def pre_session_valid(key: bytes, value: str | None, submitted: str) -> bool:
    if not value:
        return False
    return hmac.compare_digest(submitted.encode("utf-8", "replace"), pre_session_token(key, value).encode())


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))
