"""The environment every offline entry point runs in (tests, `make local`, `make invoke`, the
benchmark): fake credentials and a region, so nothing can reach real AWS, and the Powertools
settings the template gives the functions. Call before boto3 is imported."""

from __future__ import annotations

import os

FAKE_AWS = {
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "recurring-payments",
    "POWERTOOLS_METRICS_NAMESPACE": "RecurringPayments",
}


def use_fake_aws(defaults_only: bool = False, **settings: str) -> None:
    """Fake AWS (always: a developer's real credentials never reach an offline run) plus
    `settings` (e.g. POWERTOOLS_LOG_LEVEL); `defaults_only` keeps the settings the caller's
    environment already has (the local runtime lets a developer choose the log level)."""
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_PROFILE", None)
    for key, value in settings.items():
        if defaults_only:
            os.environ.setdefault(key, value)
        else:
            os.environ[key] = value
