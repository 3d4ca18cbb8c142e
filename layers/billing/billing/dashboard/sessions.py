"""The dashboard's cookies and CSRF tokens.

- The session cookie holds the pool's ID token; every request verifies it again (signature,
  issuer, audience, token_use, expiry: `service/dashboard.DashboardSessions`). HttpOnly, Secure,
  SameSite=Lax (a link to the dashboard from an e-mail keeps the session; no cross-site POST
  carries it), Path=/dashboard, and it lasts as long as the token.
- Every state-changing form carries a synchronizer token: an HMAC (the deployment's signing key,
  its own purpose) of the session's token digest, so it is valid for this session only.
- Before a session (the sign-in form), a signed double-submit token: a random value in a
  cookie and its HMAC in the form.
- A flash: why the browser was sent back to the sign-in page (through managed login's /logout,
  which carries nothing back), for the sign-in page to say once. A fixed code (never text), the
  second it was set and their HMAC: nothing else can be made to show, and it is good for
  FLASH_SECONDS only (the cookie's Max-Age too).
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
FLASH_COOKIE = "dashboard_flash"
FLASH_SECONDS = 300  # the way through managed login's /logout and back
FLASH_SKEW = 60  # a cookie set by another instance whose clock is a little ahead
FLASHES = ("signed_out_or_removed",)  # what a flash can say: the sign-in page's text `sign_in.<code>`


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


def _flash_mac(key: bytes, payload: str) -> str:
    return signature(key, Purpose.DASHBOARD_CSRF, b"flash|" + payload.encode()).hex()[:32]


def flash_value(key: bytes, code: str, now: int) -> str:
    """The flash cookie's value for one of FLASHES, set at `now` (epoch seconds)."""
    if code not in FLASHES:
        raise ValueError(f"no such flash: {code}")
    payload = f"{code}.{now}"
    return f"{payload}.{_flash_mac(key, payload)}"


def flash_code(key: bytes, value: str | None, now: int) -> str | None:
    """The code a flash cookie carries, if this deployment signed it less than FLASH_SECONDS ago."""
    parts = (value or "").split(".")
    if len(parts) != 3:
        return None
    code, at, mac = parts
    if code not in FLASHES or not at.isdigit() or len(at) > 12:
        return None
    if not constant_time_equal(mac, _flash_mac(key, f"{code}.{at}")):
        return None
    return code if -FLASH_SKEW <= now - int(at) <= FLASH_SECONDS else None
