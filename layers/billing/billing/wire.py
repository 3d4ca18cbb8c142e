"""Wire formats shared by every boundary (API requests and responses, schedule ticks, messages)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer


def _parse_time(value: Any) -> Any:
    """RFC 3339 with a timezone (Z or offset); naive or other shapes are refused."""
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})", value):
            raise ValueError("must be an RFC 3339 time with a timezone, like 2026-12-01T09:00:00Z")
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    raise ValueError("must be an RFC 3339 time string")


def format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


TimeIn = Annotated[datetime, BeforeValidator(_parse_time)]
TimeOut = Annotated[datetime, PlainSerializer(format_time, return_type=str)]
