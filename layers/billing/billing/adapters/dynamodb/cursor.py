"""Opaque list cursors: base64url JSON bound to the list and filters they came from."""

from __future__ import annotations

import base64
import hashlib
import json

from ...domain.errors import InvalidRequest

_MAX_POSITION = 300


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def encode(position: str, bound_to: str) -> str:
    raw = json.dumps({"v": 1, "l": bound_to, "a": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str, bound_to: str) -> str:
    """The position after which the next page starts; 400 invalid_request for anything else
    (whatever the text: this function raises nothing but InvalidRequest)."""
    position: object = None
    belongs = False
    try:
        if len(cursor) <= 1000:
            data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if isinstance(data, dict) and data.get("v") == 1:
                position, belongs = data.get("a"), data.get("l") == bound_to
    except (ValueError, TypeError, RecursionError, UnicodeDecodeError):  # binascii and JSON errors are ValueErrors
        position = None
    if not isinstance(position, str) or not 0 < len(position) <= _MAX_POSITION:
        raise InvalidRequest("The cursor is not valid; pass next_cursor from the previous page unchanged.", "cursor")
    if not belongs:
        raise InvalidRequest("The cursor belongs to a different list or filter.", "cursor")
    return position
