"""Shared fixtures. Nothing here may reach real AWS: fake credentials, moto only."""

from __future__ import annotations

import os

os.environ.update(
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_SECURITY_TOKEN="testing",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="RecurringPayments",
    POWERTOOLS_SERVICE_NAME="recurring-payments",
    POWERTOOLS_LOG_LEVEL="WARNING",
    POWERTOOLS_DEV="false",
)
os.environ.pop("AWS_PROFILE", None)

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
