"""The customer page's security headers: a strict Content-Security-Policy (no script at all
for the simulated gateway; exactly what Stripe.js needs with Stripe) and no framing, sniffing,
caching or leaking of the link (a credential) to other sites."""

from __future__ import annotations

STRIPE_JS = "https://js.stripe.com/v3/"


def content_security_policy(nonce: str, stripe: bool) -> str:
    policy = f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    if stripe:
        policy += (
            f"; script-src 'nonce-{nonce}' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; "
            "connect-src https://api.stripe.com"
        )
    return policy


def security_headers(nonce: str, stripe: bool = False) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(nonce, stripe),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",  # same-origin POSTs keep their Origin; other sites never see the link
        "Cache-Control": "no-store",
    }
