"""HTTP plumbing shared by the API handlers: the contract's error bodies and JSON responses."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from .domain.errors import BillingError

MAX_BODY_BYTES = 64 * 1024


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def error_response(status: int, type_: str, message: str, param: str | None = None) -> Response[Any]:
    return json_response(status, {"error": {"type": type_, "message": message, "param": param}})


def billing_error_response(error: BillingError) -> Response[Any]:
    return error_response(error.status, error.type, error.message, error.param)


_NOT_AN_OBJECT = {"missing", "model_type", "model_attributes_type", "dict_type", "none_required"}

_QUERY_MESSAGES = {
    "int_parsing": "must be an integer",
    "greater_than_equal": "is too small",
    "less_than_equal": "is too large",
    "literal_error": "is not one of the allowed values",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
}


def validation_error_response(errors: list[dict[str, Any]]) -> Response[Any]:
    """Map Powertools/pydantic request errors onto the contract.

    Body not JSON / not an object / query or header malformed -> 400 invalid_request;
    a body field missing, of the wrong type or out of range -> 422 validation_error with the
    field path in `param`. Never echoes input values (they may hold card numbers).
    """
    error = errors[0]
    loc = [str(part) for part in error.get("loc", ())]
    where, path = (loc[0] if loc else "body"), loc[1:]
    kind = error.get("type", "")
    if where == "body":
        if kind == "json_invalid":
            return error_response(400, "invalid_request", "The body is not valid JSON.")
        message = "Unknown field." if kind == "extra_forbidden" else _clean(error.get("msg", "Invalid value."))
        if not path:
            if kind in _NOT_AN_OBJECT:  # missing, null, a list, a string...
                return error_response(400, "invalid_request", "The body must be a JSON object.")
            return error_response(422, "validation_error", message)  # a rule across fields
        param = ".".join(path)
        return error_response(422, "validation_error", f"{param}: {message}", param)
    name = path[0] if path else where
    if where == "header":
        name = "-".join(part.capitalize() for part in name.split("-"))  # idempotency-key -> Idempotency-Key
    detail = _QUERY_MESSAGES.get(kind, _clean(error.get("msg", "is malformed")))
    noun = "header" if where == "header" else "query parameter"
    return error_response(400, "invalid_request", f"The {noun} '{name}' {detail.lower().rstrip('.')}.", name)


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ")
