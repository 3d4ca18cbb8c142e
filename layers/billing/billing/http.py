"""What the two HTTP front ends (the merchant API and the customer page) share about requests."""

from __future__ import annotations

from typing import Protocol


class RequestContext(Protocol):
    @property
    def domain_name(self) -> str | None: ...

    @property
    def stage(self) -> str: ...


def public_base_url(configured: str, context: RequestContext) -> str:
    """The deployment's public URL if it names one, else the URL an API Gateway request came in on."""
    if configured:
        return configured.rstrip("/")
    return f"https://{context.domain_name}/{context.stage}"
