"""What a request-path function's cold start builds: pydantic models are built on first use, not
at import (a model instance at module level, or as a field's validated default, builds its model
and those it refers to at every cold start). benchmarks/cold_start.py measures the time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Built at import on purpose: the settings are validated at cold start (a missing variable fails
# there); ListOut is a generic model, which pydantic completes when it is parametrised.
BUILT_AT_IMPORT = {"billing.settings.Settings", "billing.api.responses.ListOut"}
PROBE = """
import json, app
from pydantic import BaseModel
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
print(json.dumps(sorted({
    f"{c.__module__}.{c.__qualname__}" for c in subclasses(BaseModel)
    if c.__dict__.get("__pydantic_complete__") and c.__module__.startswith("billing.")
})))
"""


@pytest.mark.parametrize("function", ["api", "authorizer", "customer_page", "dashboard"])
def test_importing_a_request_path_handler_builds_no_model_but_the_settings(function: str) -> None:
    # Given a request-path function's handler module, loaded as Lambda loads it (fresh interpreter)
    code = ROOT / "functions" / function
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
        "PYTHONPATH": f"{code}{os.pathsep}{ROOT / 'layers' / 'billing'}",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "TABLE_NAME": "billing",
    }
    # When it is imported
    child = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    # Then no billing model was built but those that must be
    built = set(json.loads(child.stdout))
    assert built <= BUILT_AT_IMPORT, f"built at import: {sorted(built - BUILT_AT_IMPORT)}"
