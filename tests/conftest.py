"""Shared fixtures. Nothing here may reach real AWS: fake credentials, moto only."""

from __future__ import annotations

import os

from devtools.fake_aws import use_fake_aws

use_fake_aws(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_DEV="false")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
