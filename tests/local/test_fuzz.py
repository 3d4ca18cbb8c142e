"""Schemathesis against `make local`, over docs/openapi.json: every phase (examples, coverage,
fuzzing, stateful), a bounded example count so CI stays within minutes, and zero failures of
`not_a_server_error`, `status_code_conformance` and `response_schema_conformance`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT
from tests.local.conftest import merchant

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))  # per operation and phase; raise it locally to dig deeper


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_breach_of_the_document(local: str) -> None:
    # Given a merchant's key on the running system
    key = merchant(local, "Fuzzer").key
    # When schemathesis runs every phase over every operation of the published document
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            str(ROOT / "docs" / "openapi.json"),
            "--url",
            local,
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(EXAMPLES),
            "--generation-deterministic",
            "--warnings",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    # Then it finds nothing
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout
