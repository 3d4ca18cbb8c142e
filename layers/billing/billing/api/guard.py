"""What the API checks before its resolver parses anything, so that no input can reach a parser
that crashes: the body's size, its media type, and the limits of its JSON (nesting depth,
64-bit integers, no NaN or Infinity). Each refusal is a 4xx with the contract's error object.

A 405 (the route exists, not with this method) is answered by `errors.on_no_route`, which
knows the routes."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32  # levels of objects and arrays, the body itself being the first
INT64 = range(-(2**63), 2**63)


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def proxy_error(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda proxy answer carrying the contract's invalid_request error."""
    body = {"error": {"type": "invalid_request", "message": message, "param": None}}
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})}, "body": json.dumps(body)}


def refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request the API must not parse, or None to let the resolver handle it."""
    try:
        body = _body(event)
        if body:
            _media_type(event)
            _json_limits(body)
    except _Refused as refused:
        return proxy_error(refused.status, refused.message)
    return None


def _body(event: dict[str, Any]) -> bytes:
    """The body's bytes, at most 64 KiB once decoded (API Gateway sends every body base64-encoded:
    the API's binary media types are */*, so the encoded form may be a third longer)."""
    raw = event.get("body") or ""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    encoded = bool(event.get("isBase64Encoded"))
    if len(data) > (-(-MAX_BODY_BYTES // 3) * 4 if encoded else MAX_BODY_BYTES):  # refused before decoding
        raise _Refused(413, "Request body too large (max 64 KiB).")
    if encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _Refused(400, "The body is not valid base64.") from None
    if len(data) > MAX_BODY_BYTES:
        raise _Refused(413, "Request body too large (max 64 KiB).")
    return data


def _media_type(event: dict[str, Any]) -> None:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise _Refused(415, "The body must be sent as Content-Type: application/json.")


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > 19 or int(literal) not in INT64:
        raise _Refused(400, "An integer in the body is outside the 64-bit range.")
    return int(literal)


def _no_constant(name: str) -> Any:
    raise _Refused(400, f"The body is not valid JSON ({name} is not a JSON number).")


def _json_limits(body: bytes) -> None:
    try:
        value = json.loads(body, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        raise _Refused(400, f"The body's JSON is nested deeper than {MAX_DEPTH} levels.") from None
    except ValueError:  # not JSON, not UTF-8: the resolver answers it in the contract's words
        return
    if not isinstance(value, dict):  # every body of this API is an object (null is not "no body")
        raise _Refused(400, "The body must be a JSON object.")
    if _depth(value) > MAX_DEPTH:
        raise _Refused(400, f"The body's JSON is nested deeper than {MAX_DEPTH} levels.")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_DEPTH:
                break
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
