"""The dashboard's security headers: a strict Content-Security-Policy (its own origin only, no
inline script or style: the stylesheet is served from /dashboard/static), no framing, sniffing,
caching or leaking of URLs to other sites."""

from __future__ import annotations

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(cache: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "private, max-age=300" if cache else "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
