"""The API's error contract (`{"error": {"type", "message", "param"}}` for every failure) and the
exception handlers that map each kind of failure onto it (`install`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from ..domain.errors import BillingError, ConcurrentModification
from ..observability import logger, metrics
from ..service.ports import GatewayUnavailable


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


class Unauthenticated(Exception):
    """A request without the authorizer's merchant id."""


def on_validation_error(error: RequestValidationError) -> Response[Any]:
    return validation_error_response(list(error.errors()))


def on_billing_error(error: BillingError) -> Response[Any]:
    return billing_error_response(error)


def on_unauthenticated(_: Exception) -> Response[Any]:
    return error_response(401, "authentication_error", "Missing or invalid API key.")


def on_gateway_unavailable(_: Exception) -> Response[Any]:
    """The payment provider could not answer a check the request needs (not a bug, not bad input)."""
    metrics.add_metric(name="GatewayUnavailableAnswers", unit="Count", value=1)
    message = "The payment provider could not be reached; retry later (with the same Idempotency-Key)."
    return json_response(503, _error("gateway_unavailable", message), {"Retry-After": "30"})


def on_conflict(_: Exception) -> Response[Any]:
    """Writes on one object kept conflicting past the retries (other requests changing it at the
    same moment): nothing was changed by this one; it may simply be sent again."""
    metrics.add_metric(name="ApiConflictAnswers", unit="Count", value=1)
    message = "This object is being changed by other requests at this moment; nothing was changed, retry."
    return json_response(409, _error("invalid_state", message), {"Retry-After": "1"})


def _error(type_: str, message: str) -> dict[str, Any]:
    return {"error": {"type": type_, "message": message, "param": None}}


def on_bug(error: Exception) -> Response[Any]:
    logger.exception("unhandled error")
    metrics.add_metric(name="ApiInternalErrors", unit="Count", value=1)
    return error_response(500, "internal_error", "Internal error; it is safe to retry with the same Idempotency-Key.")


def install(app: APIGatewayRestResolver) -> None:
    """Every failure a route can raise, answered with the contract's error object."""
    app.exception_handler(RequestValidationError)(on_validation_error)
    app.exception_handler(BillingError)(on_billing_error)
    app.exception_handler(Unauthenticated)(on_unauthenticated)
    app.exception_handler(GatewayUnavailable)(on_gateway_unavailable)
    app.exception_handler(ConcurrentModification)(on_conflict)
    app.not_found(_no_route_handler(app))
    app.exception_handler(Exception)(on_bug)


def _no_route_handler(app: APIGatewayRestResolver) -> Callable[[NotFoundError], Response[Any]]:
    """404 for a path no route has; 405 with `Allow` for a route that exists with other methods."""

    @cache
    def routes() -> list[tuple[re.Pattern[str], frozenset[str]]]:
        paths = app.get_openapi_schema().paths or {}
        table = []
        for template, item in paths.items():
            methods = frozenset(m.upper() for m in ("get", "post", "put", "patch", "delete") if getattr(item, m, None))
            table.append((re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$"), methods))
        return table

    def on_no_route(_: NotFoundError) -> Response[Any]:
        path = app.current_event.path
        allowed = sorted({m for pattern, methods in routes() if pattern.match(path) for m in methods})
        if allowed:
            response = error_response(405, "invalid_request", f"This route does not take {app.current_event.http_method}.")
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return error_response(404, "not_found", "No such route.")

    return on_no_route
