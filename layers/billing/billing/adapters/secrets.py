"""Secrets of the deployment (the link-signing key, the Stripe key), read through Powertools
Parameters and cached five minutes: from SSM when the name is a path ("/..."), else from
Secrets Manager. A rotated secret is in use within the cache's lifetime. Never logged."""

from __future__ import annotations

from collections.abc import Callable

CACHE_SECONDS = 300


def secret_reader(name: str) -> Callable[[], str]:
    def read() -> str:
        from aws_lambda_powertools.utilities import parameters

        if name.startswith("/"):
            return str(parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS))
        return str(parameters.get_secret(name, max_age=CACHE_SECONDS))

    return read
