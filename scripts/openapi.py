"""Print the merchant API's OpenAPI 3 document, generated from the handler's routes and models.

make openapi   # writes docs/openapi.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "billing"), str(ROOT)]


def document() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, ServerVariable

    env = {
        "TABLE_NAME": "unused",
        "IDEMPOTENCY_TABLE_NAME": "unused",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
    }
    with mock.patch.dict(os.environ, env):
        from devtools.lambda_runtime import load_function

        api = load_function("api")
    schema = api.app.get_openapi_json_schema(
        title="Recurring payments API",
        version="1.0.0",
        description=(
            "Merchant API for plans, mandates and events. Authenticate with `Authorization: Bearer <key>`. "
            'Every POST accepts `Idempotency-Key`. Errors are `{"error": {"type", "message", "param"}}`. '
            "Contract: shared/spec/API.md."
        ),
        servers=[
            Server(
                url="https://{api_id}.execute-api.{region}.amazonaws.com/live",
                variables={"api_id": ServerVariable(default="example"), "region": ServerVariable(default="eu-west-1")},
            )
        ],
        security_schemes={"merchantKey": HTTPBearer(description="The merchant's secret API key")},
        security=[{"merchantKey": []}],
    )
    return contract_errors(json.loads(schema))


def contract_errors(doc: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents its own 422 body; this API answers every error with ErrorOut
    (and query problems with 400, so operations without a body have no 422 at all)."""
    error = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    for operations in doc["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                if "requestBody" in operation:
                    responses["422"] = error
                else:
                    del responses["422"]
            responses["500"] = {**error, "description": "Internal error (a bug; never for bad input)"}
            if "requestBody" in operation:
                responses["413"] = {**error, "description": "Body larger than 64 KiB"}
                responses["415"] = {**error, "description": "Body not sent as application/json"}
            responses["400"] = {
                **error,
                "description": "Malformed request: body not JSON or not an object, JSON nested deeper than 32 levels, "
                "an integer outside 64 bits, a malformed query parameter or header",
            }
    # Drop the framework's error schemas now that nothing refers to them.
    schemas = doc["components"]["schemas"]
    while unused := [n for n in schemas if f'"#/components/schemas/{n}"' not in json.dumps(doc["paths"]) + json.dumps(schemas)]:
        for name in unused:
            del schemas[name]
    return doc


if __name__ == "__main__":
    print(json.dumps(document(), indent=2, sort_keys=True))
