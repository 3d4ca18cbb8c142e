"""`make local` against Stripe (test mode, or any server speaking Stripe's API such as
devtools/stripe_standin.py): the developer's environment variables become what the template
gives the functions on AWS.

    STRIPE_SECRET_KEY       sk_test_… -> an emulated Secrets Manager secret that STRIPE_SECRET_NAME names
                            (the template's StripeSecretName): Stripe payment methods are accepted and
                            charged, refunds and lookups go to Stripe.
    STRIPE_API_BASE         optional (default https://api.stripe.com): read by the functions as is.
    STRIPE_PUBLISHABLE_KEY  optional: the customer's page collects cards / IBANs with Stripe.js.
    STRIPE_WEBHOOK_SECRET   optional whsec_… (`stripe listen` prints it): LocalSystem puts it in the
                            template's StripeWebhookSecret, which POST /gateway/stripe/events verifies with.

Without STRIPE_SECRET_KEY nothing changes: only the simulated gateway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

STRIPE_SECRET = "StripeSecretKey"


def stripe_env(session: Any, environ: Mapping[str, str], prefix: str = "rp") -> dict[str, str]:
    """The functions' environment for Stripe, with the secret key put in the emulated Secrets
    Manager (`session`: the moto-backed boto3 session). Empty without STRIPE_SECRET_KEY."""
    key = environ.get("STRIPE_SECRET_KEY", "").strip()
    if not key:
        return {}
    secrets = session.client("secretsmanager")
    out = {"STRIPE_SECRET_NAME": secrets.create_secret(Name=f"{prefix}-{STRIPE_SECRET}", SecretString=key)["ARN"]}
    for name in ("STRIPE_API_BASE", "STRIPE_PUBLISHABLE_KEY"):
        if environ.get(name, "").strip():
            out[name] = environ[name].strip()
    return out


def banner(env: Mapping[str, str], base_url: str) -> str | None:
    """One line saying where Stripe is and where its events go (None without Stripe)."""
    if "STRIPE_SECRET_NAME" not in env:
        return None
    api = env.get("STRIPE_API_BASE", "https://api.stripe.com")
    signing = (
        "verified with STRIPE_WEBHOOK_SECRET"
        if os.environ.get("STRIPE_WEBHOOK_SECRET")
        else "set STRIPE_WEBHOOK_SECRET to accept them"
    )
    return f"stripe: charging through {api}; its events to {base_url}/gateway/stripe/events ({signing})"
