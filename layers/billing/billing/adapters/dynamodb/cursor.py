"""Opaque list cursors: base64url JSON bound to the list and filters they came from."""

from __future__ import annotations

import base64
import binascii
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
    """The position after which the next page starts; 400 invalid_request for anything else."""
    try:
        if len(cursor) > 1000:
            raise ValueError("too long")
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = data["a"]
        ok = data.get("v") == 1 and isinstance(position, str) and 0 < len(position) <= _MAX_POSITION
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        ok = False
    if not ok:
        raise InvalidRequest("The cursor is not valid; pass next_cursor from the previous page unchanged.", "cursor")
    if data["l"] != bound_to:
        raise InvalidRequest("The cursor belongs to a different list or filter.", "cursor")
    return str(position)
