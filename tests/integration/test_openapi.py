"""docs/openapi.json is generated from the code, valid, current, and what the API really answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_schema_validator import OAS31Validator, validate
from openapi_spec_validator import validate as validate_spec

from scripts.openapi import document
from tests.support.system import Client, System, make_mandate, make_plan
from tests.support.values import GOLD

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(DOC_PATH.read_text())


def test_checked_in_document_is_current(doc: dict) -> None:
    # When the document is generated from the code, Then it is the one checked in
    assert document() == doc, "docs/openapi.json is stale: run `make openapi`"


def test_document_is_valid_openapi(doc: dict) -> None:
    # Then the document is valid OpenAPI
    validate_spec(doc)


def test_every_post_documents_idempotency_key_and_every_operation_the_error_body(doc: dict) -> None:
    # Then every POST documents Idempotency-Key, and every error status the contract's error body
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method == "post":
                assert any(p["name"].lower() == "idempotency-key" for p in operation.get("parameters", [])), path
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def _operation(doc: dict, method: str, path: str) -> dict:
    for template, operations in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in operations:
            return operations[method.lower()]
    raise AssertionError(f"undocumented route {method} {path}")


def test_real_responses_match_the_document_errors_included(doc: dict, system: System) -> None:
    # Given every real answer recorded
    seen: list[tuple[str, str, int, str]] = []
    original = system.gateway.request

    def recording(method: str, path_and_query: str, *args, **kwargs):
        response = original(method, path_and_query, *args, **kwargs)
        seen.append((method, path_and_query.split("?")[0], response.status, response.body))
        return response

    system.gateway.request = recording  # type: ignore[method-assign]
    # When a merchant goes through every route, errors included
    call: Client = system.client(system.a)
    plan = make_plan(call)
    call("GET", "/v1/plans")
    call("PATCH", f"/v1/plans/{plan['id']}", {"name": "New"})
    call("PATCH", f"/v1/plans/{plan['id']}", {"amount": 5})
    call("POST", "/v1/plans", raw="[]")
    mandate = make_mandate(call, plan["id"])
    pending = make_mandate(call, plan["id"], reference="p", active=False)
    call("GET", f"/v1/mandates/{pending['id']}")
    call("GET", "/v1/mandates?status=active&limit=1")
    call("GET", f"/v1/mandates/{mandate['id']}/schedule?count=3")
    call("GET", "/v1/mandates?limit=0")
    for action in ("pause", "resume", "resume"):
        call("POST", f"/v1/mandates/{mandate['id']}/{action}")
    call("POST", f"/v1/mandates/{mandate['id']}/payment_method", {"gateway": "simulated", "token": "pm_sim_error"})
    call("POST", f"/v1/mandates/{mandate['id']}/revoke")
    call("POST", f"/v1/mandates/{pending['id']}/cancel")
    call("GET", "/v1/mandates/mdt_nope")
    event = call("GET", "/v1/events?type=mandate.revoked").json()["data"][0]
    call("GET", f"/v1/events/{event['id']}")
    call("POST", f"/v1/plans/{plan['id']}/archive", headers={"Idempotency-Key": "a"})
    call("POST", "/v1/plans", GOLD, headers={"Idempotency-Key": "a"})
    system.client(key="rk_live_wrong")("GET", "/v1/plans")

    # Then every answer's status is documented and its body matches the documented schema
    statuses = set()
    for method, path, status, body in seen:
        operation = _operation(doc, method, path)
        assert str(status) in operation["responses"], (method, path, status)
        schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        validate(json.loads(body), {**schema, "components": doc["components"]}, cls=OAS31Validator)
        statuses.add(status)
    assert statuses >= {200, 201, 400, 401, 404, 409, 422}
